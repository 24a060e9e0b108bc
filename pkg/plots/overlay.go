package plots

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	vgdraw "gonum.org/v1/plot/vg/draw"

	"github.com/gostudy/gostudy/pkg/display"
)

// LayerMode says how an [Overlay] layer marks its mask on the image.
type LayerMode int

const (
	// Fill tints the pixels where the mask exceeds the threshold.
	Fill LayerMode = iota
	// Outline draws only the boundary of the thresholded mask (pixels inside it with a
	// neighbour outside), to compare a prediction's contour with the ground truth.
	Outline
	// Soft tints every pixel in proportion to its mask value clipped to [0, 1]: probability
	// maps and soft edge maps.
	Soft
)

// Layer is one mask drawn over the image of an [Overlay].
type Layer struct {
	// Name appears in the legend.
	Name string
	// Mask is [H, W], the image's size: a *tensors.Tensor or a nested slice of numbers.
	Mask any
	// Mode is how the mask is drawn (default Fill).
	Mode LayerMode
	// Color is the layer's colour (default: the series palette, by layer index).
	Color color.Color
	// Alpha is the opacity (defaults: 0.45 for Fill, 1 for Outline, 0.8 for Soft).
	Alpha float64
	// Threshold separates inside from outside for Fill and Outline (default 0.5).
	Threshold float64
}

// Overlay shows an image with masks and edge maps drawn over it, and optionally a grid of
// window boundaries (Swin's window partition, shifted or not). Pixel row 0 is at the top and
// the axes count pixels.
type Overlay struct {
	// Image is an image.Image, a grey [H, W] array (shown from its minimum to its maximum),
	// or [H, W, 1] / [H, W, 3] with values in [0, 1] (or [0, 255] when larger than 1).
	Image any
	// Layers are drawn in order over the image.
	Layers []Layer
	// GridSize draws window boundaries every GridSize pixels; GridShift moves them by that
	// many pixels (a shifted-window partition).
	GridSize, GridShift int
	// Title is the figure title (default "Image").
	Title string
	// NoAxes hides the pixel axes.
	NoAxes bool
	// Width and Height are the figure size in CSS pixels (0: 800 wide, height from the image).
	Width, Height int
}

// MIMEBundle implements display.Bundler.
func (o Overlay) MIMEBundle() (display.Bundle, map[string]any) { return bundle(o) }

// SVG draws the figure as an SVG document.
func (o Overlay) SVG() ([]byte, error) { return renderSVG(o) }

// PNG draws the figure as a PNG image.
func (o Overlay) PNG() ([]byte, error) { return renderPNG(o) }

// Save writes the figure to path; the extension picks the format.
func (o Overlay) Save(path string) error { return saveFigure(o, path) }

func (o Overlay) sizePx() (int, int) { return o.Width, o.Height }

type overlayPlan struct {
	o      Overlay
	img    *image.NRGBA // composed, native size
	h, w   int
	colors []color.Color
	title  string
}

func (o Overlay) plan() (plan, error) {
	base, err := baseImage(o.Image)
	if err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	h, w := base.Rect.Dy(), base.Rect.Dx()
	p := &overlayPlan{o: o, img: base, h: h, w: w, title: o.Title}
	if p.title == "" {
		p.title = "Image"
	}
	for i, l := range o.Layers {
		a, err := toArray(l.Mask)
		if err != nil {
			return nil, fmt.Errorf("overlay layer %d (%s): %w", i, l.Name, err)
		}
		if a.rank() == 3 && a.dims[2] == 1 {
			a.dims = a.dims[:2]
		}
		if a.rank() != 2 || a.dims[0] != h || a.dims[1] != w {
			return nil, fmt.Errorf("overlay layer %d (%s): mask of shape %v, want [%d %d] like the image", i, l.Name, a.dims, h, w)
		}
		c := l.Color
		if c == nil {
			c = layerColors[i%len(layerColors)]
		}
		p.colors = append(p.colors, c)
		applyLayer(base, a.data, l, c)
	}
	return p, nil
}

// layerColors are bright enough to see over grey ultrasound images.
var layerColors = []color.Color{
	color.NRGBA{R: 255, G: 40, B: 40, A: 255}, color.NRGBA{R: 40, G: 220, B: 60, A: 255},
	color.NRGBA{R: 40, G: 140, B: 255, A: 255}, color.NRGBA{R: 255, G: 200, B: 0, A: 255},
	color.NRGBA{R: 230, G: 60, B: 230, A: 255}, color.NRGBA{R: 0, G: 220, B: 220, A: 255},
}

// baseImage converts the image argument to NRGBA.
func baseImage(v any) (*image.NRGBA, error) {
	if img, ok := v.(image.Image); ok {
		b := img.Bounds()
		if b.Empty() {
			return nil, fmt.Errorf("empty image %v", b)
		}
		out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(out, out.Rect, img, b.Min, draw.Src)
		return out, nil
	}
	a, err := toArray(v)
	if err != nil {
		return nil, err
	}
	var h, w, c int
	switch {
	case a.rank() == 2:
		h, w, c = a.dims[0], a.dims[1], 1
	case a.rank() == 3 && (a.dims[2] == 1 || a.dims[2] == 3):
		h, w, c = a.dims[0], a.dims[1], a.dims[2]
	default:
		return nil, fmt.Errorf("image of shape %v, want [H,W], [H,W,1] or [H,W,3]", a.dims)
	}
	lo, hi := finiteRange(a.data)
	scaleLo, scaleHi := 0.0, 1.0
	switch {
	case a.rank() == 2 || c == 1:
		scaleLo, scaleHi = widen(lo, hi) // grey: stretch to the full range
	case hi > 1:
		scaleHi = 255
	}
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			var rgb [3]uint8
			for k := range 3 {
				v := a.data[(y*w+x)*c+min(k, c-1)]
				t := (v - scaleLo) / (scaleHi - scaleLo)
				if math.IsNaN(t) {
					t = 0
				}
				rgb[k] = uint8(math.Round(255 * math.Max(0, math.Min(1, t))))
			}
			out.SetNRGBA(x, y, color.NRGBA{R: rgb[0], G: rgb[1], B: rgb[2], A: 255})
		}
	}
	return out, nil
}

// applyLayer blends one mask into img.
func applyLayer(img *image.NRGBA, mask []float64, l Layer, c color.Color) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	thr := l.Threshold
	if thr == 0 {
		thr = 0.5
	}
	alpha := l.Alpha
	if alpha == 0 {
		alpha = map[LayerMode]float64{Fill: 0.45, Outline: 1, Soft: 0.8}[l.Mode]
	}
	in := func(x, y int) bool {
		if x < 0 || y < 0 || x >= w || y >= h {
			return false
		}
		return mask[y*w+x] > thr
	}
	cc := color.NRGBAModel.Convert(c).(color.NRGBA)
	for y := range h {
		for x := range w {
			var a float64
			switch l.Mode {
			case Fill:
				if in(x, y) {
					a = alpha
				}
			case Outline:
				if in(x, y) && !(in(x-1, y) && in(x+1, y) && in(x, y-1) && in(x, y+1)) {
					a = alpha
				}
			case Soft:
				v := mask[y*w+x]
				if !math.IsNaN(v) {
					a = alpha * math.Max(0, math.Min(1, v))
				}
			}
			if a == 0 {
				continue
			}
			px := img.NRGBAAt(x, y)
			mix := func(b, o uint8) uint8 { return uint8(math.Round(float64(b)*(1-a) + float64(o)*a)) }
			img.SetNRGBA(x, y, color.NRGBA{R: mix(px.R, cc.R), G: mix(px.G, cc.G), B: mix(px.B, cc.B), A: 255})
		}
	}
}

func (p *overlayPlan) summary() string {
	s := fmt.Sprintf("%s: %d×%d image", p.title, p.h, p.w)
	for _, l := range p.o.Layers {
		s += ", " + l.Name
	}
	if p.o.GridSize > 0 {
		s += fmt.Sprintf(", %d-pixel windows shifted by %d", p.o.GridSize, p.o.GridShift)
	}
	return s
}

func (p *overlayPlan) plotFor() *plot.Plot {
	pl := newPlot(p.title, "x (pixels)", "y (pixels)")
	imageAxes(pl, p.h, p.w, nil, nil)
	if p.o.NoAxes {
		pl.HideAxes()
		pl.X.Label.Text, pl.Y.Label.Text = "", ""
	}
	return pl
}

func (p *overlayPlan) key() []keyEntry {
	var entries []keyEntry
	for i, l := range p.o.Layers {
		if l.Name != "" {
			entries = append(entries, keyEntry{l.Name, swatch{color: p.colors[i], outline: l.Mode == Outline}})
		}
	}
	return entries
}

func (p *overlayPlan) heightFor(w vg.Length) vg.Length {
	pl := p.plotFor()
	pl.Title.Text = ""
	_, h := fitImagePlot(pl, w-2*margin, float64(p.h)/float64(p.w), 460)
	return h + 2*margin + keyHeight(p.key(), w-2*margin) + titleHeight(p.title, w-2*margin)
}

func (p *overlayPlan) draw(dc vgdraw.Canvas) {
	dc = inset(dc, margin)
	pl := p.plotFor()
	// The title goes above the key, so it is drawn here rather than by gonum.
	pl.Title.Text = ""
	dc = drawTitle(dc, p.title)
	dc = drawKey(dc, p.key())
	pw, ph := fitImagePlot(pl, dc.Max.X-dc.Min.X, float64(p.h)/float64(p.w), 460)
	x0 := dc.Min.X + (dc.Max.X-dc.Min.X-pw)/2
	pc := sub(dc, x0, dc.Max.Y-ph, x0+pw, dc.Max.Y)
	fitTicks(pl, pc)
	dataC := pl.DataCanvas(pc)
	scale := blockScale(max(p.w, p.h), max(dataC.Max.X-dataC.Min.X, dataC.Max.Y-dataC.Min.Y))
	var img image.Image = p.img
	if scale > 1 {
		img = display.Enlarge(p.img, scale)
	}
	pl.Add(rasterPlotter(img, p.h, p.w))
	if p.o.GridSize > 0 {
		pl.Add(gridLines{rows: p.h, cols: p.w, every: p.o.GridSize, shift: p.o.GridShift,
			style: lineStyle(color.NRGBA{R: 255, G: 255, B: 255, A: 230}, 1.2, 4, 2)})
	}
	pl.Draw(pc)
	markArea(dc, areaHeatmap, dataC.Rectangle, p.h, p.w)
}
