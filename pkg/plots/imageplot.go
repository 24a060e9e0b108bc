package plots

import (
	"image"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// imageAxes prepares p to show a raster of rows×cols cells with row 0 at the top: data x runs
// over [0, cols], data y over [0, rows] with row r drawn between rows-r-1 and rows-r.
func imageAxes(p *plot.Plot, rows, cols int, xLabels, yLabels []string) {
	p.X.Min, p.X.Max = 0, float64(cols)
	p.Y.Min, p.Y.Max = 0, float64(rows)
	p.X.Padding, p.Y.Padding = 0, 0
	p.X.Tick.Marker = cellTicks(cols, xLabels, func(i int) float64 { return float64(i) + 0.5 })
	p.Y.Tick.Marker = cellTicks(rows, yLabels, func(i int) float64 { return float64(rows-i) - 0.5 })
	if longest(xLabels) > 3 {
		// Long labels (token names) would overlap side by side: stand them up.
		p.X.Tick.Label.Rotation = 1.5708
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
	}
}

func longest(ss []string) int {
	n := 0
	for _, s := range ss {
		n = max(n, len([]rune(s)))
	}
	return n
}

// rasterPlotter draws an image over the data rectangle [0, cols]×[0, rows].
func rasterPlotter(img image.Image, rows, cols int) *plotter.Image {
	return plotter.NewImage(img, 0, 0, float64(cols), float64(rows))
}

// fitImagePlot sizes a plot whose data area must have the given aspect (height / width):
// as wide as avail allows unless the data area would be taller than maxDataH, in which case
// it gets narrower. A very flat raster gets a data area at least minDataH tall, a very tall
// one a data area at least minDataW wide (its cells then are not square) so that it stays
// visible; the raster is stretched to fill whatever area it gets. It returns the plot's outer
// size.
func fitImagePlot(p *plot.Plot, avail vg.Length, aspect float64, maxDataH vg.Length) (w, h vg.Length) {
	const minDataH, minDataW = 110, 40
	const probeH = 1000
	probe := draw.Canvas{Rectangle: vg.Rectangle{Max: vg.Point{X: avail, Y: probeH}}}
	dc := p.DataCanvas(probe)
	overX := avail - (dc.Max.X - dc.Min.X)
	overY := probeH - (dc.Max.Y - dc.Min.Y)
	dataW := avail - overX
	dataH := dataW * vg.Length(aspect)
	if dataH > maxDataH {
		dataH = maxDataH
		dataW = dataH / vg.Length(aspect)
	}
	dataH = max(dataH, min(minDataH, dataW))
	dataW = min(max(dataW, minDataW), avail-overX)
	return dataW + overX, dataH + overY
}

// gridLines draws lines every `every` cells (offset by shift) over a rows×cols raster: window
// boundaries in Swin's partitions and masks.
type gridLines struct {
	rows, cols   int
	every, shift int
	style        draw.LineStyle
}

// Plot implements plot.Plotter.
func (g gridLines) Plot(c draw.Canvas, p *plot.Plot) {
	if g.every <= 0 {
		return
	}
	trX, trY := p.Transforms(&c)
	start := ((g.shift % g.every) + g.every) % g.every
	for x := start; x <= g.cols; x += g.every {
		if x == 0 || x == g.cols {
			continue
		}
		c.StrokeLine2(g.style, trX(float64(x)), trY(0), trX(float64(x)), trY(float64(g.rows)))
	}
	for r := start; r <= g.rows; r += g.every {
		if r == 0 || r == g.rows {
			continue
		}
		y := float64(g.rows - r)
		c.StrokeLine2(g.style, trX(0), trY(y), trX(float64(g.cols)), trY(y))
	}
}

// swatch is a legend thumbnail: a filled square, optionally only outlined.
type swatch struct {
	color   color.Color
	outline bool
}

// Thumbnail implements plot.Thumbnailer.
func (s swatch) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{c.Min, {X: c.Max.X, Y: c.Min.Y}, c.Max, {X: c.Min.X, Y: c.Max.Y}}
	if s.outline {
		c.StrokeLines(lineStyle(s.color, 1.5), append(pts, c.Min))
		return
	}
	c.FillPolygon(s.color, pts)
}
