package plots

import (
	"image/color"
	"math"
	"strconv"

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
// ten) with minor ticks between them.
type niceTicks struct{ n int }

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

// indexTicks labels cells 0..n-1 of a heatmap axis at their centres, at most about max of
// them (every k-th for a round k). Cell i spans [i, i+1) in data units; toData maps a cell
// index to the value it is drawn at, so that the y axis can run top to bottom.
func indexTicks(n, maxLabels int, labels []string, toData func(i int) float64) plot.ConstantTicks {
	step := 1
	for _, s := range []int{1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 50, 64, 100, 128, 200, 256, 500, 1000} {
		step = s
		if (n+s-1)/s <= maxLabels {
			break
		}
	}
	var ticks plot.ConstantTicks
	for i := 0; i < n; i += step {
		label := strconv.Itoa(i)
		if i < len(labels) {
			label = labels[i]
		}
		ticks = append(ticks, plot.Tick{Value: toData(i), Label: label})
	}
	return ticks
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
