// Package plots draws the figures the lessons need with gonum/plot: feature-map grids,
// heatmaps for attention maps and window masks, images with mask and edge overlays, training
// curves (also live, updated in place), histograms, bar charts with error bars, and grids
// of several figures.
//
// Every figure is a plain struct whose zero fields take sensible defaults, so a cell can end
// with a literal such as plots.Heatmap{Data: attn, Title: "head 0"} and see it. Each figure
// implements display.Bundler (an SVG, which stays sharp at any zoom; see [AsPNG] for a PNG)
// and can be saved with Save. Data arguments accept *tensors.Tensor, nested Go slices of any
// numeric type ([][]float32, [][][]float64, ...), and for images image.Image.
//
// Figures are drawn when they are shown or saved, not when they are built, so invalid data is
// reported then: SVG, PNG and Save return the error, and MIMEBundle shows it as text.
package plots

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/gostudy/gostudy/pkg/display"
)

// DefaultWidth is the width of a figure in CSS pixels when its Width field is zero: about
// the width of a JupyterLab output area.
const DefaultWidth = 800

// PNGScale is how many device pixels a PNG has per CSS pixel: 2 keeps text sharp on HiDPI
// screens; the metadata tells the front end to show it at the CSS size.
const PNGScale = 2

// stderr is where live figures report failures; tests replace it.
var stderr = func() io.Writer { return os.Stderr }

// pt converts CSS pixels (96 per inch) to points (72 per inch), gonum/plot's unit.
func pt(px float64) vg.Length { return vg.Length(px * 0.75) }

// Figure is what every figure in this package is: showable, renderable and savable. [Grid]
// lays out any figures of this package.
type Figure interface {
	display.Bundler
	// SVG draws the figure as an SVG document.
	SVG() ([]byte, error)
	// PNG draws the figure as a PNG image at [PNGScale] device pixels per CSS pixel.
	PNG() ([]byte, error)
	// Save writes the figure to a file; the extension picks the format (.svg, .png, .jpg,
	// .tif). Folders on the way are created. (No PDF: gonum/plot v0.17's PDF canvas fails
	// on bold text, which every title here uses.)
	Save(path string) error

	plan() (plan, error)
	sizePx() (w, h int)
}

// plan is a figure whose data has been checked and converted: it knows how tall it wants to
// be at a given width and how to draw itself.
type plan interface {
	heightFor(w vg.Length) vg.Length
	draw(dc draw.Canvas)
	summary() string
}

// size resolves a figure's size in points.
func size(f Figure, p plan) (w, h vg.Length) {
	wpx, hpx := f.sizePx()
	if wpx <= 0 {
		wpx = DefaultWidth
	}
	w = pt(float64(wpx))
	if hpx > 0 {
		return w, pt(float64(hpx))
	}
	return w, p.heightFor(w)
}

// Background is the colour every figure is drawn on. Figures carry their own opaque
// background because JupyterLab shows an SVG as an <img>: the document cannot see the page's
// theme (no inherited colour, no CSS variables; prefers-color-scheme follows the browser, not
// JupyterLab's theme setting), so a transparent figure with dark text is unreadable on the dark
// theme. A white card reads the same in every theme, in exported files and on paper.
var Background color.Color = color.White

// drawPlan draws p on c over the figure's background, turning gonum/plot's panics (it panics
// on degenerate data) into errors.
func drawPlan(p plan, dc draw.Canvas) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("draw: %v", r)
		}
	}()
	r := dc.Rectangle
	dc.FillPolygon(Background, []vg.Point{r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}})
	p.draw(dc)
	return nil
}

func renderSVG(f Figure) ([]byte, error) {
	p, err := f.plan()
	if err != nil {
		return nil, err
	}
	return renderSVGPlan(f, p)
}

// renderSVGPlan draws an already planned figure, so that showing one converts its data once.
func renderSVGPlan(f Figure, p plan) ([]byte, error) {
	w, h := size(f, p)
	c := &svgMarks{Canvas: vgsvg.New(w, h)}
	if err := drawPlan(p, draw.New(c)); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("write svg: %w", err)
	}
	return withAreas(polishSVG(buf.Bytes()), c.areas), nil
}

// polishSVG adjusts gonum's SVG for browsers: fallbacks for the Liberation fonts it measures
// text with (Arial and Helvetica have the same metrics) instead of the browser's default
// serif; raster images that fill exactly the rectangle they are placed in (SVG's default,
// preserveAspectRatio "xMidYMid meet", would keep the raster's own aspect ratio and shrink a
// 5×1024 heatmap to one row of its axes, a colour bar to a line), scaled pixelated so that
// heatmap cells stay crisp instead of being blurred; and the right media type on those
// images (gonum labels its PNG data as image/jpg, which strict viewers reject).
func polishSVG(svg []byte) []byte {
	s := string(svg)
	s = strings.ReplaceAll(s, "font-family:Liberation Sans;", "font-family:'Liberation Sans',Arial,Helvetica,sans-serif;")
	s = strings.ReplaceAll(s, "font-family:Liberation Serif;", "font-family:'Liberation Serif','Times New Roman',Times,serif;")
	s = strings.ReplaceAll(s, "<image ", `<image preserveAspectRatio="none" style="image-rendering:pixelated" `)
	s = strings.ReplaceAll(s, "data:image/jpg;base64,iVBOR", "data:image/png;base64,iVBOR")
	return []byte(s)
}

func renderPNG(f Figure) ([]byte, error) {
	p, err := f.plan()
	if err != nil {
		return nil, err
	}
	return renderPNGPlan(f, p)
}

func renderPNGPlan(f Figure, p plan) ([]byte, error) {
	w, h := size(f, p)
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(96*PNGScale), vgimg.UseBackgroundColor(Background))
	if err := drawPlan(p, draw.New(c)); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("write png: %w", err)
	}
	return buf.Bytes(), nil
}

func saveFigure(f Figure, path string) error {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	var data []byte
	var err error
	switch ext {
	case "svg":
		data, err = renderSVG(f)
	case "png":
		data, err = renderPNG(f)
	case "jpg", "jpeg", "tif", "tiff":
		data, err = renderFormat(f, ext)
	default:
		return fmt.Errorf("save %s: unknown image format %q", path, ext)
	}
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("save %s: %w", path, err)
		}
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}

func renderFormat(f Figure, format string) ([]byte, error) {
	p, err := f.plan()
	if err != nil {
		return nil, err
	}
	w, h := size(f, p)
	c, err := draw.NewFormattedCanvas(w, h, format)
	if err != nil {
		return nil, err
	}
	if err := drawPlan(p, draw.New(c)); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("write %s: %w", format, err)
	}
	return buf.Bytes(), nil
}

// bundle is the MIME bundle of a figure: its SVG and a one-line description, or the error
// as text when it cannot be drawn.
func bundle(f Figure) (display.Bundle, map[string]any) {
	p, err := f.plan()
	if err != nil {
		return display.TextBundle(fmt.Sprintf("%T: %v", f, err)), nil
	}
	svg, err := renderSVGPlan(f, p)
	if err != nil {
		return display.TextBundle(fmt.Sprintf("%T: %v", f, err)), nil
	}
	return display.Bundle{display.MIMESVG: string(svg), display.MIMEText: p.summary()}, nil
}

// AsPNG wraps a figure so that it shows as a PNG instead of an SVG: smaller for figures with
// thousands of marks, and what some viewers (GitHub's notebook preview) show best.
func AsPNG(f Figure) display.Bundler { return pngBundler{f} }

type pngBundler struct{ f Figure }

// MIMEBundle implements display.Bundler.
func (b pngBundler) MIMEBundle() (display.Bundle, map[string]any) {
	p, err := b.f.plan()
	if err != nil {
		return display.TextBundle(fmt.Sprintf("%T: %v", b.f, err)), nil
	}
	data, err := renderPNGPlan(b.f, p)
	if err != nil {
		return display.TextBundle(fmt.Sprintf("%T: %v", b.f, err)), nil
	}
	bundle, md, err := display.PNGBundle(data)
	if err != nil {
		return display.TextBundle(err.Error()), nil
	}
	bundle[display.MIMEText] = p.summary()
	// Show it at its CSS size: PNGScale device pixels per CSS pixel.
	px := md[display.MIMEPNG].(map[string]any)
	md[display.MIMEPNG] = map[string]any{
		"width":  (px["width"].(int) + PNGScale/2) / PNGScale,
		"height": (px["height"].(int) + PNGScale/2) / PNGScale,
	}
	return bundle, md
}

// Fonts: gonum's default is a serif face; sans-serif reads better at small sizes on screen.
var (
	sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	boldFont = font.Font{Typeface: "Liberation", Variant: "Sans", Weight: xfont.WeightBold}
)

// Text sizes in points.
const (
	titleSize = 12
	labelSize = 10
	tickSize  = 8.5
	smallSize = 8
)

func textStyle(f font.Font, size vg.Length, xa text.XAlignment, ya text.YAlignment) text.Style {
	return text.Style{
		Color:   color.Black,
		Font:    font.From(f, size),
		XAlign:  xa,
		YAlign:  ya,
		Handler: text.Plain{Fonts: font.DefaultCache},
	}
}

// margin is the space around every figure, in points.
const margin = vg.Length(6)

// drawTitle writes a bold title centred at the top of dc, fitted to its width (see
// [fitTitle]), and returns the canvas below it.
func drawTitle(dc draw.Canvas, title string) draw.Canvas {
	return drawFitted(dc, fitTitle(title, dc.Max.X-dc.Min.X), color.Black)
}

// drawFitted writes a fitted text centred at the top of dc and returns the canvas below it.
func drawFitted(dc draw.Canvas, f fitted, c color.Color) draw.Canvas {
	if len(f.lines) == 0 {
		return dc
	}
	sty := f.style(draw.XCenter, draw.YTop)
	sty.Color = c
	dc.FillText(sty, vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: dc.Max.Y}, f.text())
	dc.Max.Y -= f.height() + 4
	return dc
}

// noteColor is the grey of notes under titles: 7.4:1 against the white background.
var noteColor = color.Gray{Y: 80}

// fitNote fits a note line (the small grey text under a title) into width.
func fitNote(note string, width vg.Length) fitted {
	return fitText(note, sansFont, smallSize, minPanelSize, width, 3)
}

// drawNote writes a small grey note centred at the top of dc and returns the canvas below it.
func drawNote(dc draw.Canvas, note string) draw.Canvas {
	return drawFitted(dc, fitNote(note, dc.Max.X-dc.Min.X), noteColor)
}

// titleHeight is the height drawTitle takes for title at width w.
func titleHeight(title string, w vg.Length) vg.Length {
	f := fitTitle(title, w)
	if len(f.lines) == 0 {
		return 0
	}
	return f.height() + 4
}

// titleExtra is how much taller the title is at width w than on one line: charts whose
// height follows their width add it, so that a wrapped title does not squeeze the plot.
func titleExtra(title string, w vg.Length) vg.Length {
	if title == "" {
		return 0
	}
	return max(0, titleHeight(title, w)-textStyle(boldFont, titleSize, 0, 0).Height(title)-4)
}

// noteHeight is the height drawNote takes for note at width w.
func noteHeight(note string, w vg.Length) vg.Length {
	f := fitNote(note, w)
	if len(f.lines) == 0 {
		return 0
	}
	return f.height() + 4
}

// inset returns dc shrunk by m on every side.
func inset(dc draw.Canvas, m vg.Length) draw.Canvas {
	return draw.Crop(dc, m, -m, m, -m)
}

// sub returns the part of dc inside the rectangle (x0, y0)–(x1, y1).
func sub(dc draw.Canvas, x0, y0, x1, y1 vg.Length) draw.Canvas {
	return draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{Min: vg.Point{X: x0, Y: y0}, Max: vg.Point{X: x1, Y: y1}}}
}
