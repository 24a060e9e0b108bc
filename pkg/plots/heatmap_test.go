package plots

import (
	"image"
	"image/color"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gostudy/gostudy/pkg/display"
)

func matrix(rows, cols int, f func(r, c int) float64) [][]float64 {
	m := make([][]float64, rows)
	for r := range m {
		m[r] = make([]float64, cols)
		for c := range m[r] {
			m[r][c] = f(r, c)
		}
	}
	return m
}

func TestHeatmapStructure(t *testing.T) {
	attn := matrix(6, 10, func(r, c int) float64 { return float64(r*10+c) / 59 })
	h := AttentionMap(attn, "head 0")
	d := render(t, h)
	if len(d.images) != 2 {
		t.Fatalf("%d images, want the matrix and its colour bar", len(d.images))
	}
	m, bar := d.images[0], d.images[1]
	if m.pxW%10 != 0 || m.pxH%6 != 0 || m.pxW < 10*2 || m.pxH < 6*2 {
		t.Errorf("matrix raster %d×%d px, want whole blocks of pixels per cell of the 6×10 data", m.pxW, m.pxH)
	}
	if !near(m.w/m.h, 10.0/6, 0.02) {
		t.Errorf("matrix drawn %g×%g, want square cells", m.w, m.h)
	}
	if !near(bar.h, m.h, 0.5) || bar.x <= m.x+m.w {
		t.Errorf("colour bar %+v not beside and as tall as the matrix %+v", bar, m)
	}
	for _, s := range []string{"head 0", "key", "query", "attention weight", "0", "5", "9"} {
		if !d.hasText(s) {
			t.Errorf("text %q missing from %q", s, d.texts)
		}
	}
	b, _ := h.MIMEBundle()
	if got := b[display.MIMEText]; got != "head 0: 6×10 matrix, colour range [0, 1]" {
		t.Errorf("summary %q", got)
	}
}

func TestHeatmapValuesTicksAndGrid(t *testing.T) {
	idx := [][]int{{4, 3}, {5, 4}}
	d := render(t, Heatmap{Data: idx, ShowValues: true, XTicks: []string{"a", "b"}, YTicks: []string{"p", "q"}})
	for _, s := range []string{"3", "4", "5", "a", "b", "p", "q", "Heatmap", "column", "row", "value"} {
		if !d.hasText(s) {
			t.Errorf("text %q missing from %q", s, d.texts)
		}
	}
	frac := render(t, Heatmap{Data: [][]float64{{0.25, 0.5}}, ShowValues: true})
	if !frac.hasText("0.25") || !frac.hasText("0.50") {
		t.Errorf("fractional values not printed with 2 decimals: %q", frac.texts)
	}
	big := matrix(30, 30, func(r, c int) float64 { return float64(r*30 + c) })
	if bd := render(t, Heatmap{Data: big, ShowValues: true}); bd.hasText("899") {
		t.Error("values printed on a 30×30 matrix")
	}

	// Window boundaries every 2 cells on a 6×6 mask: 2 vertical + 2 horizontal lines.
	mask := matrix(6, 6, func(r, c int) float64 { return 0 })
	plain := render(t, Heatmap{Data: mask})
	grid := render(t, Heatmap{Data: mask, GridEvery: 2})
	if n := grid.paths - plain.paths; n != 4 {
		t.Errorf("GridEvery 2 on 6×6 added %d lines, want 4", n)
	}
	shifted := render(t, Heatmap{Data: mask, GridEvery: 4, GridShift: 2})
	if n := shifted.paths - plain.paths; n != 2 { // at 2 (6 is the edge), each way
		t.Errorf("GridEvery 4 shift 2 on 6×6 added %d lines, want 2", n)
	}
}

func TestHeatmapRanges(t *testing.T) {
	data := tensors.FromValue([][]float32{{-3, 1}, {0, 2}})
	cases := []struct {
		h    Heatmap
		want string
	}{
		{Heatmap{Data: data}, "[-3, 2]"},
		{Heatmap{Data: data, Symmetric: true}, "[-3, 3]"},
		{Heatmap{Data: data, Min: 1, Max: -1}, "[-1, 1]"},
	}
	for _, c := range cases {
		p, err := c.h.plan()
		if err != nil {
			t.Fatal(err)
		}
		if s := p.summary(); !strings.HasSuffix(s, "colour range "+c.want) {
			t.Errorf("summary %q, want range %s", s, c.want)
		}
	}
	// A 1-D vector is a one-row matrix; rank 3 is an error.
	if _, err := (Heatmap{Data: []float64{1, 2, 3}}).SVG(); err != nil {
		t.Errorf("vector: %v", err)
	}
	if _, err := (Heatmap{Data: [][][]float64{{{1}}}}).SVG(); err == nil {
		t.Error("rank-3 data accepted")
	}
	// A flat matrix stays visible.
	d := render(t, Heatmap{Data: matrix(2, 200, func(r, c int) float64 { return float64(c) })})
	if d.images[0].h < 80 {
		t.Errorf("2×200 matrix drawn %gpt tall", d.images[0].h)
	}
}

func TestOverlay(t *testing.T) {
	const h, w = 20, 30
	img := matrix(h, w, func(r, c int) float64 { return float64(c) })
	gt := matrix(h, w, func(r, c int) float64 {
		if r >= 5 && r < 15 && c >= 10 && c < 20 {
			return 1
		}
		return 0
	})
	o := Overlay{Image: img, Title: "lesion", Layers: []Layer{
		{Name: "ground truth", Mask: gt},
		{Name: "prediction", Mask: gt, Mode: Outline},
	}}
	d := render(t, o)
	if len(d.images) != 1 {
		t.Fatalf("%d images, want 1", len(d.images))
	}
	if im := d.images[0]; im.pxW*h != im.pxH*w || !near(im.w/im.h, 1.5, 0.02) {
		t.Errorf("image %+v, want the 30:20 shape", im)
	}
	for _, s := range []string{"lesion", "ground truth", "prediction", "x (pixels)", "y (pixels)"} {
		if !d.hasText(s) {
			t.Errorf("text %q missing", s)
		}
	}
	// Swin windows of 8 shifted by 4 on 20×30: x lines at 4, 12, 20, 28; y lines at 4, 12.
	plain := render(t, Overlay{Image: img})
	win := render(t, Overlay{Image: img, GridSize: 8, GridShift: 4})
	if n := win.paths - plain.paths; n != 6 {
		t.Errorf("window grid added %d lines, want 6", n)
	}
	if _, err := (Overlay{Image: img, Layers: []Layer{{Mask: matrix(3, 3, func(r, c int) float64 { return 0 })}}}).SVG(); err == nil {
		t.Error("a mask of the wrong size was accepted")
	}
	noAxes := render(t, Overlay{Image: image.NewGray(image.Rect(0, 0, 10, 10)), NoAxes: true})
	if noAxes.hasText("x (pixels)") {
		t.Error("NoAxes still draws axis labels")
	}
}

func TestOverlayBlending(t *testing.T) {
	base := func() *image.NRGBA {
		img := image.NewNRGBA(image.Rect(0, 0, 5, 5))
		for i := range img.Pix {
			img.Pix[i] = 100
			if i%4 == 3 {
				img.Pix[i] = 255
			}
		}
		return img
	}
	square := make([]float64, 25) // 3×3 block in the middle
	for y := 1; y <= 3; y++ {
		for x := 1; x <= 3; x++ {
			square[y*5+x] = 1
		}
	}
	red := color.NRGBA{R: 255, A: 255}

	img := base()
	applyLayer(img, square, Layer{Mode: Fill}, red)
	// 100·0.55 + 255·0.45 = 169.75 → 170; green 100·0.55 = 55.
	if got := img.NRGBAAt(2, 2); got != (color.NRGBA{170, 55, 55, 255}) {
		t.Errorf("filled pixel %v, want {170 55 55 255}", got)
	}
	if got := img.NRGBAAt(0, 0); got != (color.NRGBA{100, 100, 100, 255}) {
		t.Errorf("pixel outside the mask changed to %v", got)
	}

	img = base()
	applyLayer(img, square, Layer{Mode: Outline}, red)
	if got := img.NRGBAAt(2, 2); got != (color.NRGBA{100, 100, 100, 255}) {
		t.Errorf("outline changed the interior pixel to %v", got)
	}
	if got := img.NRGBAAt(1, 2); got != red {
		t.Errorf("boundary pixel %v, want opaque red", got)
	}

	img = base()
	soft := make([]float64, 25)
	soft[0] = 0.5
	applyLayer(img, soft, Layer{Mode: Soft}, red)
	// alpha 0.8·0.5 = 0.4: 100·0.6 + 255·0.4 = 162.
	if got := img.NRGBAAt(0, 0); got != (color.NRGBA{162, 60, 60, 255}) {
		t.Errorf("soft pixel %v, want {162 60 60 255}", got)
	}
}

func TestOverlayBaseImages(t *testing.T) {
	rgb := make([][][]float64, 2)
	for y := range rgb {
		rgb[y] = [][]float64{{1, 0, 0}, {0, 0.5, 0}}
	}
	img, err := baseImage(rgb)
	if err != nil {
		t.Fatal(err)
	}
	if got := img.NRGBAAt(1, 0); got != (color.NRGBA{0, 128, 0, 255}) {
		t.Errorf("[H,W,3] in [0,1]: pixel %v, want {0 128 0 255}", got)
	}
	rgb[0][0] = []float64{255, 51, 0}
	img, _ = baseImage(rgb)
	if got := img.NRGBAAt(0, 0); got != (color.NRGBA{255, 51, 0, 255}) {
		t.Errorf("[H,W,3] in [0,255]: pixel %v", got)
	}
	gray, _ := baseImage([][]float64{{-1, 1}})
	if a, b := gray.NRGBAAt(0, 0), gray.NRGBAAt(1, 0); a.R != 0 || b.R != 255 {
		t.Errorf("grey image not stretched to its range: %v %v", a, b)
	}
	if _, err := baseImage(make([][][]float64, 1)); err == nil {
		t.Error("empty image accepted")
	}
}
