package plots

import (
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// newPlot returns a gonum plot with this package's fonts, title and axis labels, and
// denser ticks than gonum's default (which aims for three).
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	styleAxes(p)
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.X.Tick.Marker = niceTicks{n: 7}
	p.Y.Tick.Marker = niceTicks{n: 6}
	return p
}

// styleAxes sets sans-serif fonts on every text of p.
func styleAxes(p *plot.Plot) {
	h := text.Plain{Fonts: font.DefaultCache}
	p.TextHandler = h
	// The figure is drawn on its own background (see Background); a plot's own would paint
	// over whatever was drawn under it, such as the "no data yet" of an empty live chart.
	p.BackgroundColor = nil
	p.Title.TextStyle = textStyle(boldFont, titleSize, draw.XCenter, draw.YTop)
	p.Title.Padding = 4
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle = textStyle(sansFont, labelSize, draw.XCenter, draw.YBottom)
		ax.Tick.Label = textStyle(sansFont, tickSize, draw.XCenter, draw.YTop)
		ax.Label.Padding = 3
		ax.Tick.Length = 4
		ax.Padding = 3
	}
	// gonum turns the y label a quarter turn itself.
	p.Y.Tick.Label.XAlign = draw.XRight
	p.Y.Tick.Label.YAlign = draw.YCenter
	p.Legend.TextStyle = textStyle(sansFont, tickSize, draw.XLeft, draw.YBottom)
	p.Legend.Top = true
	p.Legend.ThumbnailWidth = 14
}

// keyEntry is one entry of a figure's key: a thumbnail (a line, a swatch) and a name.
type keyEntry struct {
	name  string
	thumb plot.Thumbnailer
}

const (
	keyThumbW = vg.Length(16)
	keyGap    = vg.Length(14)
)

// keyRows splits the entries into rows that fit in width w.
func keyRows(entries []keyEntry, w vg.Length) [][]keyEntry {
	sty := textStyle(sansFont, tickSize+0.5, draw.XLeft, draw.YCenter)
	var rows [][]keyEntry
	var row []keyEntry
	var used vg.Length
	for _, e := range entries {
		ew := keyThumbW + 4 + sty.Width(e.name)
		if len(row) > 0 && used+keyGap+ew > w {
			rows = append(rows, row)
			row, used = nil, 0
		}
		if len(row) > 0 {
			used += keyGap
		}
		row = append(row, e)
		used += ew
	}
	if len(row) > 0 {
		rows = append(rows, row)
	}
	return rows
}

func keyLineHeight() vg.Length {
	return textStyle(sansFont, tickSize+0.5, 0, 0).Height("Ag") + 3
}

// keyHeight is the height the key takes in a figure of inner width w.
func keyHeight(entries []keyEntry, w vg.Length) vg.Length {
	if len(entries) == 0 {
		return 0
	}
	return vg.Length(len(keyRows(entries, w)))*keyLineHeight() + 2
}

// drawKey draws the key centred at the top of dc, above the plot rather than over its data,
// and returns the canvas below it.
func drawKey(dc draw.Canvas, entries []keyEntry) draw.Canvas {
	if len(entries) == 0 {
		return dc
	}
	sty := textStyle(sansFont, tickSize+0.5, draw.XLeft, draw.YCenter)
	lh := keyLineHeight()
	for _, row := range keyRows(entries, dc.Max.X-dc.Min.X) {
		var total vg.Length
		for i, e := range row {
			if i > 0 {
				total += keyGap
			}
			total += keyThumbW + 4 + sty.Width(e.name)
		}
		x := (dc.Min.X+dc.Max.X)/2 - total/2
		yMid := dc.Max.Y - lh/2
		for _, e := range row {
			th := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
				Min: vg.Point{X: x, Y: yMid - lh*0.3},
				Max: vg.Point{X: x + keyThumbW, Y: yMid + lh*0.3},
			}}
			e.thumb.Thumbnail(&th)
			dc.FillText(sty, vg.Point{X: x + keyThumbW + 4, Y: yMid}, e.name)
			x += keyThumbW + 4 + sty.Width(e.name) + keyGap
		}
		dc.Max.Y -= lh
	}
	dc.Max.Y -= 2
	return dc
}

// niceTicks places about n labelled ticks at round values (1, 2, 2.5 or 5 times a power of
// ten) with minor ticks between them. [fitTicks] lowers n on a short axis; limit, when set,
// is the n asked for before that.
type niceTicks struct{ n, limit int }

// max is the most ticks the axis was asked for.
func (t niceTicks) max() int {
	if t.limit > 0 {
		return t.limit
	}
	return t.n
}

// Ticks implements plot.Ticker.
func (t niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return []plot.Tick{{Value: lo, Label: formatTick(lo, 0)}}
	}
	n := max(2, t.n)
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	// Of the round steps near the raw one, take the one giving the count closest to n.
	step, bestDiff := mag, math.Inf(1)
	for _, m := range []float64{1, 2, 2.5, 5, 10, 20} {
		s := m * mag
		count := math.Floor(hi/s+1e-9) - math.Ceil(lo/s-1e-9) + 1
		if d := math.Abs(count - float64(n)); d < bestDiff {
			step, bestDiff = s, d
		}
	}
	mag = math.Pow(10, math.Floor(math.Log10(step)+1e-9))
	first := math.Ceil(lo/step - 1e-9)
	var ticks []plot.Tick
	// Multiply rather than accumulate, so that the labels carry no rounding drift.
	for k := first; k*step <= hi+step*1e-9; k++ {
		v := k * step
		ticks = append(ticks, plot.Tick{Value: v, Label: formatTick(v, step)})
	}
	per := 5.0 // minor ticks per major step: fifths, except halves of a step of 2
	if m := math.Round(step / mag * 10); m == 20 {
		per = 2
	}
	minor := step / per
	for k := math.Ceil(lo/minor - 1e-9); k*minor <= hi; k++ {
		if math.Mod(k, per) != 0 {
			ticks = append(ticks, plot.Tick{Value: k * minor})
		}
	}
	return ticks
}

// formatTick prints v with as many decimals as the tick step needs.
func formatTick(v, step float64) string {
	if v == 0 {
		return "0"
	}
	if a := math.Abs(v); a >= 1e6 || a < 1e-4 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	dec := 0
	if step > 0 && step < 1 {
		dec = int(math.Ceil(-math.Log10(step) - 1e-9))
		if s := step * math.Pow(10, float64(dec)); math.Abs(s-math.Round(s)) > 1e-6 {
			dec++ // 2.5 × 10^k needs one more decimal
		}
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

// indexTicker labels the cells (or categories) 0..n-1 of an axis at toData(i): every
// step-th of them, step chosen by [fitTicks] from the room the axis has. Cell i spans one data
// unit.
type indexTicker struct {
	n      int
	labels []string // names of the cells; the default is the index
	toData func(i int) float64
	step   int // label every step-th cell; 0 means every cell
	// categorical axes (bars, named configurations) must name every category: when the
	// names do not fit side by side fitTicks wraps or slants them before it skips any.
	categorical bool
}

func (t indexTicker) label(i int) string {
	if i < len(t.labels) {
		return t.labels[i]
	}
	return strconv.Itoa(i)
}

// Ticks implements plot.Ticker.
func (t indexTicker) Ticks(lo, hi float64) []plot.Tick {
	step := max(1, t.step)
	var ticks []plot.Tick
	for i := 0; i < t.n; i += step {
		ticks = append(ticks, plot.Tick{Value: t.toData(i), Label: t.label(i)})
	}
	return ticks
}

// cellTicks labels the cells 0..n-1 of a heatmap axis at their centres; toData maps a cell
// index to the value it is drawn at, so that the y axis can run top to bottom.
func cellTicks(n int, labels []string, toData func(i int) float64) indexTicker {
	return indexTicker{n: n, labels: labels, toData: toData}
}

// categoryTicks names the categories 0..n-1 of a bar chart or a categorical x axis.
func categoryTicks(labels []string) indexTicker {
	return indexTicker{n: len(labels), labels: labels, toData: func(i int) float64 { return float64(i) }, categorical: true}
}

// fitTicks chooses, for the size p will be drawn at in c, how many ticks each axis labels
// and how categorical labels are laid out, so that no two labels overlap: the room depends on
// the tick labels themselves (the y labels' width narrows the data area), hence two passes.
// Axis labels longer than their axis shrink and wrap the same way.
func fitTicks(p *plot.Plot, c draw.Canvas) {
	xl, yl := p.X.Label.Text, p.Y.Label.Text
	for range 2 {
		dc := p.DataCanvas(c)
		fitAxisLabel(&p.X, xl, dc.Max.X-dc.Min.X)
		fitAxisLabel(&p.Y, yl, dc.Max.Y-dc.Min.Y)
		dc = p.DataCanvas(c)
		fitAxisTicks(&p.X, dc.Max.X-dc.Min.X, true)
		fitAxisTicks(&p.Y, dc.Max.Y-dc.Min.Y, false)
	}
}

// fitAxisLabel sets ax's label to text fitted to the axis length.
func fitAxisLabel(ax *plot.Axis, text string, length vg.Length) {
	if text == "" {
		return
	}
	f := fitText(text, sansFont, labelSize, minLabelSize, length, 2)
	ax.Label.Text = f.text()
	ax.Label.TextStyle.Font.Size = f.size
}

// labelExtent is the length along its axis that each of an axis's tick labels takes.
func labelExtent(ax *plot.Axis, labels []string, horizontal bool) vg.Length {
	sty := ax.Tick.Label
	var w, h vg.Length
	for _, l := range labels {
		w = max(w, sty.Width(l))
		h = max(h, sty.Height(l))
	}
	if !horizontal {
		return h // y labels stand upright, one above the other
	}
	if s := math.Abs(math.Sin(sty.Rotation)); s > 1e-3 {
		// Parallel slanted labels are apart when their lines are: height / sin(angle).
		return min(w, h/vg.Length(s))
	}
	return w
}

func fitAxisTicks(ax *plot.Axis, length vg.Length, horizontal bool) {
	switch m := ax.Tick.Marker.(type) {
	case indexTicker:
		if m.n == 0 || !(ax.Max > ax.Min) {
			return
		}
		cell := length / vg.Length(ax.Max-ax.Min)
		labels := make([]string, m.n)
		for i := range labels {
			labels[i] = m.label(i)
		}
		if m.categorical && horizontal {
			labels = layoutCategories(ax, labels, cell)
			m.labels = labels
		}
		ext := labelExtent(ax, labels, horizontal)
		m.step = indexStep(m.n, cell, ext+labelGap(ext))
		ax.Tick.Marker = m
	case niceTicks:
		if !(ax.Max > ax.Min) {
			return
		}
		var labels []string
		for _, t := range m.Ticks(ax.Min, ax.Max) {
			labels = append(labels, t.Label)
		}
		m.limit = m.max()
		m.n = tickCount(length, labelExtent(ax, labels, horizontal), m.limit)
		ax.Tick.Marker = m
	}
}

// layoutCategories sets how category names sit under their bars, each category being cell
// long: side by side when they fit; else wrapped onto up to three lines; else slanted. It returns
// the labels as they will be drawn.
func layoutCategories(ax *plot.Axis, labels []string, cell vg.Length) []string {
	sty := ax.Tick.Label
	sty.Rotation = 0
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
	room := cell - labelGap(0)
	fits := true
	for _, l := range labels {
		fits = fits && sty.Width(l) <= room
	}
	if fits {
		ax.Tick.Label = sty
		return labels
	}
	wrapped := make([]string, len(labels))
	for i, l := range labels {
		f := fitText(l, sansFont, sty.Font.Size, sty.Font.Size, room, 3)
		if len(f.lines) > 3 || f.width() > room || strings.Count(l, " ") < len(f.lines)-1 {
			wrapped = nil // would break a word: slant instead
			break
		}
		wrapped[i] = f.text()
	}
	if wrapped != nil {
		ax.Tick.Label = sty
		return wrapped
	}
	sty.Rotation = 0.5
	sty.XAlign, sty.YAlign = draw.XRight, draw.YTop
	ax.Tick.Label = sty
	return labels
}

// gridLine is a light line style for background grids and window boundaries.
func lineStyle(c color.Color, width vg.Length, dashes ...vg.Length) draw.LineStyle {
	return draw.LineStyle{Color: c, Width: width, Dashes: dashes}
}

// lightGrid is a background grid faint enough not to compete with the data; vertical lines
// only when asked (bar charts and histograms need only horizontal ones).
func lightGrid(vertical bool) *plotter.Grid {
	g := plotter.NewGrid()
	g.Horizontal = lineStyle(color.Gray{Y: 225}, 0.5)
	g.Vertical = lineStyle(color.Gray{Y: 225}, 0.5)
	if !vertical {
		g.Vertical.Color = nil
	}
	return g
}
