package plots

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gostudy/gostudy/pkg/display"
)

// MaxValueCells is the largest heatmap side for which ShowValues prints the numbers: beyond
// it they would be too small to read.
const MaxValueCells = 24

// Heatmap shows a matrix as coloured cells with indexed (or labelled) axes and a colour bar:
// attention maps, attention masks, relative-position index tables, confusion matrices.
// Row 0 is at the top, as in the matrix.
type Heatmap struct {
	// Data is the matrix, [rows, cols]: a *tensors.Tensor or a nested slice of numbers.
	Data any
	// Title, XLabel and YLabel label the figure (defaults: "Heatmap", "column", "row").
	Title, XLabel, YLabel string
	// XTicks and YTicks name the columns and rows (tokens, classes); the default is their index.
	XTicks, YTicks []string
	// Min and Max fix the colour range; Min == Max means the data's range.
	Min, Max float64
	// Symmetric centres the colour range on zero and uses a diverging colour map.
	Symmetric bool
	// ColorMap overrides the colour map.
	ColorMap palette.ColorMap
	// ShowValues prints each cell's value in it, for matrices up to MaxValueCells a side.
	ShowValues bool
	// ValueFormat formats printed values (default "%.0f" when all are integers, else "%.2f").
	ValueFormat string
	// GridEvery draws white lines every GridEvery cells, offset by GridShift: window
	// boundaries of a windowed-attention mask, for example.
	GridEvery, GridShift int
	// BarLabel labels the colour bar (default "value").
	BarLabel string
	// NoColorBar leaves the colour bar out.
	NoColorBar bool
	// Width and Height are the figure size in CSS pixels (0: 800 wide, height from the
	// matrix's shape).
	Width, Height int
}

// AttentionMap is a Heatmap for attention weights [queries, keys]: each row is one query's
// distribution over keys.
func AttentionMap(weights any, title string) Heatmap {
	return Heatmap{Data: weights, Title: title, XLabel: "key", YLabel: "query", BarLabel: "attention weight"}
}

// WindowMasks shows the attention masks of shifted-window attention, [windows, N, N] (N
// tokens per window), one panel per window: the mask is 0 where two tokens may attend to
// each other and a large negative number where the cyclic shift made them neighbours
// without being neighbours in the image.
func WindowMasks(masks any, title string) FeatureMaps {
	if title == "" {
		title = "Shifted-window attention masks"
	}
	a, err := toArray(masks)
	var labels []string
	if err == nil && len(a.dims) == 3 {
		for i := range a.dims[0] {
			labels = append(labels, fmt.Sprintf("window %d", i))
		}
	}
	return FeatureMaps{Data: masks, ChannelsFirst: true, Labels: labels, Title: title,
		ColorMap: GrayMap(), MaxChannels: 64, BarLabel: "mask value", Unit: "windows"}
}

// MIMEBundle implements display.Bundler.
func (h Heatmap) MIMEBundle() (display.Bundle, map[string]any) { return bundle(h) }

// SVG draws the figure as an SVG document.
func (h Heatmap) SVG() ([]byte, error) { return renderSVG(h) }

// PNG draws the figure as a PNG image.
func (h Heatmap) PNG() ([]byte, error) { return renderPNG(h) }

// Save writes the figure to path; the extension picks the format.
func (h Heatmap) Save(path string) error { return saveFigure(h, path) }

func (h Heatmap) sizePx() (int, int) { return h.Width, h.Height }

type heatPlan struct {
	h          Heatmap
	rows, cols int
	vals       []float64
	lo, hi     float64
	cm         palette.ColorMap
	format     string
}

func (h Heatmap) plan() (plan, error) {
	a, err := toArray(h.Data)
	if err != nil {
		return nil, fmt.Errorf("heatmap: %w", err)
	}
	switch a.rank() {
	case 1:
		a.dims = []int{1, a.dims[0]}
	case 2:
	default:
		return nil, fmt.Errorf("heatmap: data of shape %v, want a matrix [rows, cols]", a.dims)
	}
	p := &heatPlan{h: h, rows: a.dims[0], cols: a.dims[1], vals: a.data}
	if h.Min != h.Max {
		p.lo, p.hi = math.Min(h.Min, h.Max), math.Max(h.Min, h.Max)
	} else {
		p.lo, p.hi = finiteRange(a.data)
		if h.Symmetric {
			m := math.Max(math.Abs(p.lo), math.Abs(p.hi))
			p.lo, p.hi = -m, m
		}
		p.lo, p.hi = widen(p.lo, p.hi)
	}
	p.cm = colorMapFor(h.ColorMap, h.Symmetric)
	p.format = h.ValueFormat
	if p.format == "" {
		p.format = "%.0f"
		for _, v := range a.data {
			if v != math.Trunc(v) && !math.IsNaN(v) {
				p.format = "%.2f"
				break
			}
		}
	}
	return p, nil
}

func (p *heatPlan) labels() (title, x, y, bar string) {
	title, x, y, bar = p.h.Title, p.h.XLabel, p.h.YLabel, p.h.BarLabel
	if title == "" {
		title = "Heatmap"
	}
	if x == "" {
		x = "column"
	}
	if y == "" {
		y = "row"
	}
	if bar == "" {
		bar = "value"
	}
	return
}

func (p *heatPlan) summary() string {
	title, _, _, _ := p.labels()
	return fmt.Sprintf("%s: %d×%d matrix, colour range [%.4g, %.4g]", title, p.rows, p.cols, p.lo, p.hi)
}

// plot returns the heatmap's axes without a title: the title is drawn above them, fitted to
// the figure's width.
func (p *heatPlan) plot() *plot.Plot {
	_, xl, yl, _ := p.labels()
	pl := newPlot("", xl, yl)
	imageAxes(pl, p.rows, p.cols, p.h.XTicks, p.h.YTicks)
	return pl
}

const heatBarWidth = vg.Length(64)

func (p *heatPlan) barWidth() vg.Length {
	if p.h.NoColorBar {
		return 0
	}
	return heatBarWidth
}

// fit returns the main plot's size for a figure width w.
func (p *heatPlan) fit(w vg.Length) (vg.Length, vg.Length) {
	avail := w - 2*margin - p.barWidth()
	return fitImagePlot(p.plot(), avail, float64(p.rows)/float64(p.cols), 420)
}

func (p *heatPlan) heightFor(w vg.Length) vg.Length {
	_, h := p.fit(w)
	title, _, _, _ := p.labels()
	return h + 2*margin + titleHeight(title, w-2*margin)
}

func (p *heatPlan) draw(dc draw.Canvas) {
	dc = inset(dc, margin)
	w := dc.Max.X - dc.Min.X + 2*margin
	title, _, _, _ := p.labels()
	dc = drawTitle(dc, title)
	pw, ph := p.fit(w)
	x0 := dc.Min.X + (dc.Max.X-dc.Min.X-pw-p.barWidth())/2
	y1 := dc.Max.Y
	pc := sub(dc, x0, y1-ph, x0+pw, y1)

	pl := p.plot()
	fitTicks(pl, pc)
	dataC := pl.DataCanvas(pc)
	l := newLUT(p.cm, p.lo, p.hi)
	sx, sy := blockScales(p.rows, p.cols, dataC.Max.X-dataC.Min.X, dataC.Max.Y-dataC.Min.Y)
	pl.Add(rasterPlotter(heatImage(p.vals, p.rows, p.cols, l, sx, sy), p.rows, p.cols))
	if p.h.GridEvery > 0 {
		pl.Add(gridLines{rows: p.rows, cols: p.cols, every: p.h.GridEvery, shift: p.h.GridShift,
			style: lineStyle(color.White, 1)})
	}
	if p.h.ShowValues && p.rows <= MaxValueCells && p.cols <= MaxValueCells {
		pl.Add(cellValues{p: p, l: l})
	}
	pl.Draw(pc)
	// A hairline frame just outside the cells: white cells (kept units of a mask) would
	// otherwise merge with the figure's white background.
	r := dataC.Rectangle
	const fw = 0.5
	f := vg.Rectangle{Min: vg.Point{X: r.Min.X - fw/2, Y: r.Min.Y - fw/2}, Max: vg.Point{X: r.Max.X + fw/2, Y: r.Max.Y + fw/2}}
	dc.StrokeLines(lineStyle(color.Gray{Y: 160}, fw), []vg.Point{f.Min, {X: f.Max.X, Y: f.Min.Y}, f.Max, {X: f.Min.X, Y: f.Max.Y}, f.Min})
	markArea(dc, areaHeatmap, r, p.rows, p.cols)

	if !p.h.NoColorBar {
		_, _, _, bar := p.labels()
		colorBar(sub(dc, x0+pw+2, dataC.Min.Y, x0+pw+p.barWidth(), dataC.Max.Y), p.cm, p.lo, p.hi, bar)
	}
}

// cellValues prints each cell's value at its centre, black or white for contrast, all in one
// size: the largest (up to the tick labels') at which the widest value fits its cell. When
// that is too small to read, no value is printed: a table with gaps would look like missing
// data.
type cellValues struct {
	p *heatPlan
	l *lut
}

// minValueSize is the smallest size, in points, at which cell values are printed.
const minValueSize = 5

// Plot implements plot.Plotter.
func (cv cellValues) Plot(c draw.Canvas, pl *plot.Plot) {
	trX, trY := pl.Transforms(&c)
	cellW, cellH := trX(1)-trX(0), trY(1)-trY(0)
	size := min(tickSize, cellH*0.6)
	texts := make([]string, len(cv.p.vals))
	var widest vg.Length
	for i, v := range cv.p.vals {
		texts[i] = fmt.Sprintf(cv.p.format, v)
		widest = max(widest, textWidth(sansFont, size, texts[i]))
	}
	if room := cellW * 0.9; widest > room {
		size *= room / widest
	}
	if size < minValueSize {
		return
	}
	sty := textStyle(sansFont, size, draw.XCenter, draw.YCenter)
	for r := range cv.p.rows {
		for col := range cv.p.cols {
			i := r*cv.p.cols + col
			sty.Color = textColorOn(cv.l.at(cv.p.vals[i]))
			c.FillText(sty, vg.Point{X: trX(float64(col) + 0.5), Y: trY(float64(cv.p.rows-r) - 0.5)}, texts[i])
		}
	}
}
