package plots

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gostudy/gostudy/pkg/display"
)

// MaxErrorBars is the largest number of points of a series drawn with error bars; longer
// series draw their ± error as a shaded band.
const MaxErrorBars = 30

// Series is one named curve of a [Curves] figure.
type Series struct {
	// Name appears in the key: the run or variant the curve belongs to. Series of one name
	// share a colour, in every panel.
	Name string
	// Metric is what Y measures ("train loss", "val accuracy"). Series of different metrics
	// are drawn in separate panels stacked over one x axis, each panel's y axis labelled with
	// its metric, so that a loss and an accuracy never share a scale or a label.
	Metric string
	// X holds the x values; nil means 0, 1, 2, ...
	X []float64
	// Y holds the values.
	Y []float64
	// Err, when set, is the ± error of each point (a standard deviation over seeds, say).
	Err []float64
}

// Curves is a line chart of one or more series: training and validation curves, or a
// metric against an ablation knob (with XTicks naming categorical settings and Err for
// mean ± std over repeats). Use [LiveCurves] to redraw it in place while training.
//
// The labels follow the data: the y axis is labelled with the series' Metric (one panel per
// metric), every series is in the key, and a YLabel that would claim one quantity for a chart
// of several metrics is an error rather than a wrong figure.
type Curves struct {
	// Title, XLabel and YLabel label the chart (defaults: the series name or "Curves",
	// "step", and the series' Metric or "value"). YLabel must be empty when the series have
	// more than one Metric: each panel is labelled with its own.
	Title, XLabel, YLabel string
	// Series are the curves, drawn in order with the palette's colours.
	Series []Series
	// LogY draws the y axis on a log scale (non-positive values are left out).
	LogY bool
	// XTicks names the x positions 0, 1, 2, ... (categorical x, such as configurations).
	XTicks []string
	// Smooth, in [0, 1), draws an exponential moving average of each series over a faint
	// copy of the raw values, as TensorBoard does for noisy losses; 0 draws the raw values.
	// Series of at most MaxErrorBars points (evaluations, say) are never smoothed: with so
	// few points the average would lag far behind.
	Smooth float64
	// Width and Height are the figure size in CSS pixels (0: 800 × 400).
	Width, Height int
}

// Add appends the point (x, y) to the series with the given name (and no Metric), creating
// it if needed.
func (c *Curves) Add(series string, x, y float64) { c.AddMetric("", series, x, y) }

// AddMetric appends the point (x, y) to the series of that name measuring metric, creating
// it if needed: c.AddMetric("val accuracy", "p=0.5", step, acc).
func (c *Curves) AddMetric(metric, series string, x, y float64) {
	for i := range c.Series {
		if c.Series[i].Name == series && c.Series[i].Metric == metric {
			s := &c.Series[i]
			if s.X == nil && len(s.Y) > 0 {
				s.X = make([]float64, len(s.Y))
				for j := range s.X {
					s.X[j] = float64(j)
				}
			}
			s.X = append(s.X, x)
			s.Y = append(s.Y, y)
			return
		}
	}
	c.Series = append(c.Series, Series{Name: series, Metric: metric, X: []float64{x}, Y: []float64{y}})
}

// MIMEBundle implements display.Bundler.
func (c Curves) MIMEBundle() (display.Bundle, map[string]any) { return bundle(c) }

// SVG draws the figure as an SVG document.
func (c Curves) SVG() ([]byte, error) { return renderSVG(c) }

// PNG draws the figure as a PNG image.
func (c Curves) PNG() ([]byte, error) { return renderPNG(c) }

// Save writes the figure to path; the extension picks the format.
func (c Curves) Save(path string) error { return saveFigure(c, path) }

func (c Curves) sizePx() (int, int) { return c.Width, c.Height }

type curvesPlan struct {
	c             Curves
	title, xlabel string
	series        []Series // validated, X filled in
	dropped       int      // non-positive values left out of a log plot
	// panels are the metrics in order of first appearance, each with its y label and the
	// indices of its series.
	panels []curvesPanel
	// names are the distinct series names, in order: a series' colour is its name's index.
	names []string
}

type curvesPanel struct {
	ylabel string
	series []int
}

func (c Curves) plan() (plan, error) {
	p := &curvesPlan{c: c, title: c.Title, xlabel: c.XLabel}
	if p.title == "" {
		p.title = "Curves"
		if len(c.Series) == 1 && c.Series[0].Name != "" {
			p.title = c.Series[0].Name
		}
	}
	if p.xlabel == "" {
		p.xlabel = "step"
	}
	for i, s := range c.Series {
		k := 0
		for k < len(p.panels) && c.Series[p.panels[k].series[0]].Metric != s.Metric {
			k++
		}
		if k == len(p.panels) {
			p.panels = append(p.panels, curvesPanel{ylabel: s.Metric})
		}
		p.panels[k].series = append(p.panels[k].series, i)
		if !slices.Contains(p.names, s.Name) {
			p.names = append(p.names, s.Name)
		}
	}
	if len(p.panels) > 1 && c.YLabel != "" {
		metrics := make([]string, len(p.panels))
		for i, pn := range p.panels {
			metrics[i] = strconv.Quote(pn.ylabel)
		}
		return nil, fmt.Errorf("curves: YLabel %q, but the series measure %s: leave YLabel empty (each metric gets its own labelled panel) or plot one metric",
			c.YLabel, strings.Join(metrics, ", "))
	}
	if len(p.panels) == 0 {
		p.panels = []curvesPanel{{}}
	}
	if c.YLabel != "" {
		p.panels[0].ylabel = c.YLabel
	}
	for i := range p.panels {
		if p.panels[i].ylabel == "" {
			p.panels[i].ylabel = "value"
		}
	}
	if c.Smooth < 0 || c.Smooth >= 1 {
		return nil, fmt.Errorf("curves: Smooth = %g, want [0, 1)", c.Smooth)
	}
	for i, s := range c.Series {
		if s.X != nil && len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("curves: series %d (%s) has %d x values and %d y values", i, s.Name, len(s.X), len(s.Y))
		}
		if s.Err != nil && len(s.Err) != len(s.Y) {
			return nil, fmt.Errorf("curves: series %d (%s) has %d errors for %d values", i, s.Name, len(s.Err), len(s.Y))
		}
		out := Series{Name: s.Name, Metric: s.Metric}
		for j, y := range s.Y {
			x := float64(j)
			if s.X != nil {
				x = s.X[j]
			}
			if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) || (c.LogY && y <= 0) {
				p.dropped++
				continue
			}
			out.X = append(out.X, x)
			out.Y = append(out.Y, y)
			if s.Err != nil {
				out.Err = append(out.Err, math.Abs(s.Err[j]))
			}
		}
		p.series = append(p.series, out)
	}
	return p, nil
}

func (p *curvesPlan) summary() string {
	var parts []string
	for _, s := range p.series {
		name := s.Name
		if s.Metric != "" {
			name = strings.TrimSpace(s.Name + " " + s.Metric)
		}
		if len(s.Y) == 0 {
			parts = append(parts, fmt.Sprintf("%s (no points)", name))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s (%d points, last %.4g)", name, len(s.Y), s.Y[len(s.Y)-1]))
	}
	return fmt.Sprintf("%s: %s", p.title, strings.Join(parts, ", "))
}

// key lists every series name once, in its colour.
func (p *curvesPlan) key() []keyEntry {
	var entries []keyEntry
	for i, name := range p.names {
		if name == "" {
			continue
		}
		entries = append(entries, keyEntry{name, lineThumb{style: lineStyle(SeriesColor(i), 2)}})
	}
	return entries
}

// color is the colour of series i: that of its name.
func (p *curvesPlan) color(i int) color.Color {
	return SeriesColor(slices.Index(p.names, p.series[i].Name))
}

// panelGap is the space between stacked panels.
const panelGap = vg.Length(10)

// plotHeight is the height of the panels at width w: w/2 for one, and half as much again for
// each further panel.
func (p *curvesPlan) plotHeight(w vg.Length) vg.Length {
	return w/2 + vg.Length(len(p.panels)-1)*(w/4+panelGap)
}

func (p *curvesPlan) heightFor(w vg.Length) vg.Length {
	return p.plotHeight(w) + keyHeight(p.key(), w-2*margin) + titleExtra(p.title, w-2*margin)
}

// ema is the exponential moving average TensorBoard draws, debiased at the start so that
// the first points are not pulled towards zero.
func ema(ys []float64, a float64) []float64 {
	out := make([]float64, len(ys))
	var acc, weight float64
	for i, y := range ys {
		acc = a*acc + (1-a)*y
		weight = a*weight + (1 - a)
		out[i] = acc / weight
	}
	return out
}

func (p *curvesPlan) draw(dc draw.Canvas) {
	dc = inset(dc, margin)
	dc = drawTitle(dc, p.title)
	dc = drawKey(dc, p.key())
	n := vg.Length(len(p.panels))
	h := (dc.Max.Y - dc.Min.Y - (n-1)*panelGap) / n
	xmin, xmax := p.xRange()
	plots := make([]*plot.Plot, len(p.panels))
	canvases := make([]draw.Canvas, len(p.panels))
	top := dc.Max.Y
	var left vg.Length // the rightmost left edge of the panels' data areas
	for i, pn := range p.panels {
		canvases[i] = sub(dc, dc.Min.X, top-h, dc.Max.X, top)
		plots[i] = p.panelPlot(canvases[i], pn, i == len(p.panels)-1, xmin, xmax)
		left = max(left, plots[i].DataCanvas(canvases[i]).Min.X)
		top -= h + panelGap
	}
	for i, pl := range plots {
		// Stacked panels share their x axis: line their data areas up by moving the y label
		// of a panel with narrower tick labels away from its axis.
		pl.Y.Label.Padding += left - pl.DataCanvas(canvases[i]).Min.X
		pl.Draw(canvases[i])
	}
}

// xRange is the x extent of all series, so that stacked panels share their x axis.
func (p *curvesPlan) xRange() (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range p.series {
		for _, x := range s.X {
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
	}
	return lo, hi
}

// panelPlot builds the plot of one metric's series, its ticks fitted to dc; only the bottom
// panel names the x axis.
func (p *curvesPlan) panelPlot(dc draw.Canvas, pn curvesPanel, bottom bool, xmin, xmax float64) *plot.Plot {
	xlabel := ""
	if bottom {
		xlabel = p.xlabel
	}
	pl := newPlot("", xlabel, pn.ylabel)
	pl.Add(lightGrid(true))
	if p.c.LogY {
		pl.Y.Scale = plot.LogScale{}
		pl.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if len(p.c.XTicks) > 0 {
		pl.X.Tick.Marker = categoryTicks(p.c.XTicks)
	}
	// Error bars of several series at the same categorical x would hide each other: move the
	// series a little apart.
	withErr := 0
	for _, i := range pn.series {
		if p.series[i].Err != nil {
			withErr++
		}
	}
	dodge := 0.0
	if len(p.c.XTicks) > 0 && withErr > 1 {
		dodge = 0.05
	}
	empty := true
	for k, i := range pn.series {
		s := p.series[i]
		if len(s.Y) == 0 {
			continue
		}
		empty = false
		col := p.color(i)
		shift := dodge * (float64(k) - float64(len(pn.series)-1)/2)
		xys := make(plotter.XYs, len(s.Y))
		for j := range s.Y {
			xys[j] = plotter.XY{X: s.X[j] + shift, Y: s.Y[j]}
		}
		if s.Err != nil {
			if len(s.Y) <= MaxErrorBars {
				eb := &plotter.YErrorBars{XYs: xys, YErrors: make(plotter.YErrors, len(s.Err)),
					LineStyle: lineStyle(col, 1.2), CapWidth: 6}
				for j, e := range s.Err {
					eb.YErrors[j].Low, eb.YErrors[j].High = p.lowErr(s.Y[j], e), e
				}
				pl.Add(eb)
			} else {
				low := make([]float64, len(s.Err))
				for j, e := range s.Err {
					low[j] = p.lowErr(s.Y[j], e)
				}
				pl.Add(errBand(xys, low, s.Err, col))
			}
		}
		if p.c.Smooth > 0 && len(s.Y) > MaxErrorBars {
			raw := &plotter.Line{XYs: xys, LineStyle: lineStyle(withAlpha(col, 0.3), 1)}
			sm := make(plotter.XYs, len(xys))
			for j, y := range ema(s.Y, p.c.Smooth) {
				sm[j] = plotter.XY{X: xys[j].X, Y: y}
			}
			pl.Add(raw, &plotter.Line{XYs: sm, LineStyle: lineStyle(col, 2)})
		} else {
			pl.Add(&plotter.Line{XYs: xys, LineStyle: lineStyle(col, 2)})
		}
		if len(s.Y) <= MaxErrorBars {
			pl.Add(&plotter.Scatter{XYs: xys, GlyphStyle: draw.GlyphStyle{Color: col, Radius: 2.5, Shape: draw.CircleGlyph{}}})
		}
	}
	if empty {
		pl.X.Min, pl.X.Max, pl.Y.Min, pl.Y.Max = 0, 1, 0, 1
		if p.c.LogY {
			pl.Y.Min, pl.Y.Max = 1, 10
		}
		dc.FillText(textStyle(sansFont, labelSize, draw.XCenter, draw.YCenter), dc.Center(), "no data yet")
	} else if xmax >= xmin {
		pl.X.Min, pl.X.Max = math.Min(pl.X.Min, xmin), math.Max(pl.X.Max, xmax)
	}
	if len(p.c.XTicks) > 0 {
		pl.X.Min = math.Min(pl.X.Min, -0.3)
		pl.X.Max = math.Max(pl.X.Max, float64(len(p.c.XTicks)-1)+0.3)
	}
	fitTicks(pl, dc)
	return pl
}

// lowErr keeps y − err positive on a log axis, where zero and below cannot be drawn.
func (p *curvesPlan) lowErr(y, e float64) float64 {
	if p.c.LogY && y-e <= 0 {
		return 0.9 * y
	}
	return e
}

// errBand fills the area between y − low and y + high.
func errBand(xys plotter.XYs, low, high []float64, col color.Color) plot.Plotter {
	poly := make(plotter.XYs, 0, 2*len(xys))
	for j, p := range xys {
		poly = append(poly, plotter.XY{X: p.X, Y: p.Y + high[j]})
	}
	for j := len(xys) - 1; j >= 0; j-- {
		poly = append(poly, plotter.XY{X: xys[j].X, Y: xys[j].Y - low[j]})
	}
	// The vertices are finite (plan drops NaN and Inf), which is all NewPolygon checks.
	return &plotter.Polygon{XYs: []plotter.XYs{poly}, Color: withAlpha(col, 0.2)}
}

// lineThumb is a key thumbnail for a line.
type lineThumb struct{ style draw.LineStyle }

// Thumbnail implements plot.Thumbnailer.
func (t lineThumb) Thumbnail(c *draw.Canvas) {
	y := (c.Min.Y + c.Max.Y) / 2
	c.StrokeLine2(t.style, c.Min.X, y, c.Max.X, y)
}
