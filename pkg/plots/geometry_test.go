package plots

import (
	"bytes"
	"fmt"
	"image/color"
	"image/png"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
)

// This file: geometry checks on rendered SVG. Everything is measured in the SVG's own
// coordinates (points, y down) after applying every transform on the way, the way a browser
// places it: where each raster is drawn, which data area each axes declares, and the box of
// every text (from gonum's font metrics, the fonts the browser is asked to use).

// box is an axis-aligned rectangle in SVG coordinates (y down).
type box struct{ x0, y0, x1, y1 float64 }

func (b box) w() float64 { return b.x1 - b.x0 }
func (b box) h() float64 { return b.y1 - b.y0 }

func (b box) String() string {
	return fmt.Sprintf("[%.2f,%.2f–%.2f,%.2f]", b.x0, b.y0, b.x1, b.y1)
}

// affine is a 2-D transform: x' = a x + c y + e, y' = b x + d y + f (SVG's matrix order).
type affine struct{ a, b, c, d, e, f float64 }

var identity = affine{a: 1, d: 1}

// mul returns m·n: the transform of a child element whose own transform is n, inside a
// parent whose transform is m.
func (m affine) mul(n affine) affine {
	return affine{
		a: m.a*n.a + m.c*n.b, b: m.b*n.a + m.d*n.b,
		c: m.a*n.c + m.c*n.d, d: m.b*n.c + m.d*n.d,
		e: m.a*n.e + m.c*n.f + m.e, f: m.b*n.e + m.d*n.f + m.f,
	}
}

func (m affine) apply(x, y float64) (float64, float64) {
	return m.a*x + m.c*y + m.e, m.b*x + m.d*y + m.f
}

// boxOf maps the rectangle (x0,y0)–(x1,y1) through m and returns its bounding box.
func (m affine) boxOf(x0, y0, x1, y1 float64) box {
	b := box{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	for _, p := range [][2]float64{{x0, y0}, {x1, y0}, {x0, y1}, {x1, y1}} {
		x, y := m.apply(p[0], p[1])
		b.x0, b.y0 = math.Min(b.x0, x), math.Min(b.y0, y)
		b.x1, b.y1 = math.Max(b.x1, x), math.Max(b.y1, y)
	}
	return b
}

var transformRE = regexp.MustCompile(`(scale|translate|rotate)\(([^)]*)\)`)

// parseTransform reads the transform functions gonum's SVG uses.
func parseTransform(t *testing.T, s string) affine {
	t.Helper()
	m := identity
	for _, f := range transformRE.FindAllStringSubmatch(s, -1) {
		var args []float64
		for _, a := range strings.FieldsFunc(f[2], func(r rune) bool { return r == ',' || r == ' ' }) {
			v, err := strconv.ParseFloat(a, 64)
			if err != nil {
				t.Fatalf("transform %q: %v", s, err)
			}
			args = append(args, v)
		}
		var n affine
		switch f[1] {
		case "scale":
			n = affine{a: args[0], d: args[len(args)-1]}
		case "translate":
			n = affine{a: 1, d: 1, e: args[0], f: args[1]}
		case "rotate":
			s, c := math.Sincos(args[0] * math.Pi / 180)
			n = affine{a: c, b: s, c: -s, d: c}
		}
		m = m.mul(n)
	}
	return m
}

// geoText is one <text> of a figure: its content, size, weight, fill, the bounding box of
// its line box and the corners of its ink (the line box less 15% of the size at top and
// bottom, turned with the text).
type geoText struct {
	s    string
	size float64
	bold bool
	fill color.NRGBA
	box  box
	ink  [4][2]float64
}

// quad returns the corners of (x0,y0)–(x1,y1) mapped through m.
func (m affine) quad(x0, y0, x1, y1 float64) [4][2]float64 {
	var q [4][2]float64
	for i, p := range [][2]float64{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}} {
		q[i][0], q[i][1] = m.apply(p[0], p[1])
	}
	return q
}

// inkOverlap returns how deeply two convex quadrilaterals overlap: the smallest overlap of
// their projections over the axes of both (the separating axis theorem); ≤ 0 when apart.
func inkOverlap(a, b [4][2]float64) float64 {
	depth := math.Inf(1)
	for _, q := range [][4][2]float64{a, b} {
		for i := range 4 {
			ex, ey := q[(i+1)%4][0]-q[i][0], q[(i+1)%4][1]-q[i][1]
			n := math.Hypot(ex, ey)
			if n == 0 {
				continue
			}
			ax, ay := -ey/n, ex/n
			lo := func(p [4][2]float64) (float64, float64) {
				mn, mx := math.Inf(1), math.Inf(-1)
				for _, c := range p {
					v := c[0]*ax + c[1]*ay
					mn, mx = math.Min(mn, v), math.Max(mx, v)
				}
				return mn, mx
			}
			amin, amax := lo(a)
			bmin, bmax := lo(b)
			depth = math.Min(depth, math.Min(amax, bmax)-math.Max(amin, bmin))
		}
	}
	return depth
}

// geoImage is one raster: where it is drawn and how it keeps its aspect ratio.
type geoImage struct {
	box                 box
	preserveAspectRatio string
}

// geoArea is a data area a figure declares (see marks.go).
type geoArea struct {
	kind       string
	rows, cols int
	box        box
}

// geometry is what the geometry tests look at in a rendered figure.
type geometry struct {
	width, height float64
	texts         []geoText
	images        []geoImage
	areas         []geoArea
}

func attrFloat(t *testing.T, attr map[string]string, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(strings.TrimSuffix(attr[name], "pt"), 64)
	if err != nil {
		t.Fatalf("attribute %s=%q: %v", name, attr[name], err)
	}
	return v
}

var (
	fontSizeRE = regexp.MustCompile(`font-size:([0-9.]+)px`)
	fillRE     = regexp.MustCompile(`fill:#([0-9A-Fa-f]{6})`)
)

// parseGeometry reads a figure's SVG, applying the group transforms.
func parseGeometry(t *testing.T, svg []byte) geometry {
	t.Helper()
	var g geometry
	stack := []affine{identity}
	var cur *geoText
	var curM affine
	var curX, curY float64
	svgTokens(t, svg, func(name string, attr map[string]string) {
		m := stack[len(stack)-1].mul(parseTransform(t, attr["transform"]))
		stack = append(stack, m)
		switch name {
		case "svg":
			g.width, g.height = attrFloat(t, attr, "width"), attrFloat(t, attr, "height")
		case "image":
			x, y := attrFloat(t, attr, "x"), attrFloat(t, attr, "y")
			w, h := attrFloat(t, attr, "width"), attrFloat(t, attr, "height")
			g.images = append(g.images, geoImage{box: m.boxOf(x, y, x+w, y+h), preserveAspectRatio: attr["preserveAspectRatio"]})
		case "rect":
			if attr["class"] != "gostudy-area" {
				return
			}
			x, y := attrFloat(t, attr, "x"), attrFloat(t, attr, "y")
			w, h := attrFloat(t, attr, "width"), attrFloat(t, attr, "height")
			a := geoArea{kind: attr["data-kind"], box: m.boxOf(x, y, x+w, y+h)}
			fmt.Sscan(attr["data-cells"], &a.rows, &a.cols)
			g.areas = append(g.areas, a)
		case "text":
			style := attr["style"]
			sm := fontSizeRE.FindStringSubmatch(style)
			if sm == nil {
				t.Fatalf("text without a font size: %q", style)
			}
			size, _ := strconv.ParseFloat(sm[1], 64)
			fill := color.NRGBA{A: 255} // SVG's default, which gonum leaves out
			if fm := fillRE.FindStringSubmatch(style); fm != nil {
				v, _ := strconv.ParseUint(fm[1], 16, 32)
				fill = color.NRGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 255}
			}
			cur = &geoText{size: size, bold: strings.Contains(style, "font-weight:bold"), fill: fill}
			curM, curX, curY = m, attrFloat(t, attr, "x"), attrFloat(t, attr, "y")
		}
	}, func(text string) {
		if cur != nil {
			cur.s += text
		}
	}, func(name string) {
		stack = stack[:len(stack)-1]
		if name != "text" || cur == nil {
			return
		}
		f := sansFont
		if cur.bold {
			f = boldFont
		}
		sty := textStyle(f, vg.Length(cur.size), 0, 0)
		ext := sty.FontExtents()
		w := float64(sty.Width(cur.s))
		// The glyphs' box in the text's own coordinates: y grows downwards from the baseline,
		// ascenders above it.
		cur.box = curM.boxOf(curX, curY-float64(ext.Ascent), curX+w, curY+float64(ext.Descent))
		shave := 0.15 * cur.size
		cur.ink = curM.quad(curX, curY-float64(ext.Ascent)+shave, curX+w, curY+float64(ext.Descent)-shave)
		g.texts = append(g.texts, *cur)
		cur = nil
	})
	return g
}

func renderGeometry(t *testing.T, f Figure) geometry {
	t.Helper()
	svg, err := f.SVG()
	if err != nil {
		t.Fatalf("%T.SVG: %v", f, err)
	}
	return parseGeometry(t, svg)
}

// checkTexts fails the test when a text leaves the figure or the ink of two texts overlaps.
// Line boxes from the font's ascent and descent overlap a little between the lines of a
// wrapped title (1.15 em of box per 1 em of line), hence the ink box, 0.3 em shorter; slanted
// labels are compared as the turned rectangles they are.
func checkTexts(t *testing.T, name string, g geometry) {
	t.Helper()
	const tol = 0.5
	for _, tx := range g.texts {
		b := tx.box
		if b.x0 < -tol || b.y0 < -tol || b.x1 > g.width+tol || b.y1 > g.height+tol {
			t.Errorf("%s: text %q %v leaves the %gx%g figure", name, tx.s, b, g.width, g.height)
		}
	}
	for i, a := range g.texts {
		for _, b := range g.texts[i+1:] {
			if d := inkOverlap(a.ink, b.ink); d > tol {
				t.Errorf("%s: texts %q %v and %q %v overlap by %.1f", name, a.s, a.box, b.s, b.box, d)
			}
		}
	}
}

// areaOf returns the declared areas of a kind.
func (g geometry) areasOf(kind string) []geoArea {
	var out []geoArea
	for _, a := range g.areas {
		if a.kind == kind {
			out = append(out, a)
		}
	}
	return out
}

// checkRastersFill fails the test unless every raster fills exactly one declared data area
// (within tol points) and stretches to it.
func checkRastersFill(t *testing.T, name string, g geometry) {
	t.Helper()
	const tol = 0.01
	if len(g.images) != len(g.areas) {
		t.Errorf("%s: %d rasters, %d declared data areas", name, len(g.images), len(g.areas))
	}
	for i, img := range g.images {
		if img.preserveAspectRatio != "none" {
			t.Errorf("%s: raster %d keeps its aspect ratio (preserveAspectRatio=%q): it would not fill its area", name, i, img.preserveAspectRatio)
		}
		found := false
		for _, a := range g.areas {
			d := math.Max(math.Max(math.Abs(img.box.x0-a.box.x0), math.Abs(img.box.x1-a.box.x1)),
				math.Max(math.Abs(img.box.y0-a.box.y0), math.Abs(img.box.y1-a.box.y1)))
			found = found || d <= tol
		}
		if !found {
			t.Errorf("%s: raster %d at %v fills no declared data area (areas %v)", name, i, img.box, g.areas)
		}
	}
}

// minContrast is WCAG's contrast for normal text.
const minContrast = 4.5

func TestIndexStepKeepsLabelsApart(t *testing.T) {
	for n := 1; n <= 1000; n++ {
		for _, axis := range []vg.Length{40, 110, 300, 600} {
			cell := axis / vg.Length(n)
			for _, need := range []vg.Length{6, 12, 30} {
				step := indexStep(n, cell, need)
				if step < 1 || step > n {
					t.Fatalf("n=%d cell=%.3f need=%g: step %d out of [1, %d]", n, cell, need, step, n)
				}
				if labels := (n + step - 1) / step; labels >= 2 && vg.Length(step)*cell < need {
					t.Fatalf("n=%d axis=%g need=%g: step %d puts labels %.2f apart", n, axis, need, step, vg.Length(step)*cell)
				}
				// Minimal: the next smaller candidate would not have fitted.
				for _, s := range indexSteps {
					if s >= step {
						break
					}
					if vg.Length(s)*cell >= need {
						t.Fatalf("n=%d axis=%g need=%g: step %d chosen though %d fits", n, axis, need, step, s)
					}
				}
				if n > 1 && axis/need >= 2.2 && (n+step-1)/step < 2 {
					t.Fatalf("n=%d axis=%g need=%g: only one label though two fit", n, axis, need)
				}
			}
		}
	}
}

// heatmapData returns a rows×cols ramp.
func heatmapData(rows, cols int) [][]float64 {
	m := make([][]float64, rows)
	for r := range m {
		m[r] = make([]float64, cols)
		for c := range m[r] {
			m[r][c] = float64(r*cols + c)
		}
	}
	return m
}

func TestHeatmapTickLabelsNeverOverlap(t *testing.T) {
	sizes := []int{1, 2, 3, 5, 7, 9, 10, 13, 16, 27, 32, 49, 50, 64, 99, 100, 128, 197, 256, 500, 729, 1000}
	for _, n := range sizes {
		for _, w := range []int{800, 260} {
			name := fmt.Sprintf("%d×%d at %dpx", n, n, w)
			g := renderGeometry(t, Heatmap{Data: heatmapData(n, n), Title: "attention", Width: w})
			checkTexts(t, name, g)
			checkRastersFill(t, name, g)
			// Every cell index is labelled somewhere between 0 and n−1: the axes must not go
			// unlabelled because labels were thinned.
			labels := 0
			for _, tx := range g.texts {
				if v, err := strconv.Atoi(tx.s); err == nil && v >= 0 && v < n {
					labels++
				}
			}
			if labels < 2 {
				t.Errorf("%s: %d index labels", name, labels)
			}
		}
	}
	// The cases the issue names: a 49×49 attention map and 13×13, 27×27 bias tables side by
	// side in a grid, where each panel is narrow.
	grid := Grid{Cols: 3, Figures: []Figure{
		AttentionMap(heatmapData(49, 49), "SW-MSA, window 3, head 0"),
		Heatmap{Data: heatmapData(13, 13), Title: "relative position index (13×13)", ShowValues: true},
		Heatmap{Data: heatmapData(27, 27), Title: "bias table 27×27"},
	}}
	g := renderGeometry(t, grid)
	checkTexts(t, "grid", g)
	checkRastersFill(t, "grid", g)
}

func TestRastersFillTheirAxesAtEveryAspect(t *testing.T) {
	shapes := [][2]int{{1, 100}, {2, 100}, {5, 1024}, {3, 30}, {10, 100}, {10, 30}, {1, 1}, {7, 7}, {30, 10}, {100, 10}, {30, 3}, {100, 2}, {100, 1}}
	for _, sh := range shapes {
		rows, cols := sh[0], sh[1]
		name := fmt.Sprintf("%d×%d", rows, cols)
		g := renderGeometry(t, Heatmap{Data: heatmapData(rows, cols), Title: "ratio " + name})
		checkRastersFill(t, name, g)
		checkTexts(t, name, g)
		hm := g.areasOf(areaHeatmap)
		if len(hm) != 1 || hm[0].rows != rows || hm[0].cols != cols {
			t.Fatalf("%s: heatmap areas %v", name, hm)
		}
		a := hm[0].box
		if a.w() < 30 || a.h() < 30 {
			t.Errorf("%s: data area %v too small to see", name, a)
		}
		// The axes label the same rectangle the raster fills: tick label "0" of the x axis is
		// centred on the first column, that of the y axis on the first (top) row.
		cellW, cellH := a.w()/float64(cols), a.h()/float64(rows)
		var x0, y0 *geoText
		for i := range g.texts {
			tx := &g.texts[i]
			if tx.s != "0" {
				continue
			}
			if tx.box.y0 > a.y1 {
				x0 = tx
			} else if tx.box.x1 < a.x0 {
				y0 = tx
			}
		}
		if x0 == nil || y0 == nil {
			t.Fatalf("%s: no tick label 0 on both axes", name)
		}
		if c := (x0.box.x0 + x0.box.x1) / 2; math.Abs(c-(a.x0+cellW/2)) > 0.05 {
			t.Errorf("%s: x label 0 centred at %.2f, first column's centre %.2f", name, c, a.x0+cellW/2)
		}
		// gonum centres y labels on the line box (ascent + descent); allow for that offset.
		if c := (y0.box.y0 + y0.box.y1) / 2; math.Abs(c-(a.y0+cellH/2)) > y0.size*0.35 {
			t.Errorf("%s: y label 0 centred at %.2f, first row's centre %.2f", name, c, a.y0+cellH/2)
		}
		bars := g.areasOf(areaColorBar)
		if len(bars) != 1 || bars[0].box.w() < 10 || math.Abs(bars[0].box.h()-a.h()) > 0.01 {
			t.Errorf("%s: colour bar %v, want one at least 10pt wide and as tall as the data area %v", name, bars, a)
		}
	}
}

func TestFeatureMapPanelsAndLabelsFit(t *testing.T) {
	// Window masks: many panels, labels wider than a small panel.
	masks := make([][][]float64, 16)
	for i := range masks {
		masks[i] = heatmapData(4, 4)
	}
	for _, w := range []int{800, 300} {
		name := fmt.Sprintf("masks at %dpx", w)
		f := WindowMasks(masks, "Mask regions of the shifted map, stage 1 block 1")
		f.Width = w
		g := renderGeometry(t, f)
		checkRastersFill(t, name, g)
		checkTexts(t, name, g)
		if n := len(g.areasOf(areaPanel)); n != 16 {
			t.Errorf("%s: %d panels, want 16", name, n)
		}
	}
	// Non-square maps keep their shape in their panel.
	g := renderGeometry(t, FeatureMaps{Data: [][][]float64{heatmapData(6, 30)}, ChannelsFirst: true})
	checkRastersFill(t, "6×30 map", g)
	p := g.areasOf(areaPanel)[0].box
	if r := p.h() / p.w(); math.Abs(r-6.0/30) > 0.01 {
		t.Errorf("6×30 panel drawn %v: aspect %.3f, want %.3f", p, r, 6.0/30)
	}
}

func TestTitlesFitTheirPanel(t *testing.T) {
	long := "Attention of stage 1 block 0 (SW-MSA, window 3, head 0) over the shifted map's mask regions"
	for _, width := range []vg.Length{40, 80, 150, 300, 600} {
		f := fitTitle(long, width)
		if f.size < minTitleSize || f.size > titleSize {
			t.Errorf("width %g: size %g outside [%g, %d]", width, f.size, minTitleSize, titleSize)
		}
		for _, l := range f.lines {
			if w := textWidth(boldFont, f.size, l); w > width+1e-6 && len([]rune(l)) > 1 {
				t.Errorf("width %g: line %q is %.1f wide", width, l, w)
			}
		}
		// Nothing is lost: the lines put back together are the title (the narrowest widths
		// break words, without adding or dropping characters).
		if got := strings.ReplaceAll(strings.Join(f.lines, ""), " ", ""); got != strings.ReplaceAll(long, " ", "") {
			t.Errorf("width %g: lines %q do not add up to the title", width, f.lines)
		}
	}
	if f := fitTitle("short", 300); len(f.lines) != 1 || f.size != titleSize {
		t.Errorf("a short title was changed: %+v", f)
	}
	// A slightly long title shrinks instead of wrapping.
	w := textWidth(boldFont, titleSize, long)
	if f := fitTitle(long, w*0.95); len(f.lines) != 1 || f.size >= titleSize {
		t.Errorf("5%% too long: %d lines at %g, want one line, smaller", len(f.lines), f.size)
	}

	// In a grid of three narrow heatmaps, long titles wrap inside their own panels.
	var figs []Figure
	for i := range 3 {
		figs = append(figs, AttentionMap(heatmapData(49, 49), fmt.Sprintf("SW-MSA, window %d, head 0 of stage 1 block 0", i)))
	}
	g := renderGeometry(t, Grid{Cols: 3, Figures: figs})
	checkTexts(t, "grid titles", g)
	for i := range 3 {
		want := fmt.Sprintf("SW-MSA, window %d, head 0 of stage 1 block 0", i)
		var parts []string
		for _, tx := range g.texts {
			if tx.bold {
				parts = append(parts, tx.s)
			}
		}
		if !strings.Contains(strings.Join(parts, " "), want) && !containsInOrder(parts, want) {
			t.Errorf("title %q not drawn in full: bold texts %q", want, parts)
		}
	}
}

// containsInOrder reports whether want is the concatenation (with spaces) of consecutive
// parts.
func containsInOrder(parts []string, want string) bool {
	for i := range parts {
		s := ""
		for _, p := range parts[i:] {
			s = strings.TrimSpace(s + " " + p)
			if s == want {
				return true
			}
			if !strings.HasPrefix(want, s) {
				break
			}
		}
	}
	return false
}

func TestChartsFitAndLabelWhatTheyPlot(t *testing.T) {
	c := Curves{Title: "Dropout vs DropPath", Width: 420}
	for i := range 40 {
		c.AddMetric("train loss", "none", float64(i), 1/float64(i+1))
		c.AddMetric("train loss", "Dropout p=0.5", float64(i), 1.3/float64(i+1))
		if i%10 == 9 {
			c.AddMetric("val accuracy", "none", float64(i), 0.9)
			c.AddMetric("val accuracy", "Dropout p=0.5", float64(i), 0.88)
		}
	}
	g := renderGeometry(t, c)
	checkTexts(t, "curves", g)
	var ylabels []string
	for _, tx := range g.texts {
		if tx.box.w() < tx.box.h() && len(tx.s) > 3 { // standing text: a y axis label
			ylabels = append(ylabels, tx.s)
		}
	}
	if strings.Join(ylabels, "|") != "train loss|val accuracy" {
		t.Errorf("y labels %q, want one panel per metric: train loss, val accuracy", ylabels)
	}
	// A single y label over two metrics is refused rather than drawn wrong.
	c.YLabel = "val accuracy"
	if _, err := c.SVG(); err == nil || !strings.Contains(err.Error(), "train loss") {
		t.Errorf("YLabel over two metrics: err = %v, want an error naming them", err)
	}
	// One metric: the y axis says which.
	one := Curves{Series: []Series{{Name: "p=0", Metric: "test accuracy", Y: []float64{0.9, 0.95}}}}
	if g := renderGeometry(t, one); !hasGeoText(g, "test accuracy") {
		t.Errorf("single-metric chart does not label its y axis with the metric")
	}

	// Bars with long category names in a narrow figure: the names wrap or slant, never overlap.
	b := Bars{Title: "MNIST test accuracy (mean ± std over 3 seeds)", Width: 360,
		Categories: []string{"none", "Dropout p=0.5", "DropPath q=0.1", "Dropout p=0.5 and DropPath q=0.1", "full Swin"},
		Series:     []BarSeries{{Name: "test accuracy", Values: []float64{0.91, 0.92, 0.93, 0.9, 0.95}, Err: []float64{0.01, 0.01, 0.02, 0.01, 0.01}}}}
	checkTexts(t, "bars", renderGeometry(t, b))
	h := Histogram{Title: "Each unit's output averaged over 200 draws ÷ its input, p = 0.5", Width: 300,
		Series: []HistSeries{{Name: "with 1/(1−p)", Values: []float64{0.9, 1, 1.1, 1, 0.95}}}}
	checkTexts(t, "histogram", renderGeometry(t, h))
}

func hasGeoText(g geometry, s string) bool {
	for _, tx := range g.texts {
		if tx.s == s {
			return true
		}
	}
	return false
}

func TestTextContrastOnEveryBackground(t *testing.T) {
	bg := color.NRGBAModel.Convert(Background).(color.NRGBA)
	figs := map[string]Figure{
		"heatmap":  Heatmap{Data: heatmapData(8, 8), ShowValues: true},
		"curves":   Curves{Series: []Series{{Name: "a", Y: []float64{1, 2}}}},
		"features": FeatureMaps{Data: [][][]float64{heatmapData(4, 4)}, ChannelsFirst: true},
	}
	for name, f := range figs {
		g := renderGeometry(t, f)
		for _, tx := range g.texts {
			if _, err := strconv.ParseFloat(tx.s, 64); err == nil && name == "heatmap" {
				continue // cell values: checked against their cells below
			}
			if c := contrast(tx.fill, bg); c < minContrast {
				t.Errorf("%s: text %q in %v on %v: contrast %.2f < %.1f", name, tx.s, tx.fill, bg, c, minContrast)
			}
		}
	}
	// Cell values are drawn in black or white over their cell: whichever reads better, for
	// every colour of every colour map.
	for name, cm := range map[string]*lut{"viridis": newLUT(colorMapFor(nil, false), 0, 1),
		"diverging": newLUT(colorMapFor(nil, true), 0, 1), "gray": newLUT(colorMapFor(GrayMap(), false), 0, 1)} {
		for _, c := range cm.colors {
			txt := color.NRGBAModel.Convert(textColorOn(c)).(color.NRGBA)
			if r := contrast(txt, c); r < minContrast {
				t.Errorf("%s: value text %v on cell %v: contrast %.2f", name, txt, c, r)
			}
		}
	}
}

func TestPNGRasterPlacedOnItsArea(t *testing.T) {
	// Two rows of distinct colours (top row the minimum, bottom the maximum) in a flat
	// heatmap: the PNG must show each row's colour right up to the edges of the data area
	// the SVG declares for the same figure, and not beyond.
	rows, cols := 2, 50
	data := make([][]float64, rows)
	for r := range data {
		data[r] = make([]float64, cols)
		for c := range data[r] {
			data[r][c] = float64(r)
		}
	}
	h := Heatmap{Data: data, Width: 600, NoColorBar: true}
	g := renderGeometry(t, h)
	a := g.areasOf(areaHeatmap)[0].box
	raw, err := h.PNG()
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	scale := float64(img.Bounds().Dx()) / g.width // device pixels per point
	l := newLUT(colorMapFor(nil, false), 0, 1)
	top, bottom := l.at(0), l.at(1)
	at := func(x, y float64) color.NRGBA {
		return color.NRGBAModel.Convert(img.At(int(x*scale), int(y*scale))).(color.NRGBA)
	}
	same := func(c, want color.NRGBA) bool {
		d := func(a, b uint8) int { return max(int(a)-int(b), int(b)-int(a)) }
		return d(c.R, want.R) <= 8 && d(c.G, want.G) <= 8 && d(c.B, want.B) <= 8
	}
	in := 1.5 / scale // 1.5 device pixels inside the edge
	for _, p := range []struct {
		x, y float64
		want color.NRGBA
	}{
		{a.x0 + in, a.y0 + in, top}, {a.x1 - in, a.y0 + in, top},
		{a.x0 + in, a.y1 - in, bottom}, {a.x1 - in, a.y1 - in, bottom},
		{(a.x0 + a.x1) / 2, a.y0 + a.h()/2 - 2*in, top}, {(a.x0 + a.x1) / 2, a.y0 + a.h()/2 + 2*in, bottom},
	} {
		if c := at(p.x, p.y); !same(c, p.want) {
			t.Errorf("PNG at (%.1f, %.1f)pt is %v, want %v: the raster does not reach its area %v", p.x, p.y, c, p.want, a)
		}
	}
	out := 2.5 / scale
	for _, p := range [][2]float64{{a.x1 + out, a.y0 + a.h()/4}, {(a.x0 + a.x1) / 2, a.y0 - out}} {
		if c := at(p[0], p[1]); same(c, top) || same(c, bottom) {
			t.Errorf("PNG at (%.1f, %.1f)pt is %v: the raster spills out of its area %v", p[0], p[1], c, a)
		}
	}
}
