package plots

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
)

// svgImage is one embedded raster of a figure's SVG.
type svgImage struct {
	x, y, w, h    float64 // placement, in points
	pxW, pxH      int     // size of the embedded PNG
	mediaTypeOkay bool
}

// svgDoc is what the structural tests look at in a figure: its size, its rasters (heatmap
// panels, colour bars), its texts and its number of paths.
type svgDoc struct {
	width, height float64 // points
	images        []svgImage
	texts         []string
	paths         int
	pathStyles    []string
}

// countStyle counts the paths whose style is exactly style.
func (d svgDoc) countStyle(style string) int {
	n := 0
	for _, st := range d.pathStyles {
		if st == style {
			n++
		}
	}
	return n
}

// countPaths counts the paths whose style contains every one of parts.
func (d svgDoc) countPaths(parts ...string) int {
	n := 0
	for _, st := range d.pathStyles {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(st+";", p)
		}
		if ok {
			n++
		}
	}
	return n
}

func (d svgDoc) hasText(s string) bool {
	for _, t := range d.texts {
		if t == s {
			return true
		}
	}
	return false
}

func (d svgDoc) textContaining(s string) string {
	for _, t := range d.texts {
		if strings.Contains(t, s) {
			return t
		}
	}
	return ""
}

func parsePt(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "pt"), 64)
	if err != nil {
		t.Fatalf("bad length %q: %v", s, err)
	}
	return f
}

// svgTokens decodes an SVG document completely (so that it must be well-formed XML), calling
// start for each element with its attributes by local name, and text and end for the rest.
func svgTokens(t *testing.T, data []byte, start func(name string, attr map[string]string), text func(string), end func(name string)) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			attr := map[string]string{}
			for _, a := range e.Attr {
				attr[a.Name.Local] = a.Value
			}
			start(e.Name.Local, attr)
		case xml.CharData:
			text(string(e))
		case xml.EndElement:
			end(e.Name.Local)
		}
	}
}

// parseSVG decodes a figure's SVG completely (so that it must be well-formed XML).
func parseSVG(t *testing.T, data []byte) svgDoc {
	t.Helper()
	var d svgDoc
	inText := false
	var cur strings.Builder
	svgTokens(t, data, func(name string, attr map[string]string) {
		switch name {
		case "svg":
			d.width, d.height = parsePt(t, attr["width"]), parsePt(t, attr["height"])
		case "image":
			img := svgImage{x: parsePt(t, attr["x"]), y: parsePt(t, attr["y"]), w: parsePt(t, attr["width"]), h: parsePt(t, attr["height"])}
			href := attr["href"]
			const prefix = "data:image/png;base64,"
			img.mediaTypeOkay = strings.HasPrefix(href, prefix)
			raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(href, prefix))
			if err != nil {
				t.Fatalf("embedded image is not base64: %v", err)
			}
			cfg, err := png.DecodeConfig(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("embedded image is not a PNG: %v", err)
			}
			img.pxW, img.pxH = cfg.Width, cfg.Height
			d.images = append(d.images, img)
		case "text":
			inText = true
			cur.Reset()
		case "path":
			d.paths++
			d.pathStyles = append(d.pathStyles, attr["style"])
		}
	}, func(text string) {
		if inText {
			cur.WriteString(text)
		}
	}, func(name string) {
		if name == "text" {
			inText = false
			d.texts = append(d.texts, cur.String())
		}
	})
	return d
}

// render draws f as SVG and parses it, failing the test on any error.
func render(t *testing.T, f Figure) svgDoc {
	t.Helper()
	svg, err := f.SVG()
	if err != nil {
		t.Fatalf("%T.SVG: %v", f, err)
	}
	d := parseSVG(t, svg)
	if d.width <= 0 || d.height <= 0 {
		t.Fatalf("SVG size %g×%g", d.width, d.height)
	}
	return d
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }
