package plots

import (
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gostudy/gostudy/pkg/display"
)

// BarSeries is one group member of a [Bars] chart: one value (and optional ± error) per
// category.
type BarSeries struct {
	// Name appears in the key.
	Name string
	// Values holds one bar height per category.
	Values []float64
	// Err, when set, draws error bars of ± Err (mean ± std over seeds, say).
	Err []float64
}

// Bars is a grouped bar chart: one group per category, one bar per series. Ablation tables
// read well this way: categories are the settings, series the metrics or models, with
// error bars for mean ± std.
type Bars struct {
	// Title, XLabel and YLabel label the chart (defaults: "Bars", no x label, "value").
	Title, XLabel, YLabel string
	// Categories name the groups along the x axis.
	Categories []string
	// Series are the bars in each group, drawn in order with the palette's colours.
	Series []BarSeries
	// ShowValues prints each bar's value above it.
	ShowValues bool
	// Width and Height are the figure size in CSS pixels (0: 800 × 400).
	Width, Height int
}

// MIMEBundle implements display.Bundler.
func (b Bars) MIMEBundle() (display.Bundle, map[string]any) { return bundle(b) }

// SVG draws the figure as an SVG document.
func (b Bars) SVG() ([]byte, error) { return renderSVG(b) }

// PNG draws the figure as a PNG image.
func (b Bars) PNG() ([]byte, error) { return renderPNG(b) }

// Save writes the figure to path; the extension picks the format.
func (b Bars) Save(path string) error { return saveFigure(b, path) }

func (b Bars) sizePx() (int, int) { return b.Width, b.Height }

type barsPlan struct{ b Bars }

func (b Bars) plan() (plan, error) {
	if len(b.Categories) == 0 {
		return nil, fmt.Errorf("bars: no categories")
	}
	if len(b.Series) == 0 {
		return nil, fmt.Errorf("bars: no series")
	}
	for i, s := range b.Series {
		if len(s.Values) != len(b.Categories) {
			return nil, fmt.Errorf("bars: series %d (%s) has %d values for %d categories", i, s.Name, len(s.Values), len(b.Categories))
		}
		if s.Err != nil && len(s.Err) != len(s.Values) {
			return nil, fmt.Errorf("bars: series %d (%s) has %d errors for %d values", i, s.Name, len(s.Err), len(s.Values))
		}
		for j, v := range s.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("bars: series %d (%s) value %d is %v", i, s.Name, j, v)
			}
		}
	}
	return barsPlan{b}, nil
}

func (p barsPlan) title() string {
	if p.b.Title != "" {
		return p.b.Title
	}
	return "Bars"
}

func (p barsPlan) summary() string {
	var parts []string
	for _, s := range p.b.Series {
		parts = append(parts, fmt.Sprintf("%s %v", s.Name, s.Values))
	}
	return fmt.Sprintf("%s: %d categories; %s", p.title(), len(p.b.Categories), strings.Join(parts, "; "))
}

func (p barsPlan) key() []keyEntry {
	var entries []keyEntry
	for i, s := range p.b.Series {
		if s.Name != "" {
			entries = append(entries, keyEntry{s.Name, swatch{color: SeriesColor(i)}})
		}
	}
	return entries
}

func (p barsPlan) heightFor(w vg.Length) vg.Length {
	return w/2 + keyHeight(p.key(), w-2*margin) + titleExtra(p.title(), w-2*margin)
}

func (p barsPlan) draw(dc draw.Canvas) {
	dc = inset(dc, margin)
	dc = drawTitle(dc, p.title())
	dc = drawKey(dc, p.key())
	ylabel := p.b.YLabel
	if ylabel == "" {
		ylabel = "value"
	}
	pl := newPlot("", p.b.XLabel, ylabel)
	pl.Add(lightGrid(false))
	pl.Add(groupedBars{b: p.b})
	pl.X.Tick.Marker = categoryTicks(p.b.Categories)
	fitTicks(pl, dc)
	pl.Draw(dc)
}

// groupedBars draws the bars in data units (each group spans 0.8 around its category index),
// so they scale with the plot instead of having gonum's fixed widths in points.
type groupedBars struct{ b Bars }

const groupWidth = 0.8

// Plot implements plot.Plotter.
func (g groupedBars) Plot(c draw.Canvas, pl *plot.Plot) {
	trX, trY := pl.Transforms(&c)
	n := len(g.b.Series)
	bw := groupWidth / float64(n)
	label := textStyle(sansFont, smallSize, draw.XCenter, draw.YBottom)
	for si, s := range g.b.Series {
		col := SeriesColor(si)
		for ci, v := range s.Values {
			x0 := float64(ci) - groupWidth/2 + float64(si)*bw
			x1 := x0 + bw*0.92
			y0, y1 := math.Min(0, v), math.Max(0, v)
			pts := []vg.Point{{X: trX(x0), Y: trY(y0)}, {X: trX(x1), Y: trY(y0)}, {X: trX(x1), Y: trY(y1)}, {X: trX(x0), Y: trY(y1)}}
			c.FillPolygon(col, c.ClipPolygonXY(pts))
			xm := trX((x0 + x1) / 2)
			top := v
			if s.Err != nil {
				e := math.Abs(s.Err[ci])
				sty := lineStyle(color.Black, 1)
				lo, hi := trY(v-e), trY(v+e)
				capW := (trX(x1) - trX(x0)) * 0.25
				c.StrokeLine2(sty, xm, lo, xm, hi)
				c.StrokeLine2(sty, xm-capW, lo, xm+capW, lo)
				c.StrokeLine2(sty, xm-capW, hi, xm+capW, hi)
				if v >= 0 {
					top = v + e
				}
			}
			if g.b.ShowValues {
				txt := formatValue(v)
				if label.Width(txt) <= (trX(x1)-trX(x0))*1.6 {
					c.FillText(label, vg.Point{X: xm, Y: trY(math.Max(top, 0)) + 2}, txt)
				}
			}
		}
	}
}

// DataRange implements plot.DataRanger: the groups, zero, and the error bars' ends, with
// head room for printed values.
func (g groupedBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = -0.5, float64(len(g.b.Categories))-0.5
	for _, s := range g.b.Series {
		for i, v := range s.Values {
			e := 0.0
			if s.Err != nil {
				e = math.Abs(s.Err[i])
			}
			ymin, ymax = math.Min(ymin, v-e), math.Max(ymax, v+e)
		}
	}
	if g.b.ShowValues {
		ymax += 0.08 * (ymax - ymin)
	}
	return
}

// formatValue prints a bar's value with four significant digits.
func formatValue(v float64) string { return fmt.Sprintf("%.4g", v) }
