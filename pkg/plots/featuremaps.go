package plots

import (
	"fmt"
	"image/color"
	"math"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gostudy/gostudy/pkg/display"
)

// DefaultMaxChannels is how many channels [FeatureMaps] shows when MaxChannels is zero: an
// 8×4 grid still leaves each map about 90 pixels wide at notebook width.
const DefaultMaxChannels = 32

// FeatureMaps shows the channels of an activation as a grid of heatmaps, one per channel,
// with a colour bar. The grid adapts to the map size: small maps get more columns, large
// ones fewer and bigger panels; channels beyond MaxChannels are left out and the figure says
// how many.
type FeatureMaps struct {
	// Data is [H, W, C] or [B, H, W, C] (channels last, GoMLX's layout), or [C, H, W] and
	// [B, C, H, W] with ChannelsFirst; a 2-D [H, W] map is one channel. A *tensors.Tensor or a
	// nested slice of numbers.
	Data any
	// ChannelsFirst reads Data as [C, H, W] or [B, C, H, W] (PyTorch's layout).
	ChannelsFirst bool
	// Batch picks the batch item of 4-D data.
	Batch int
	// Channels lists the channels to show, in order; empty means the first MaxChannels.
	Channels []int
	// MaxChannels caps the panels (default [DefaultMaxChannels]).
	MaxChannels int
	// PerChannel scales each map to its own minimum and maximum, to see the pattern in weak
	// channels; the default is one scale for all, to compare channels' strength.
	PerChannel bool
	// Symmetric centres the scale on zero and uses a diverging blue–red colour map, for
	// signed data such as pre-activation outputs or differences.
	Symmetric bool
	// ColorMap overrides the colour map.
	ColorMap palette.ColorMap
	// Labels names the channels (default "c0", "c1", ...).
	Labels []string
	// Title is the figure title (default "Feature maps").
	Title string
	// BarLabel labels the colour bar (default "activation").
	BarLabel string
	// Unit names the panels in the figure's note (default "channels"; "heads", "windows").
	Unit string
	// Width and Height are the figure size in CSS pixels (0: 800 wide, height from the grid).
	Width, Height int
}

// MIMEBundle implements display.Bundler.
func (f FeatureMaps) MIMEBundle() (display.Bundle, map[string]any) { return bundle(f) }

// SVG draws the figure as an SVG document.
func (f FeatureMaps) SVG() ([]byte, error) { return renderSVG(f) }

// PNG draws the figure as a PNG image.
func (f FeatureMaps) PNG() ([]byte, error) { return renderPNG(f) }

// Save writes the figure to path; the extension picks the format.
func (f FeatureMaps) Save(path string) error { return saveFigure(f, path) }

func (f FeatureMaps) sizePx() (int, int) { return f.Width, f.Height }

type fmPlan struct {
	f            FeatureMaps
	h, w         int
	maps         [][]float64 // selected channels, row-major [h*w]
	names        []string
	lo, hi       float64 // shared scale (colour bar range)
	ranges       [][2]float64
	cm           palette.ColorMap
	note, barLbl string
	shown, total int
}

func (f FeatureMaps) plan() (plan, error) {
	a, offset, err := f.batchItem()
	if err != nil {
		return nil, fmt.Errorf("feature maps: %w", err)
	}
	d := a.dims
	batches, batch := 1, 0
	var hAx, wAx, cAx int
	switch len(d) {
	case 2:
		d = []int{d[0], d[1], 1}
		hAx, wAx, cAx = 0, 1, 2
	case 3:
		if f.ChannelsFirst {
			cAx, hAx, wAx = 0, 1, 2
		} else {
			hAx, wAx, cAx = 0, 1, 2
		}
	case 4:
		batches, batch = d[0], f.Batch
		if batch < 0 || batch >= batches {
			return nil, fmt.Errorf("feature maps: batch item %d of %d", batch, batches)
		}
		d = d[1:]
		if f.ChannelsFirst {
			cAx, hAx, wAx = 0, 1, 2
		} else {
			hAx, wAx, cAx = 0, 1, 2
		}
	default:
		return nil, fmt.Errorf("feature maps: data of shape %v, want [H,W,C] or [B,H,W,C]", a.dims)
	}
	H, W, C := d[hAx], d[wAx], d[cAx]
	start := batch*H*W*C - offset
	item := a.data[start : start+H*W*C]
	strides := [3]int{d[1] * d[2], d[2], 1}

	maxCh := f.MaxChannels
	if maxCh <= 0 {
		maxCh = DefaultMaxChannels
	}
	chans := f.Channels
	if len(chans) == 0 {
		for c := range min(C, maxCh) {
			chans = append(chans, c)
		}
	} else if len(chans) > maxCh {
		chans = chans[:maxCh]
	}
	p := &fmPlan{f: f, h: H, w: W, shown: len(chans), total: C}
	for _, c := range chans {
		if c < 0 || c >= C {
			return nil, fmt.Errorf("feature maps: channel %d out of range [0, %d)", c, C)
		}
		m := make([]float64, H*W)
		for y := range H {
			for x := range W {
				var idx [3]int
				idx[hAx], idx[wAx], idx[cAx] = y, x, c
				m[y*W+x] = item[idx[0]*strides[0]+idx[1]*strides[1]+idx[2]]
			}
		}
		p.maps = append(p.maps, m)
		name := fmt.Sprintf("c%d", c)
		if c < len(f.Labels) {
			name = f.Labels[c]
		}
		p.names = append(p.names, name)
		lo, hi := finiteRange(m)
		p.ranges = append(p.ranges, [2]float64{lo, hi})
	}

	if f.PerChannel {
		p.lo, p.hi = 0, 1
		if f.Symmetric {
			p.lo = -1
		}
		p.barLbl = "per-channel scale"
	} else {
		var all []float64
		for _, m := range p.maps {
			all = append(all, m...)
		}
		p.lo, p.hi = finiteRange(all)
		if f.Symmetric {
			m := math.Max(math.Abs(p.lo), math.Abs(p.hi))
			p.lo, p.hi = -m, m
		}
		p.lo, p.hi = widen(p.lo, p.hi)
		p.barLbl = "activation"
	}
	if f.BarLabel != "" {
		p.barLbl = f.BarLabel
	}
	p.cm = colorMapFor(f.ColorMap, f.Symmetric)

	unit := f.Unit
	if unit == "" {
		unit = "channels"
	}
	var parts []string
	if p.shown < C {
		parts = append(parts, fmt.Sprintf("%d of %d %s shown (%d left out)", p.shown, C, unit, C-p.shown))
	} else {
		parts = append(parts, fmt.Sprintf("%d %s", C, unit))
	}
	parts = append(parts, fmt.Sprintf("%d×%d", H, W))
	if batches > 1 {
		parts = append(parts, fmt.Sprintf("batch item %d of %d", batch, batches))
	}
	if f.PerChannel {
		parts = append(parts, "each channel scaled to its own range")
	} else {
		parts = append(parts, "one shared scale")
	}
	p.note = strings.Join(parts, " · ")
	return p, nil
}

// batchItem converts the data to float64. For a 4-D tensor it converts only the batch item
// shown (a [64,56,56,256] activation is 51M values; one item is 0.8M), returning the index
// of its first value within the whole tensor.
func (f FeatureMaps) batchItem() (a array, offset int, err error) {
	t, ok := f.Data.(*tensors.Tensor)
	if !ok || t == nil || t.Rank() != 4 {
		a, err = toArray(f.Data)
		return a, 0, err
	}
	dims := t.Shape().Dimensions
	if f.Batch < 0 || f.Batch >= dims[0] {
		return array{}, 0, fmt.Errorf("batch item %d of %d", f.Batch, dims[0])
	}
	per := dims[1] * dims[2] * dims[3]
	a, err = tensorRange(t, f.Batch*per, (f.Batch+1)*per)
	if err != nil {
		return array{}, 0, err
	}
	a.dims = append([]int(nil), dims...) // the full shape; a.data holds one item
	return a, f.Batch * per, nil
}

func (p *fmPlan) title() string {
	if p.f.Title != "" {
		return p.f.Title
	}
	return "Feature maps"
}

func (p *fmPlan) summary() string {
	scale := fmt.Sprintf("shared scale [%.4g, %.4g]", p.lo, p.hi)
	if p.f.PerChannel {
		scale = "per-channel scale"
	}
	unit := p.f.Unit
	if unit == "" {
		unit = "channels"
	}
	return fmt.Sprintf("%s: %d of %d %s, %d×%d, %s", p.title(), p.shown, p.total, unit, p.h, p.w, scale)
}

const (
	fmGap      = vg.Length(6)
	fmBarWidth = vg.Length(70)
)

type fmLayout struct {
	cols, rows int
	pw, ph     vg.Length // panel image size
	lh         vg.Length // label height (the tallest fitted label, plus a gap)
	gridW      vg.Length
	labels     []fitted // the panel labels fitted to the panel width
}

func (l fmLayout) gridH() vg.Length {
	return vg.Length(l.rows)*(l.lh+l.ph) + vg.Length(l.rows-1)*fmGap
}

// barH is the colour bar's height: the grid's, within limits that keep it readable.
func (l fmLayout) barH() vg.Length { return min(max(l.gridH()-l.lh, 110), 320) }

func (p *fmPlan) layout(w vg.Length) fmLayout {
	n := len(p.maps)
	gridW := w - 2*margin - fmBarWidth - fmGap
	natural := vg.Length(math.Max(44, math.Min(150, float64(pt(2.5*float64(p.w))))))
	cols := int((gridW + fmGap) / (natural + fmGap))
	cols = max(1, min(cols, n))
	pw := (gridW - vg.Length(cols-1)*fmGap) / vg.Length(cols)
	pw = min(pw, 240)
	ph := pw * vg.Length(p.h) / vg.Length(p.w)
	l := fmLayout{cols: cols, rows: (n + cols - 1) / cols, pw: pw, ph: ph, gridW: gridW}
	// Labels wider than a panel ("window 12" over a 40-point mask) shrink, then wrap onto a
	// second line: neighbours never overlap.
	l.lh = textStyle(sansFont, smallSize, 0, 0).Height("c0")
	for i := range p.maps {
		f := fitText(p.panelName(i, pw), sansFont, smallSize, minPanelSize, pw, 2)
		l.labels = append(l.labels, f)
		l.lh = max(l.lh, f.height())
	}
	l.lh += 2
	return l
}

// panelName is panel i's label: the channel's name, with its own range when each channel
// has its own scale and the range fits the panel width.
func (p *fmPlan) panelName(i int, pw vg.Length) string {
	name := p.names[i]
	if p.f.PerChannel {
		if ranged := fmt.Sprintf("%s [%.2g, %.2g]", name, p.ranges[i][0], p.ranges[i][1]); textWidth(sansFont, smallSize, ranged) <= pw {
			name = ranged
		}
	}
	return name
}

func (p *fmPlan) heightFor(w vg.Length) vg.Length {
	l := p.layout(w)
	inner := w - 2*margin
	return 2*margin + titleHeight(p.title(), inner) + noteHeight(p.note, inner) + max(l.gridH(), l.lh+l.barH())
}

func (p *fmPlan) draw(dc draw.Canvas) {
	dc = inset(dc, margin)
	dc = drawTitle(dc, p.title())
	dc = drawNote(dc, p.note)
	w := dc.Max.X - dc.Min.X + 2*margin
	l := p.layout(w)
	used := vg.Length(l.cols)*l.pw + vg.Length(l.cols-1)*fmGap
	x0 := dc.Min.X + (l.gridW-used)/2
	top := dc.Max.Y
	sx, sy := blockScales(p.h, p.w, l.pw, l.ph)
	for i, m := range p.maps {
		r, c := i/l.cols, i%l.cols
		px := x0 + vg.Length(c)*(l.pw+fmGap)
		py := top - vg.Length(r)*(l.lh+l.ph+fmGap)
		lo, hi := p.lo, p.hi
		if p.f.PerChannel {
			lo, hi = widen(p.ranges[i][0], p.ranges[i][1])
			if p.f.Symmetric {
				mx := math.Max(math.Abs(lo), math.Abs(hi))
				lo, hi = -mx, mx
			}
		}
		// Labels sit on the panel's top edge, whatever their number of lines.
		label := l.labels[i]
		dc.FillText(label.style(draw.XCenter, draw.YBottom), vg.Point{X: px + l.pw/2, Y: py - l.lh + 1}, label.text())
		img := heatImage(m, p.h, p.w, newLUT(p.cm, lo, hi), sx, sy)
		rect := vg.Rectangle{Min: vg.Point{X: px, Y: py - l.lh - l.ph}, Max: vg.Point{X: px + l.pw, Y: py - l.lh}}
		dc.DrawImage(rect, img)
		markArea(dc, areaPanel, rect, p.h, p.w)
		dc.StrokeLines(lineStyle(color.Gray{Y: 160}, 0.5), []vg.Point{
			rect.Min, {X: rect.Max.X, Y: rect.Min.Y}, rect.Max, {X: rect.Min.X, Y: rect.Max.Y}, rect.Min,
		})
	}
	barX := dc.Max.X - fmBarWidth
	colorBar(sub(dc, barX, top-l.lh-l.barH(), dc.Max.X, top-l.lh), p.cm, p.lo, p.hi, p.barLbl)
}
