package imgproc

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func disk(n int, r float64) []uint8 {
	m := make([]uint8, n*n)
	c := float64(n-1) / 2
	for y := range n {
		for x := range n {
			if math.Hypot(float64(x)-c, float64(y)-c) <= r {
				m[y*n+x] = 1
			}
		}
	}
	return m
}

func TestMorphology(t *testing.T) {
	n := 41
	d := disk(n, 10)
	// Dilating a disk of radius 10 by 3 gives about the disk of radius 13,
	// eroding about the disk of radius 7 (digital disks: within 6%; radius
	// 6 or 8 would be 27% off).
	for _, c := range []struct {
		got  []uint8
		want float64
	}{
		{Dilate(d, n, n, 3), math.Pi * 13 * 13},
		{Erode(d, n, n, 3), math.Pi * 7 * 7},
	} {
		if a := float64(Area(c.got)); math.Abs(a/c.want-1) > 0.06 {
			t.Errorf("area %.0f, want about %.0f", a, c.want)
		}
	}
	// The 3×3 morphological gradient moves the boundary out and in by the
	// square's mean half-width 4/π, so the ring of a radius-r disk has about
	// 2·(4/π)·2πr = 16r pixels.
	g := MorphGradient(d, n, n)
	if a := float64(Area(g)); math.Abs(a/160-1) > 0.1 {
		t.Errorf("gradient ring %v px, want about 160", a)
	}
	// Objects touching the border are not eaten by it.
	full := make([]uint8, 25)
	for i := range full {
		full[i] = 1
	}
	if Area(Erode(full, 5, 5, 1)) != 25 {
		t.Error("border erodes")
	}
}

func TestComponentsAndDice(t *testing.T) {
	m := []uint8{
		1, 1, 0, 0, 0,
		0, 1, 0, 0, 1,
		0, 0, 0, 1, 0, // diagonal neighbour: same 8-connected component
		0, 0, 0, 0, 0,
		1, 0, 0, 0, 0,
	}
	lab, sizes := Components(m, 5, 5)
	if !slices.Equal(sizes, []int{3, 2, 1}) || lab[0] != 1 || lab[9] != 2 || lab[13] != 2 || lab[20] != 3 {
		t.Fatalf("components %v sizes %v", lab, sizes)
	}
	a := []uint8{1, 1, 0, 0}
	b := []uint8{0, 1, 1, 0}
	if d, _ := Dice(a, b); d != 0.5 {
		t.Errorf("dice %g", d)
	}
	if d, _ := Dice([]uint8{0}, []uint8{0}); d != 1 {
		t.Error("two empty masks should score 1")
	}
	if _, err := Dice(a, b[:2]); err == nil {
		t.Error("length mismatch accepted")
	}
}

func TestShiftFlip(t *testing.T) {
	src := []float32{1, 2, 3, 4, 5, 6} // 2×3
	dst := make([]float32, 6)
	Shift(dst, src, 2, 3, 1, 1, -1, 9)
	if !slices.Equal(dst, []float32{9, 9, 9, 2, 3, 9}) {
		t.Errorf("shift %v", dst)
	}
	h := slices.Clone(src)
	FlipH(h, 2, 3, 1)
	if !slices.Equal(h, []float32{3, 2, 1, 6, 5, 4}) {
		t.Errorf("flipH %v", h)
	}
	v := slices.Clone(src)
	FlipV(v, 2, 3, 1)
	if !slices.Equal(v, []float32{4, 5, 6, 1, 2, 3}) {
		t.Errorf("flipV %v", v)
	}
	// Two channels move together.
	c2 := []uint8{1, 10, 2, 20}
	FlipH(c2, 1, 2, 2)
	if !slices.Equal(c2, []uint8{2, 20, 1, 10}) {
		t.Errorf("flipH 2 channels %v", c2)
	}
	// Augment moves every layer the same way.
	img := []float32{1, 2, 3, 4}
	lab := []float32{1, 2, 3, 4}
	aug := Augment{FlipH: true, FlipV: true, MaxShift: 1}
	for i := range 20 {
		if err := aug.Apply(rand.New(rand.NewPCG(uint64(i), 0)), 2, img, lab); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(img, lab) {
			t.Fatal("layers moved differently")
		}
		img = []float32{1, 2, 3, 4}
		lab = []float32{1, 2, 3, 4}
	}
	if err := aug.Apply(nil, 2, img); err == nil {
		t.Error("nil rng accepted")
	}
}

func TestBlurAndSobel(t *testing.T) {
	n := 21
	ramp := make([]float32, n*n)
	for y := range n {
		for x := range n {
			ramp[y*n+x] = float32(x) * 0.5
		}
	}
	gx, gy := Sobel(GaussianBlur(ramp, n, n, 1.5), n, n)
	// Away from the clamped borders a linear ramp keeps slope 0.5.
	if math.Abs(float64(gx[10*n+10])-0.5) > 1e-5 || math.Abs(float64(gy[10*n+10])) > 1e-5 {
		t.Errorf("ramp gradient (%g, %g), want (0.5, 0)", gx[10*n+10], gy[10*n+10])
	}
	// Blur preserves the mean of a constant image.
	c := make([]float32, 25)
	for i := range c {
		c[i] = 0.7
	}
	for _, v := range GaussianBlur(c, 5, 5, 2) {
		if math.Abs(float64(v)-0.7) > 1e-6 {
			t.Fatal("blur changed a constant image")
		}
	}
}

// TestCheckPixels checks the size guard of ReadPNG: empty and over-limit sizes are refused,
// including ones whose pixel count would overflow an int32, and the limit itself is allowed.
func TestCheckPixels(t *testing.T) {
	for _, c := range []struct {
		w, h, limit int
		ok          bool
	}{
		{4096, 4096, MaxPixels, true},
		{4097, 4096, MaxPixels, false},
		{200000, 200000, MaxPixels, false},
		{1<<31 - 1, 1<<31 - 1, MaxPixels, false},
		{0, 10, MaxPixels, false},
		{10, -1, MaxPixels, false},
		{50, 100, 5000, true},
		{80, 63, 5000, false},
	} {
		if err := checkPixels(c.w, c.h, c.limit); (err == nil) != c.ok {
			t.Errorf("%d×%d with limit %d: error %v, want ok=%v", c.w, c.h, c.limit, err, c.ok)
		}
	}
}
