package plots

import (
	"image"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// sequentialMap is for data of one sign (activations, attention weights): viridis, whose
// lightness rises steadily so that brighter always means larger.
func sequentialMap() palette.ColorMap {
	cm, err := moreland.NewLuminance(viridisControls)
	if err != nil {
		return moreland.Kindlmann()
	}
	return cm
}

// viridisControls are ten evenly spaced colours of the viridis map (van der Walt and Smith,
// CC0), the default of matplotlib that study groups know; Moreland's luminance interpolation
// fills in between.
var viridisControls = []color.Color{
	color.NRGBA{0x44, 0x01, 0x54, 0xff}, color.NRGBA{0x48, 0x28, 0x78, 0xff}, color.NRGBA{0x3e, 0x49, 0x89, 0xff},
	color.NRGBA{0x31, 0x68, 0x8e, 0xff}, color.NRGBA{0x26, 0x82, 0x8e, 0xff}, color.NRGBA{0x1f, 0x9e, 0x89, 0xff},
	color.NRGBA{0x35, 0xb7, 0x79, 0xff}, color.NRGBA{0x6e, 0xce, 0x58, 0xff}, color.NRGBA{0xb5, 0xde, 0x2b, 0xff},
	color.NRGBA{0xfd, 0xe7, 0x25, 0xff},
}

// divergingMap is for signed data centred on zero: Moreland's smooth blue–red map.
func divergingMap() palette.ColorMap { return moreland.SmoothBlueRed() }

// GrayMap returns a black-to-white colour map, for images and masks.
func GrayMap() palette.ColorMap {
	l := &lut{lo: 0, hi: 1}
	for i := range l.colors {
		l.colors[i] = color.NRGBA{R: uint8(i), G: uint8(i), B: uint8(i), A: 255}
	}
	return &lutMap{l: l, min: 0, max: 1}
}

type plainPalette []color.Color

func (p plainPalette) Colors() []color.Color { return p }

// lut is a colour map sampled at 256 points over [lo, hi]: mapping every pixel through
// Moreland's maps directly costs a colour-space conversion each.
type lut struct {
	colors [256]color.NRGBA
	lo, hi float64
}

func newLUT(cm palette.ColorMap, lo, hi float64) *lut {
	l := &lut{lo: lo, hi: hi}
	cmin, cmax := cm.Min(), cm.Max()
	for i := range l.colors {
		v := cmin + (cmax-cmin)*float64(i)/255
		c, err := cm.At(v)
		if err != nil {
			c = color.Black
		}
		l.colors[i] = color.NRGBAModel.Convert(c).(color.NRGBA)
	}
	return l
}

// nanColor marks missing values (NaN) in heatmaps.
var nanColor = color.NRGBA{R: 255, G: 0, B: 255, A: 255}

func (l *lut) at(v float64) color.NRGBA {
	if math.IsNaN(v) {
		return nanColor
	}
	t := (v - l.lo) / (l.hi - l.lo)
	i := int(math.Round(255 * math.Max(0, math.Min(1, t))))
	return l.colors[i]
}

// colorMapFor picks the colour map and normalises it to [0, 1] (the LUT does the scaling).
func colorMapFor(cm palette.ColorMap, diverging bool) palette.ColorMap {
	if cm == nil {
		if diverging {
			cm = divergingMap()
		} else {
			cm = sequentialMap()
		}
	}
	cm.SetMin(0)
	cm.SetMax(1)
	return cm
}

// heatImage renders rows×cols values (row-major, row 0 at the top) through l, each value
// enlarged to a block of sx×sy pixels.
func heatImage(vals []float64, rows, cols int, l *lut, sx, sy int) *image.NRGBA {
	sx, sy = max(1, sx), max(1, sy)
	img := image.NewNRGBA(image.Rect(0, 0, cols*sx, rows*sy))
	for r := range rows {
		for c := range cols {
			col := l.at(vals[r*cols+c])
			for dy := range sy {
				off := img.PixOffset(c*sx, r*sy+dy)
				for dx := range sx {
					img.Pix[off+4*dx+0] = col.R
					img.Pix[off+4*dx+1] = col.G
					img.Pix[off+4*dx+2] = col.B
					img.Pix[off+4*dx+3] = col.A
				}
			}
		}
	}
	return img
}

// blockScale is the enlargement that gives an image of n cells at least about twice as many
// device pixels as the space it is drawn in (so browsers and the PNG rasteriser have nothing
// to interpolate, and cell edges land where the axes say), while keeping the embedded image
// under 1024 pixels a side.
func blockScale(n int, drawn vg.Length) int {
	want := float64(drawn) / 0.75 * 2
	s := int(math.Ceil(want / float64(n)))
	s = min(s, max(1, 1024/n))
	return max(1, s)
}

// blockScales are the enlargements along x and y of a raster of rows×cols cells drawn in an
// area w×h: each axis on its own, since a flat 5×1024 map stretched to a 110-point-tall area
// needs many more pixels per row than per column.
func blockScales(rows, cols int, w, h vg.Length) (sx, sy int) {
	return blockScale(cols, w), blockScale(rows, h)
}

// colorBar draws a vertical colour bar for cm over [lo, hi] in dc, with ticks and a label.
func colorBar(dc draw.Canvas, cm palette.ColorMap, lo, hi float64, label string) {
	p := plot.New()
	styleAxes(p)
	cb := &plotter.ColorBar{ColorMap: rangedCopy(cm, lo, hi), Vertical: true}
	p.Add(cb)
	p.HideX()
	p.Y.Tick.Marker = niceTicks{n: 5}
	p.Y.Padding = 0
	p.Y.Label.Text = label
	p.Y.Min, p.Y.Max = lo, hi
	// Keep the bar itself a fixed width whatever the tick labels take: the axis goes first.
	const barW = 14
	data := p.DataCanvas(dc)
	if data.Max.X-data.Min.X > barW {
		dc.Max.X = data.Min.X + barW
	}
	// gonum shrinks the data area so that the end tick labels fit; grow the canvas by as much
	// so that the bar spans exactly the height asked for, level with the figure beside it.
	// The overhang depends on the ticks, which depend on the height: correct twice.
	want := dc.Rectangle
	fitAxisLabel(&p.Y, label, want.Max.Y-want.Min.Y)
	for range 3 {
		data = p.DataCanvas(dc)
		dc.Min.Y += want.Min.Y - data.Min.Y
		dc.Max.Y += want.Max.Y - data.Max.Y
	}
	p.Draw(dc)
	markArea(dc, areaColorBar, p.DataCanvas(dc).Rectangle, 0, 0)
}

// rangedCopy returns cm spread over [lo, hi], without changing cm.
func rangedCopy(cm palette.ColorMap, lo, hi float64) palette.ColorMap {
	l := newLUT(cm, 0, 1)
	return &lutMap{l: l, min: lo, max: hi}
}

// lutMap is a palette.ColorMap backed by a LUT: cheap to evaluate, and a way to spread a
// colour map over a range without changing the caller's.
type lutMap struct {
	l        *lut
	min, max float64
}

func (m *lutMap) At(v float64) (color.Color, error) {
	t := (v - m.min) / (m.max - m.min)
	return m.l.at(t), nil
}
func (m *lutMap) SetMax(v float64) { m.max = v }
func (m *lutMap) SetMin(v float64) { m.min = v }
func (m *lutMap) Max() float64     { return m.max }
func (m *lutMap) Min() float64     { return m.min }
func (m *lutMap) SetAlpha(float64) {}
func (m *lutMap) Alpha() float64   { return 1 }
func (m *lutMap) Palette(n int) palette.Palette {
	cs := make([]color.Color, n)
	for i := range cs {
		cs[i], _ = m.At(m.min + (m.max-m.min)*float64(i)/float64(max(1, n-1)))
	}
	return plainPalette(cs)
}

// seriesColors is a ten-colour qualitative palette (the Tableau 10 colours) for lines, bars
// and histograms: distinct hues of similar weight.
var seriesColors = []color.NRGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
	{0xbc, 0xbd, 0x22, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
}

// SeriesColor returns the i-th colour of the palette used for series.
func SeriesColor(i int) color.Color {
	return seriesColors[((i%len(seriesColors))+len(seriesColors))%len(seriesColors)]
}

func withAlpha(c color.Color, a float64) color.NRGBA {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	n.A = uint8(math.Round(255 * math.Max(0, math.Min(1, a))))
	return n
}

// luminance is the luma of c in [0, 1] (Rec. 709 weights on the gamma-encoded values): how
// light a colour map's colour looks.
func luminance(c color.NRGBA) float64 {
	return (0.2126*float64(c.R) + 0.7152*float64(c.G) + 0.0722*float64(c.B)) / 255
}

// relLuminance is the relative luminance of c in [0, 1] as WCAG 2 defines it for contrast
// (linearised sRGB).
func relLuminance(c color.NRGBA) float64 {
	lin := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.R) + 0.7152*lin(c.G) + 0.0722*lin(c.B)
}

// contrast is the WCAG 2 contrast ratio of two colours, from 1 to 21.
func contrast(a, b color.NRGBA) float64 {
	la, lb := relLuminance(a), relLuminance(b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

// textColorOn returns black or white, whichever contrasts more with the background bg: the
// better of the two is always at least 4.58:1, above WCAG's 4.5:1 for normal text.
func textColorOn(bg color.NRGBA) color.Color {
	black, white := color.NRGBA{A: 255}, color.NRGBA{R: 255, G: 255, B: 255, A: 255}
	if contrast(white, bg) > contrast(black, bg) {
		return color.White
	}
	return color.Black
}
