package display

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"strings"
)

var (
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	jpegMagic = []byte{0xff, 0xd8, 0xff}
)

// HTMLBundle is the bundle for an HTML fragment, with a text/plain stand-in for front ends
// that cannot render HTML.
func HTMLBundle(html string) Bundle {
	return Bundle{MIMEHTML: html, MIMEText: "<HTML output>"}
}

// MarkdownBundle is the bundle for Markdown; JupyterLab renders $…$ and $$…$$ as LaTeX math
// inside it. The source itself is the text/plain form.
func MarkdownBundle(md string) Bundle {
	return Bundle{MIMEMarkdown: md, MIMEText: md}
}

// LaTeXBundle is the bundle for a LaTeX math block such as "$$E = mc^2$$".
func LaTeXBundle(latex string) Bundle {
	return Bundle{MIMELaTeX: latex, MIMEText: latex}
}

// TextBundle is the bundle for plain text.
func TextBundle(s string) Bundle {
	return Bundle{MIMEText: s}
}

// SVGBundle checks that svg is a well-formed XML document whose root element is <svg> and
// returns its bundle. Jupyter takes SVG as text, not base64.
func SVGBundle(svg string) (Bundle, error) {
	if err := checkSVG(svg); err != nil {
		return nil, fmt.Errorf("svg bundle: %w", err)
	}
	return Bundle{MIMESVG: svg, MIMEText: "<SVG image>"}, nil
}

func checkSVG(svg string) error {
	dec := xml.NewDecoder(strings.NewReader(svg))
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("not well-formed XML: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		return fmt.Errorf("root element is %q, want svg", root)
	}
	return nil
}

// PNGBundle checks the PNG signature and size of b and returns its bundle (base64 data) and
// metadata giving its size in pixels.
func PNGBundle(b []byte) (Bundle, map[string]any, error) {
	if !bytes.HasPrefix(b, pngMagic) {
		return nil, nil, errors.New("png bundle: data does not start with the PNG signature")
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("png bundle: %w", err)
	}
	return Bundle{
			MIMEPNG:  base64.StdEncoding.EncodeToString(b),
			MIMEText: fmt.Sprintf("<PNG image %d×%d>", cfg.Width, cfg.Height),
		},
		map[string]any{MIMEPNG: map[string]any{"width": cfg.Width, "height": cfg.Height}},
		nil
}

// JPEGBundle checks the JPEG signature and header of b and returns its bundle (base64 data)
// and metadata giving its size in pixels.
func JPEGBundle(b []byte) (Bundle, map[string]any, error) {
	if !bytes.HasPrefix(b, jpegMagic) {
		return nil, nil, errors.New("jpeg bundle: data does not start with the JPEG signature")
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("jpeg bundle: %w", err)
	}
	return Bundle{
			MIMEJPEG: base64.StdEncoding.EncodeToString(b),
			MIMEText: fmt.Sprintf("<JPEG image %d×%d>", cfg.Width, cfg.Height),
		},
		map[string]any{MIMEJPEG: map[string]any{"width": cfg.Width, "height": cfg.Height}},
		nil
}

// JSONBundle encodes v with encoding/json and returns a bundle holding the decoded generic
// value (maps, slices, float64s...), so that whatever re-encodes the message produces the same
// JSON. JupyterLab shows it as a collapsible tree; text/plain holds the indented JSON.
func JSONBundle(v any) (Bundle, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("json bundle: %w", err)
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return nil, fmt.Errorf("json bundle: decode: %w", err)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("json bundle: indent: %w", err)
	}
	return Bundle{MIMEJSON: generic, MIMEText: indented.String()}, nil
}

// SmallImageSide is the size below which [ImageBundle] enlarges an image: a 28×28 MNIST digit
// shown at 28 CSS pixels is unreadable, and letting the browser scale it blurs it.
const SmallImageSide = 128

// ImageBundle encodes img as PNG. Images whose larger side is under [SmallImageSide] pixels are
// first enlarged by the smallest integer factor that reaches it, repeating pixels (nearest
// neighbour) so edges stay sharp; text/plain gives the original size.
func ImageBundle(img image.Image) (Bundle, map[string]any, error) {
	if img == nil {
		return nil, nil, errors.New("image bundle: nil image")
	}
	b := img.Bounds()
	if b.Empty() {
		return nil, nil, fmt.Errorf("image bundle: empty image %v", b)
	}
	shown := img
	if f := upscaleFactor(b.Dx(), b.Dy()); f > 1 {
		shown = Enlarge(img, f)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, shown); err != nil {
		return nil, nil, fmt.Errorf("image bundle: encode png: %w", err)
	}
	bundle, md, err := PNGBundle(buf.Bytes())
	if err != nil {
		return nil, nil, fmt.Errorf("image bundle: %w", err)
	}
	bundle[MIMEText] = fmt.Sprintf("<%T %d×%d>", img, b.Dx(), b.Dy())
	return bundle, md, nil
}

func upscaleFactor(w, h int) int {
	side := max(w, h)
	if side >= SmallImageSide || side <= 0 {
		return 1
	}
	return (SmallImageSide + side - 1) / side
}

// Enlarge returns img scaled up by an integer factor, each pixel repeated factor×factor
// times, so that small images stay crisp when shown large.
func Enlarge(img image.Image, factor int) image.Image {
	b := img.Bounds()
	if factor <= 1 {
		return img
	}
	src := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(src, src.Bounds(), img, b.Min, draw.Src)
	dst := image.NewNRGBA(image.Rect(0, 0, b.Dx()*factor, b.Dy()*factor))
	for y := range dst.Rect.Dy() {
		srow := src.Pix[(y/factor)*src.Stride:]
		drow := dst.Pix[y*dst.Stride:]
		for x := range dst.Rect.Dx() {
			copy(drow[4*x:4*x+4], srow[4*(x/factor):4*(x/factor)+4])
		}
	}
	return dst
}

// HTML shows an HTML fragment.
func HTML(html string) { report(Display(HTMLBundle(html), nil)) }

// Markdown shows Markdown; $…$ and $$…$$ are rendered as LaTeX math by JupyterLab.
func Markdown(md string) { report(Display(MarkdownBundle(md), nil)) }

// LaTeX shows a LaTeX math block, for example "$$\\frac{1}{1-p}$$".
func LaTeX(latex string) { report(Display(LaTeXBundle(latex), nil)) }

// Text shows plain text as a display (unlike fmt.Println it can be updated in place through a
// [Handle]).
func Text(s string) { report(Display(TextBundle(s), nil)) }

// SVG shows an SVG document given as text.
func SVG(svg string) { report(displayErr(SVGBundle(svg))) }

// PNG shows PNG-encoded bytes.
func PNG(b []byte) { report(displayErrMD(PNGBundle(b))) }

// JPEG shows JPEG-encoded bytes.
func JPEG(b []byte) { report(displayErrMD(JPEGBundle(b))) }

// JSON shows v as JSON (a collapsible tree in JupyterLab).
func JSON(v any) { report(displayErr(JSONBundle(v))) }

// Image shows an image as PNG (see [ImageBundle] for how small images are enlarged).
func Image(img image.Image) { report(displayErrMD(ImageBundle(img))) }

// Show shows any value in its richest form (see [BundleOf]). A nil value shows nothing.
func Show(v any) {
	b, md := BundleOf(v)
	if len(b) == 0 {
		return
	}
	report(Display(b, md))
}

func displayErr(b Bundle, err error) error {
	if err != nil {
		return fmt.Errorf("display: %w", err)
	}
	return Display(b, nil)
}

func displayErrMD(b Bundle, md map[string]any, err error) error {
	if err != nil {
		return fmt.Errorf("display: %w", err)
	}
	return Display(b, md)
}
