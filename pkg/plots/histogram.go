package plots

import (
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gostudy/gostudy/pkg/display"
)

// DefaultBins is the number of histogram bins when Bins is zero.
const DefaultBins = 40

// HistSeries is one distribution of a [Histogram].
type HistSeries struct {
	// Name appears in the key.
	Name string
	// Values are the samples: a []float64, any numeric slice, or a *tensors.Tensor of any
	// shape (flattened).
	Values any
}

// Histogram shows one or more distributions over shared bins, overlaid with translucent
// fills: activations with and without dropout's 1/(1−p) rescaling, weights before and after
// training.
type Histogram struct {
	// Title, XLabel and YLabel label the chart (defaults: "Histogram", "value", "count" or
	// "density").
	Title, XLabel, YLabel string
	// Series are the distributions.
	Series []HistSeries
	// Bins is the number of bins over the range of all series (default [DefaultBins]).
	Bins int
	// Min and Max fix the binned range; Min == Max means the data's range.
	Min, Max float64
	// Density scales each series to unit area, to compare distributions of different sizes.
	Density bool
	// ShowMean marks each series' mean with a dashed line and gives it in the key.
	ShowMean bool
	// Width and Height are the figure size in CSS pixels (0: 800 × 400).
	Width, Height int
}

// MIMEBundle implements display.Bundler.
func (h Histogram) MIMEBundle() (display.Bundle, map[string]any) { return bundle(h) }

// SVG draws the figure as an SVG document.
func (h Histogram) SVG() ([]byte, error) { return renderSVG(h) }

// PNG draws the figure as a PNG image.
func (h Histogram) PNG() ([]byte, error) { return renderPNG(h) }

// Save writes the figure to path; the extension picks the format.
func (h Histogram) Save(path string) error { return saveFigure(h, path) }

func (h Histogram) sizePx() (int, int) { return h.Width, h.Height }

type histPlan struct {
	h       Histogram
	lo, hi  float64
	bins    int
	counts  [][]float64 // per series, per bin (scaled when Density)
	means   []float64
	ns      []int
	outside []int // samples outside a fixed range
}

func (h Histogram) plan() (plan, error) {
	if len(h.Series) == 0 {
		return nil, fmt.Errorf("histogram: no series")
	}
	p := &histPlan{h: h, bins: h.Bins}
	if p.bins <= 0 {
		p.bins = DefaultBins
	}
	vals := make([][]float64, len(h.Series))
	var all []float64
	for i, s := range h.Series {
		v, err := floats(s.Values)
		if err != nil {
			return nil, fmt.Errorf("histogram: series %d (%s): %w", i, s.Name, err)
		}
		var finite []float64
		for _, x := range v {
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				finite = append(finite, x)
			}
		}
		vals[i] = finite
		all = append(all, finite...)
	}
	if h.Min != h.Max {
		p.lo, p.hi = math.Min(h.Min, h.Max), math.Max(h.Min, h.Max)
	} else {
		p.lo, p.hi = widen(finiteRange(all))
	}
	width := (p.hi - p.lo) / float64(p.bins)
	for _, v := range vals {
		counts := make([]float64, p.bins)
		sum, out := 0.0, 0
		for _, x := range v {
			sum += x
			if x < p.lo || x > p.hi {
				out++
				continue
			}
			b := min(int((x-p.lo)/width), p.bins-1)
			counts[b]++
		}
		if h.Density && len(v) > 0 {
			for b := range counts {
				counts[b] /= float64(len(v)) * width
			}
		}
		mean := math.NaN()
		if len(v) > 0 {
			mean = sum / float64(len(v))
		}
		p.counts = append(p.counts, counts)
		p.means = append(p.means, mean)
		p.ns = append(p.ns, len(v))
		p.outside = append(p.outside, out)
	}
	return p, nil
}

func (p *histPlan) title() string {
	if p.h.Title != "" {
		return p.h.Title
	}
	return "Histogram"
}

func (p *histPlan) summary() string {
	var parts []string
	for i, s := range p.h.Series {
		parts = append(parts, fmt.Sprintf("%s (n=%d, mean %.4g)", s.Name, p.ns[i], p.means[i]))
	}
	return fmt.Sprintf("%s: %d bins over [%.4g, %.4g]; %s", p.title(), p.bins, p.lo, p.hi, strings.Join(parts, ", "))
}

func (p *histPlan) key() []keyEntry {
	var entries []keyEntry
	for i, s := range p.h.Series {
		name := s.Name
		if p.h.ShowMean {
			name = fmt.Sprintf("%s (mean %.4g)", s.Name, p.means[i])
		}
		if name != "" {
			entries = append(entries, keyEntry{name, swatch{color: withAlpha(SeriesColor(i), 0.6)}})
		}
	}
	return entries
}

func (p *histPlan) heightFor(w vg.Length) vg.Length {
	return w/2 + keyHeight(p.key(), w-2*margin) + titleExtra(p.title(), w-2*margin)
}

func (p *histPlan) draw(dc draw.Canvas) {
	dc = inset(dc, margin)
	dc = drawTitle(dc, p.title())
	var notes []string
	for i, s := range p.h.Series {
		if p.outside[i] > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d samples outside [%.4g, %.4g]", s.Name, p.outside[i], p.lo, p.hi))
		}
	}
	dc = drawNote(dc, strings.Join(notes, "; "))
	dc = drawKey(dc, p.key())
	xl, yl := p.h.XLabel, p.h.YLabel
	if xl == "" {
		xl = "value"
	}
	if yl == "" {
		yl = "count"
		if p.h.Density {
			yl = "density"
		}
	}
	pl := newPlot("", xl, yl)
	pl.Add(lightGrid(false))
	width := (p.hi - p.lo) / float64(p.bins)
	for i, counts := range p.counts {
		col := SeriesColor(i)
		bins := make([]plotter.HistogramBin, p.bins)
		for b, c := range counts {
			bins[b] = plotter.HistogramBin{Min: p.lo + float64(b)*width, Max: p.lo + float64(b+1)*width, Weight: c}
		}
		pl.Add(&plotter.Histogram{Bins: bins, Width: width, FillColor: withAlpha(col, 0.35), LineStyle: lineStyle(col, 1)})
	}
	if p.h.ShowMean {
		for i, m := range p.means {
			if !math.IsNaN(m) {
				pl.Add(vline{x: m, style: lineStyle(SeriesColor(i), 1.5, 5, 3)})
			}
		}
	}
	fitTicks(pl, dc)
	pl.Draw(dc)
}

// vline is a vertical line across the whole plot at x.
type vline struct {
	x     float64
	style draw.LineStyle
}

// Plot implements plot.Plotter.
func (v vline) Plot(c draw.Canvas, pl *plot.Plot) {
	trX, _ := pl.Transforms(&c)
	x := trX(v.x)
	if c.ContainsX(x) {
		c.StrokeLine2(v.style, x, c.Min.Y, x, c.Max.Y)
	}
}
