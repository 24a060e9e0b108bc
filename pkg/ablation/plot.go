package ablation

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// errPoints are the (x, mean) points of one line with ±std error bars.
type errPoints struct {
	xys plotter.XYs
	std []float64
}

func (p errPoints) Len() int                        { return len(p.xys) }
func (p errPoints) XY(i int) (float64, float64)     { return p.xys[i].X, p.xys[i].Y }
func (p errPoints) YError(i int) (float64, float64) { return p.std[i], p.std[i] }

// PlotSVG renders [Table.Plot] as a 6×4 inch SVG.
func (t *Table) PlotSVG(metric string) ([]byte, error) {
	p, err := t.Plot(metric)
	if err != nil {
		return nil, err
	}
	wt, err := p.WriterTo(6*vg.Inch, 4*vg.Inch, "svg")
	if err != nil {
		return nil, fmt.Errorf("render %s plot: %w", metric, err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("render %s plot: %w", metric, err)
	}
	return buf.Bytes(), nil
}

// Plot draws metric (mean ± std over seeds) against the first axis, one line per combination
// of the other axes. A numeric first axis is drawn to scale; otherwise its values are evenly
// spaced categories.
func (t *Table) Plot(metric string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: %s %s (mean ± std over seeds)", t.Experiment, t.split(), metric)
	p.Y.Label.Text = metric
	var xs []float64
	numeric := false
	if len(t.Axes) > 0 {
		ax := t.Axes[0]
		p.X.Label.Text = ax.Key
		numeric = true
		for _, v := range ax.Values {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				numeric = false
				break
			}
			xs = append(xs, f)
		}
		if !numeric {
			xs = xs[:0]
			for i := range ax.Values {
				xs = append(xs, float64(i))
			}
			p.NominalX(ax.Values...)
		}
	} else {
		xs = []float64{0}
		p.NominalX("base")
	}
	xIndex := func(v string) int {
		if len(t.Axes) == 0 {
			return 0
		}
		for i, a := range t.Axes[0].Values {
			if a == v {
				return i
			}
		}
		return -1
	}
	// Group rows by the values of the other axes, keeping first-seen order.
	type line struct {
		label string
		pts   errPoints
	}
	var lines []*line
	byLabel := map[string]*line{}
	for _, r := range t.Rows {
		st, ok := r.Summary.Final[metric]
		if !ok {
			continue
		}
		var rest []string
		for i := 1; i < len(t.Axes); i++ {
			rest = append(rest, t.Axes[i].Key+"="+r.Values[i])
		}
		label := strings.Join(rest, " ")
		l := byLabel[label]
		if l == nil {
			l = &line{label: label}
			byLabel[label] = l
			lines = append(lines, l)
		}
		xi := 0
		if len(r.Values) > 0 {
			xi = xIndex(r.Values[0])
		}
		if xi < 0 {
			continue
		}
		l.pts.xys = append(l.pts.xys, plotter.XY{X: xs[xi], Y: st.Mean})
		l.pts.std = append(l.pts.std, st.Std)
	}
	for i, l := range lines {
		ln, sc, err := plotter.NewLinePoints(l.pts)
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", metric, err)
		}
		ln.Color = plotutil.Color(i)
		sc.Color = plotutil.Color(i)
		sc.Shape = plotutil.Shape(i)
		eb, err := plotter.NewYErrorBars(l.pts)
		if err != nil {
			return nil, fmt.Errorf("plot %s error bars: %w", metric, err)
		}
		eb.Color = plotutil.Color(i)
		p.Add(ln, sc, eb)
		if l.label != "" {
			p.Legend.Add(l.label, ln, sc)
		}
	}
	p.Add(plotter.NewGrid())
	if !numeric && len(xs) > 0 {
		p.X.Min, p.X.Max = -0.5, float64(len(xs))-0.5
	} else if r := p.X.Max - p.X.Min; r > 0 {
		// Keep the end points and their error bars off the frame.
		p.X.Min -= 0.06 * r
		p.X.Max += 0.06 * r
	}
	if r := p.Y.Max - p.Y.Min; r > 0 {
		p.Y.Min -= 0.06 * r
		p.Y.Max += 0.06 * r
	}
	return p, nil
}
