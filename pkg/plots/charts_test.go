package plots

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gostudy/gostudy/pkg/display"
)

func TestCurves(t *testing.T) {
	var c Curves
	for i := range 50 {
		c.Add("train", float64(i), 1/float64(i+1))
	}
	for i := range 5 {
		c.Add("val", float64(10*i), 0.5/float64(i+1))
	}
	if len(c.Series) != 2 || len(c.Series[0].Y) != 50 || c.Series[1].X[4] != 40 {
		t.Fatalf("Add built %+v", c.Series)
	}
	d := render(t, c)
	for _, s := range []string{"Curves", "train", "val", "step", "value"} {
		if !d.hasText(s) {
			t.Errorf("text %q missing from %q", s, d.texts)
		}
	}
	if !near(d.width, 600, 0.01) || d.height < 280 || d.height > 340 {
		t.Errorf("size %g×%gpt, want 600 wide and about half as tall", d.width, d.height)
	}
	b, _ := c.MIMEBundle()
	if got := b[display.MIMEText]; got != "Curves: train (50 points, last 0.02), val (5 points, last 0.1)" {
		t.Errorf("summary %q", got)
	}

	// Markers (circles, drawn as paths) only on short series: the 5 validation points.
	noVal := render(t, Curves{Series: c.Series[:1]})
	if n := d.paths - noVal.paths; n != 7 { // its line, 5 markers, its line in the key
		t.Errorf("the 5-point series added %d paths, want 7 (line, markers, key)", n)
	}

	// Error bars: 3 points, each a bar and two caps.
	withErr := Curves{XTicks: []string{"a", "b", "c"}, Series: []Series{{Name: "acc", Y: []float64{1, 2, 3}, Err: []float64{0.1, 0.2, 0.1}}}}
	noErr := withErr
	noErr.Series = []Series{{Name: "acc", Y: []float64{1, 2, 3}}}
	de, dn := render(t, withErr), render(t, noErr)
	// Error bars are the series colour at width 1.2.
	if n, m := de.countPaths("stroke:#1F77B4;", "stroke-width:1.2;"), dn.countPaths("stroke-width:1.2;"); n != 9 || m != 0 {
		t.Errorf("%d error-bar paths (%d without errors), want 9 (3 × bar and 2 caps)", n, m)
	}
	for _, s := range []string{"a", "b", "c", "acc"} {
		if !de.hasText(s) {
			t.Errorf("categorical tick %q missing", s)
		}
	}
	if de.hasText("Curves") || !de.hasText("acc") {
		t.Errorf("a single series should title the chart: %q", de.texts)
	}

	// Log scale drops non-positive values instead of failing.
	logc := Curves{LogY: true, Series: []Series{{Name: "loss", Y: []float64{1, 0.1, 0, -1, 0.01}, Err: []float64{2, 0, 0, 0, 0}}}}
	p, err := logc.plan()
	if err != nil {
		t.Fatal(err)
	}
	if cp := p.(*curvesPlan); cp.dropped != 2 || len(cp.series[0].Y) != 3 {
		t.Errorf("log plan kept %v, dropped %d", cp.series[0].Y, cp.dropped)
	}
	render(t, logc)

	if _, err := (Curves{Series: []Series{{X: []float64{1}, Y: []float64{1, 2}}}}).SVG(); err == nil {
		t.Error("mismatched X and Y accepted")
	}
	if d := render(t, Curves{Title: "empty"}); !d.hasText("no data yet") {
		t.Error("an empty chart does not say so")
	}
}

func TestEMA(t *testing.T) {
	got := ema([]float64{1, 1, 1, 4}, 0.5)
	// Debiased: constant input gives itself; then (0.5·acc + 0.5·4)/weight.
	// acc after 3 ones = 0.875, weight 0.875; step 4: acc = 0.4375+2 = 2.4375, weight 0.9375.
	want := []float64{1, 1, 1, 2.4375 / 0.9375}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("ema[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	smooth := Curves{Smooth: 0.9, Series: []Series{{Name: "loss", Y: make([]float64, 100)}}}
	raw := Curves{Series: smooth.Series}
	if n := render(t, smooth).paths - render(t, raw).paths; n != 1 {
		t.Errorf("smoothing added %d paths, want 1 (the average over the faint raw line)", n)
	}
	if _, err := (Curves{Smooth: 1}).SVG(); err == nil {
		t.Error("Smooth = 1 accepted")
	}
}

func TestBars(t *testing.T) {
	b := Bars{Title: "ablation", YLabel: "Dice", Categories: []string{"base", "+GGB", "+BD"},
		Series: []BarSeries{
			{Name: "mean", Values: []float64{0.71, 0.75, 0.74}, Err: []float64{0.02, 0.01, 0.03}},
			{Name: "best", Values: []float64{0.73, 0.77, 0.78}},
		}, ShowValues: true}
	d := render(t, b)
	for _, s := range []string{"ablation", "Dice", "base", "+GGB", "+BD", "mean", "best", "0.71", "0.78"} {
		if !d.hasText(s) {
			t.Errorf("text %q missing from %q", s, d.texts)
		}
	}
	if n := d.countStyle("fill:none;stroke:#000000"); n != 9 { // width 1 is SVG's default, left out
		t.Errorf("%d error-bar paths, want 3 × (bar + 2 caps)", n)
	}
	p, _ := b.plan()
	if got := p.summary(); got != "ablation: 3 categories; mean [0.71 0.75 0.74]; best [0.73 0.77 0.78]" {
		t.Errorf("summary %q", got)
	}
	// The y range covers zero and the top of the highest error bar.
	_, _, ymin, ymax := groupedBars{b: b}.DataRange()
	if ymin != 0 || ymax < 0.78 {
		t.Errorf("y range [%g, %g]", ymin, ymax)
	}
	for name, bad := range map[string]Bars{
		"no categories": {Series: b.Series},
		"short series":  {Categories: []string{"a", "b"}, Series: []BarSeries{{Values: []float64{1}}}},
		"NaN":           {Categories: []string{"a"}, Series: []BarSeries{{Values: []float64{math.NaN()}}}},
	} {
		if _, err := bad.SVG(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestHistogramCountsAndMeans(t *testing.T) {
	vals := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	scaled := []float32{0, 2, 4, 6, 8, 10, 12, 14, 16, 18}
	h := Histogram{Title: "dropout", Bins: 9, Series: []HistSeries{{"x", vals}, {"2x", scaled}}, ShowMean: true}
	pl, err := h.plan()
	if err != nil {
		t.Fatal(err)
	}
	p := pl.(*histPlan)
	if p.lo != 0 || p.hi != 18 {
		t.Errorf("range [%g, %g], want [0, 18] over both series", p.lo, p.hi)
	}
	// Bins of width 2: x puts 2 values in each of the first 5 bins.
	wantX := []float64{2, 2, 2, 2, 2, 0, 0, 0, 0}
	for b, c := range p.counts[0] {
		if c != wantX[b] {
			t.Errorf("x bin %d = %g, want %g", b, c, wantX[b])
		}
	}
	if p.counts[1][8] != 2 || p.means[0] != 4.5 || p.means[1] != 9 {
		t.Errorf("2x last bin %g, means %v", p.counts[1][8], p.means)
	}
	d := render(t, h)
	for _, s := range []string{"dropout", "x (mean 4.5)", "2x (mean 9)", "value", "count"} {
		if !d.hasText(s) {
			t.Errorf("text %q missing from %q", s, d.texts)
		}
	}

	// Density: each series integrates to 1.
	h.Density = true
	pl, _ = h.plan()
	p = pl.(*histPlan)
	width := (p.hi - p.lo) / float64(p.bins)
	for s, counts := range p.counts {
		area := 0.0
		for _, c := range counts {
			area += c * width
		}
		if math.Abs(area-1) > 1e-12 {
			t.Errorf("series %d area %g, want 1", s, area)
		}
	}
	if !render(t, h).hasText("density") {
		t.Error("density axis not labelled")
	}

	// A fixed range says what fell outside.
	fixed := Histogram{Series: []HistSeries{{"x", vals}}, Min: 0, Max: 5, Bins: 5}
	if note := render(t, fixed).textContaining("outside"); note != "x: 4 samples outside [0, 5]" {
		t.Errorf("note %q", note)
	}
	if _, err := (Histogram{}).SVG(); err == nil {
		t.Error("empty histogram accepted")
	}
}

func TestGrid(t *testing.T) {
	h := Heatmap{Data: [][]float64{{1, 2}, {3, 4}}, Title: "left"}
	c := Curves{Title: "right", Series: []Series{{Name: "s", Y: []float64{1, 2, 3}}}}
	f := FeatureMaps{Data: hwc(4, 4, 2), Title: "below"}
	g := Grid{Title: "all", Cols: 2, Figures: []Figure{h, c, f}}
	d := render(t, g)
	for _, s := range []string{"all", "left", "right", "below", "c0", "c1"} {
		if !d.hasText(s) {
			t.Errorf("text %q missing", s)
		}
	}
	// heatmap raster + colour bar, 2 feature maps + colour bar.
	if len(d.images) != 5 {
		t.Errorf("%d images, want 5", len(d.images))
	}
	// The third figure is on the second row: its panels are below the heatmap.
	if d.images[2].y <= d.images[0].y+d.images[0].h {
		t.Errorf("second-row panel at y=%g overlaps the first row (heatmap ends at %g)", d.images[2].y, d.images[0].y+d.images[0].h)
	}
	p, _ := g.plan()
	if s := p.summary(); !strings.HasPrefix(s, "all: Grid of 3 figures in 2 columns\nleft: 2×2 matrix") {
		t.Errorf("summary %q", s)
	}
	if _, err := (Grid{Figures: []Figure{h, Heatmap{}}}).SVG(); err == nil || !strings.Contains(err.Error(), "figure 1") {
		t.Errorf("bad sub-figure error %v", err)
	}
}

func TestSaveFormatsAndPNG(t *testing.T) {
	dir := t.TempDir()
	h := Heatmap{Data: [][]float64{{0, 1}, {1, 0}}}
	magic := map[string]string{"svg": "<?xml", "png": "\x89PNG", "jpg": "\xff\xd8\xff", "tif": "II*\x00"}
	for ext, m := range magic {
		path := filepath.Join(dir, "sub", "fig."+ext)
		if err := h.Save(path); err != nil {
			t.Fatalf("save %s: %v", ext, err)
		}
		data, _ := os.ReadFile(path)
		if !bytes.HasPrefix(data, []byte(m)) {
			t.Errorf("%s file starts with %q", ext, data[:min(8, len(data))])
		}
	}
	for _, bad := range []string{"fig.bmp", "fig.pdf"} {
		if err := h.Save(filepath.Join(dir, bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}

	raw, err := h.PNG()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(raw))
	if err != nil || cfg.Width != 800*PNGScale {
		t.Errorf("PNG %d px wide (%v), want %d", cfg.Width, err, 800*PNGScale)
	}
	b, md := AsPNG(h).MIMEBundle()
	data, _ := base64.StdEncoding.DecodeString(b[display.MIMEPNG].(string))
	if !bytes.Equal(data, raw) {
		t.Error("AsPNG bundle differs from PNG()")
	}
	size := md[display.MIMEPNG].(map[string]any)
	if size["width"] != 800 || math.Abs(float64(size["height"].(int)*PNGScale-cfg.Height)) > 1 {
		t.Errorf("PNG metadata %v for a %d×%d image, want the CSS size", size, cfg.Width, cfg.Height)
	}
	if _, ok := b[display.MIMESVG]; ok {
		t.Error("AsPNG bundle carries an SVG")
	}

	// Width and Height fields set the size.
	d := render(t, Heatmap{Data: [][]float64{{1}}, Width: 400, Height: 300})
	if d.width != 300 || d.height != 225 {
		t.Errorf("400×300 px figure is %g×%gpt, want 300×225", d.width, d.height)
	}
}

func TestFiguresThroughDisplay(t *testing.T) {
	for _, f := range []any{
		Heatmap{Data: [][]float64{{1}}},
		Curves{},
		Bars{Categories: []string{"a"}, Series: []BarSeries{{Values: []float64{1}}}},
		Histogram{Series: []HistSeries{{"a", []float64{1, 2}}}},
		Overlay{Image: [][]float64{{0, 1}}},
		FeatureMaps{Data: [][]float64{{0, 1}}},
		Grid{Figures: []Figure{Curves{}}},
	} {
		b, _ := display.BundleOf(f)
		svg, ok := b[display.MIMESVG].(string)
		if !ok {
			t.Errorf("%T: no SVG in %v", f, b)
			continue
		}
		if _, err := display.SVGBundle(svg); err != nil {
			t.Errorf("%T: %v", f, err)
		}
	}
}
