package imgproc

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// Augment is a random geometric transform for segmentation data: an image
// and its label maps must move together.
type Augment struct {
	// FlipH mirrors left-right with probability 1/2.
	FlipH bool
	// FlipV mirrors top-bottom with probability 1/2.
	FlipV bool
	// MaxShift moves by a uniform number of pixels in [-MaxShift, MaxShift]
	// along each axis, filling with zero.
	MaxShift int
}

// Apply draws one transform from rng and applies it in place to every
// size×size single-channel layer. A zero Augment does nothing and needs no
// rng.
func (a Augment) Apply(rng *rand.Rand, size int, layers ...[]float32) error {
	if a == (Augment{}) {
		return nil
	}
	if rng == nil {
		return errors.New("imgproc: augmentation needs a random generator")
	}
	if a.MaxShift < 0 || a.MaxShift >= size {
		return fmt.Errorf("imgproc: MaxShift %d outside [0, %d)", a.MaxShift, size)
	}
	flipH := a.FlipH && rng.IntN(2) == 1
	flipV := a.FlipV && rng.IntN(2) == 1
	for _, m := range layers {
		if len(m) != size*size {
			return fmt.Errorf("imgproc: augment layer has %d values, want %d×%d", len(m), size, size)
		}
		if flipH {
			FlipH(m, size, size, 1)
		}
		if flipV {
			FlipV(m, size, size, 1)
		}
	}
	if a.MaxShift > 0 {
		dy, dx := rng.IntN(2*a.MaxShift+1)-a.MaxShift, rng.IntN(2*a.MaxShift+1)-a.MaxShift
		tmp := make([]float32, size*size)
		for _, m := range layers {
			Shift(tmp, m, size, size, 1, dy, dx, 0)
			copy(m, tmp)
		}
	}
	return nil
}
