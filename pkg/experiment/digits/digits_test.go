package digits

import (
	"math/rand/v2"
	"testing"
)

func TestRenderSegments(t *testing.T) {
	at := func(img []float32, x, y int) float32 { return img[y*Size+x] }
	r := rand.New(rand.NewPCG(1, 2))
	// Without jitter the 7×11 glyph box starts at (4, 2); without noise pixels are 0 or ink.
	one := Render(1, 0, 0, r)
	eight := Render(8, 0, 0, r)
	// "1" lights only b and c: the right column, nothing on the left or the top bar's middle.
	if at(one, 10, 3) < 0.7 || at(one, 10, 11) < 0.7 || at(one, 4, 3) != 0 || at(one, 7, 2) != 0 {
		t.Errorf("digit 1 segments wrong")
	}
	// "8" lights all seven: top, middle and bottom bars and both sides.
	for _, p := range [][2]int{{7, 2}, {7, 7}, {7, 12}, {4, 4}, {10, 10}} {
		if at(eight, p[0], p[1]) < 0.7 {
			t.Errorf("digit 8: pixel %v is not ink", p)
		}
	}
	// Outside the box there is no ink.
	if at(eight, 0, 0) != 0 || at(eight, 15, 15) != 0 {
		t.Errorf("ink outside the glyph box")
	}
}

func TestSetIsDeterministicAndBalanced(t *testing.T) {
	a := Set("a", 500, 0.2, 1, 9)
	b := Set("b", 500, 0.2, 1, 9)
	for i := range a.X {
		if a.X[i] != b.X[i] {
			t.Fatalf("same seed, different images at %d", i)
		}
	}
	var counts [Classes]int
	for _, y := range a.Y {
		counts[y]++
	}
	for d, c := range counts {
		if c < 25 || c > 80 { // 50 expected
			t.Errorf("digit %d drawn %d times out of 500", d, c)
		}
	}
}

func TestValidateAndTimm(t *testing.T) {
	c := Defaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	c.Arch = "rnn"
	if c.Validate() == nil {
		t.Errorf("arch rnn accepted")
	}
	c.Arch, c.Hidden = "vit", 33
	if c.Validate() == nil {
		t.Errorf("vit with an odd width accepted")
	}
	if Timm(Defaults()) != nil {
		t.Errorf("timm has no model for the mlp")
	}
	c.Hidden = 32
	if tm := Timm(c); tm == nil || tm.Kwargs["embed_dim"] != 32 || tm.Kwargs["in_chans"] != 1 {
		t.Errorf("timm model %+v", tm)
	}
}
