package plots

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gostudy/gostudy/pkg/display"
)

// hwc returns an [H,W,C] float32 tensor whose value at (y, x, c) is c + x/W (so channel c
// spans [c, c+1) and increases left to right).
func hwc(h, w, c int) *tensors.Tensor {
	data := make([]float32, h*w*c)
	for y := range h {
		for x := range w {
			for k := range c {
				data[(y*w+x)*c+k] = float32(k) + float32(x)/float32(w)
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(data, h, w, c)
}

// columns counts the distinct x positions of the panels (all images but the colour bar,
// which is the last one drawn).
func columns(d svgDoc) int {
	xs := map[float64]bool{}
	for _, img := range d.images[:len(d.images)-1] {
		xs[img.x] = true
	}
	return len(xs)
}

func TestFeatureMapsPanelsLabelsAndColourBar(t *testing.T) {
	f := FeatureMaps{Data: hwc(8, 8, 40), MaxChannels: 16}
	d := render(t, f)
	if len(d.images) != 17 {
		t.Fatalf("%d images, want 16 panels + 1 colour bar", len(d.images))
	}
	for c := range 16 {
		if !d.hasText(fmt.Sprintf("c%d", c)) {
			t.Errorf("no label c%d", c)
		}
	}
	if d.hasText("c16") {
		t.Error("channel 16 shown despite MaxChannels 16")
	}
	if note := d.textContaining("channels shown"); !strings.HasPrefix(note, "16 of 40 channels shown (24 left out)") {
		t.Errorf("note %q does not say how many channels were left out", note)
	}
	if !d.hasText("Feature maps") || !d.hasText("activation") {
		t.Errorf("default title or colour-bar label missing: %q", d.texts)
	}
	if !near(d.width, 600, 0.01) {
		t.Errorf("width %gpt, want 600pt (800 CSS px)", d.width)
	}
	for i, img := range d.images[:16] {
		if !img.mediaTypeOkay {
			t.Errorf("panel %d embedded with a wrong media type", i)
		}
		if !near(img.w, img.h, 0.01) {
			t.Errorf("panel %d is %g×%g, want square for 8×8 maps", i, img.w, img.h)
		}
		if img.pxW < 2*8 {
			t.Errorf("panel %d embedded at %d px: not enlarged", i, img.pxW)
		}
	}
	// The colour bar is tall and narrow, right of every panel.
	bar := d.images[16]
	if bar.h < 3*bar.w {
		t.Errorf("colour bar %g×%g is not a vertical bar", bar.w, bar.h)
	}
	for _, img := range d.images[:16] {
		if img.x+img.w > bar.x {
			t.Errorf("panel at x=%g overlaps the colour bar at x=%g", img.x, bar.x)
		}
	}
	// Colour-bar ticks cover the shared range [0, 16).
	if !d.hasText("0") || !d.hasText("10") {
		t.Errorf("colour bar ticks missing: %q", d.texts)
	}
	b, _ := f.MIMEBundle()
	if txt := b[display.MIMEText].(string); !strings.Contains(txt, "16 of 40 channels, 8×8, shared scale [0, 15.88]") {
		t.Errorf("summary %q", txt)
	}
	if svg, ok := b[display.MIMESVG].(string); !ok || !strings.HasPrefix(svg, "<?xml") {
		t.Error("bundle has no SVG")
	}
}

func TestFeatureMapsLayouts(t *testing.T) {
	// Channels-first [C, H, W] with H ≠ W: panels must be twice as wide as tall.
	chw := make([][][]float64, 3)
	for c := range chw {
		chw[c] = make([][]float64, 4)
		for y := range chw[c] {
			chw[c][y] = make([]float64, 8)
			for x := range chw[c][y] {
				chw[c][y][x] = float64(10*c + x)
			}
		}
	}
	d := render(t, FeatureMaps{Data: chw, ChannelsFirst: true, Labels: []string{"red", "green", "blue"}})
	if len(d.images) != 4 {
		t.Fatalf("%d images, want 3 panels + colour bar", len(d.images))
	}
	for _, img := range d.images[:3] {
		if !near(img.w/img.h, 2, 0.01) || img.pxW != 2*img.pxH {
			t.Errorf("panel %g×%g (%d×%d px), want aspect 2 for 4×8 maps", img.w, img.h, img.pxW, img.pxH)
		}
	}
	for _, l := range []string{"red", "green", "blue"} {
		if !d.hasText(l) {
			t.Errorf("label %q missing", l)
		}
	}

	// Small maps get more columns than large ones at the same width.
	small := render(t, FeatureMaps{Data: hwc(7, 7, 32)})
	large := render(t, FeatureMaps{Data: hwc(56, 56, 32)})
	if cs, cl := columns(small), columns(large); cs < 8 || cl > 5 || cs <= cl {
		t.Errorf("columns: 7×7 maps %d, 56×56 maps %d; want ≥ 8 and ≤ 5", cs, cl)
	}
	if small.height >= large.height {
		t.Errorf("7×7 grid %gpt tall, 56×56 grid %gpt: small maps should take less room", small.height, large.height)
	}

	// Explicit channels, in the order given.
	sel := render(t, FeatureMaps{Data: hwc(5, 5, 10), Channels: []int{7, 3}})
	if len(sel.images) != 3 || !sel.hasText("c7") || !sel.hasText("c3") || sel.hasText("c0") {
		t.Errorf("Channels [7 3]: %d images, texts %q", len(sel.images), sel.texts)
	}
	if sel.images[0].x >= sel.images[1].x {
		t.Error("channel 7 is not drawn first")
	}
}

func TestFeatureMapsBatchAndScales(t *testing.T) {
	// [B=2, H, W, C=2]: item 0 in [0, 1], item 1 in [10, 11].
	data := make([]float32, 2*3*3*2)
	for i := range data {
		item := i / (3 * 3 * 2)
		data[i] = float32(10*item) + float32(i%18)/17
	}
	x := tensors.FromFlatDataAndDimensions(data, 2, 3, 3, 2)
	p, err := FeatureMaps{Data: x, Batch: 1}.plan()
	if err != nil {
		t.Fatal(err)
	}
	if got := p.summary(); !strings.Contains(got, "shared scale [10, 11]") {
		t.Errorf("batch 1 summary %q, want the range of item 1", got)
	}
	d := render(t, FeatureMaps{Data: x, Batch: 1})
	if d.textContaining("batch item 1 of 2") == "" {
		t.Errorf("note does not name the batch item: %q", d.texts)
	}
	if _, err := (FeatureMaps{Data: x, Batch: 2}).SVG(); err == nil {
		t.Error("batch 2 of 2 accepted")
	}

	// Symmetric shared scale is centred on zero.
	signed := [][]float64{{-1, 0.5}, {2, 0}}
	p, _ = FeatureMaps{Data: signed, Symmetric: true}.plan()
	if got := p.summary(); !strings.Contains(got, "shared scale [-2, 2]") {
		t.Errorf("symmetric summary %q", got)
	}
	// Per-channel scale labels each panel with its own range when it fits.
	d = render(t, FeatureMaps{Data: hwc(16, 16, 3), PerChannel: true})
	if !d.hasText("c2 [2, 2.9]") || !d.hasText("per-channel scale") {
		t.Errorf("per-channel labels missing: %q", d.texts)
	}
	// A constant map still draws (one colour) instead of failing.
	if _, err := (FeatureMaps{Data: [][]float32{{3, 3}, {3, 3}}}).SVG(); err != nil {
		t.Errorf("constant map: %v", err)
	}
}

func TestFeatureMapsErrors(t *testing.T) {
	cases := map[string]FeatureMaps{
		"rank 5":        {Data: make([][][][][]float32, 1)},
		"nil":           {},
		"channel range": {Data: hwc(2, 2, 3), Channels: []int{3}},
		"ragged":        {Data: [][]float64{{1, 2}, {3}}},
		"not numbers":   {Data: [][]string{{"a"}}},
	}
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := cases[n]
		if _, err := f.SVG(); err == nil {
			t.Errorf("%s: SVG succeeded", n)
		}
		b, _ := f.MIMEBundle()
		if _, ok := b[display.MIMESVG]; ok || !strings.Contains(b[display.MIMEText].(string), "feature maps") {
			t.Errorf("%s: bundle %v, want the error as text", n, b)
		}
	}
}

func TestWindowMasks(t *testing.T) {
	// 4 windows of 4 tokens: window 3 masks tokens from different regions.
	masks := make([][][]float32, 4)
	for w := range masks {
		masks[w] = make([][]float32, 4)
		for i := range masks[w] {
			masks[w][i] = make([]float32, 4)
			for j := range masks[w][i] {
				if w == 3 && (i < 2) != (j < 2) {
					masks[w][i][j] = -100
				}
			}
		}
	}
	d := render(t, WindowMasks(masks, ""))
	if len(d.images) != 5 {
		t.Fatalf("%d images, want 4 windows + colour bar", len(d.images))
	}
	for w := range 4 {
		if !d.hasText(fmt.Sprintf("window %d", w)) {
			t.Errorf("label window %d missing", w)
		}
	}
	if !d.hasText("Shifted-window attention masks") || !d.hasText("mask value") || !d.hasText("-100") ||
		!strings.HasPrefix(d.textContaining("windows"), "4 windows · 4×4") {
		t.Errorf("texts %q", d.texts)
	}
}
