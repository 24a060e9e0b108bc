package dropout

import (
	"fmt"

	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Config is everything the lesson's notebook and tests run with. [ForBudget] fills it; the test
// budget only shrinks numbers (draws, images, training sizes, sweep points, seeds), never the
// code path.
type Config struct {
	Budget lesson.Budget
	// Seed seeds the masks of the tensor experiments and the first training run.
	Seed int64

	// Ps are the drop probabilities of the tensor experiments; HistP (one of them) is drawn as
	// histograms. Draws is the number of independent masks per p.
	Ps    []float64
	HistP float64
	Draws int
	// ActImages is the number of real digits whose stem activations are the tensor dropped in
	// the tensor experiments.
	ActImages int
	// KindsBatch and KindsDraws size the Dropout-vs-DropPath mask experiment; MaskUnits is the
	// number of units per sample shown in its figure.
	KindsBatch, KindsDraws, MaskUnits int

	// Net is the main training run: the residual network with Dropout p = Net.Dropout.
	Net NetConfig
	// MCImages test images are run MCDraws times with the drops on, for "dropout on a network".
	MCImages, MCDraws int
	// CompareDropPath is the stochastic-depth rate of the DropPath variant; CompareSeeds the
	// seeds of the Dropout-vs-DropPath comparison.
	CompareDropPath float64
	CompareSeeds    int
	// SweepPs are the dropout probabilities of the p-sweep (with 0 and Net.Dropout among them,
	// so its runs are shared with the comparison), SweepSeeds its seeds per p, and Moderate
	// the largest p the claim "moderate dropout does not hurt" covers.
	SweepPs    []float64
	SweepSeeds int
	Moderate   float64
}

// ForBudget returns the lesson's configuration for a budget. The full budget is what a student
// runs: 12 training runs of 936 steps (48 minutes measured on a busy two-core CPU, minutes on a
// GPU). The test budget is what the test suite runs through the kernel: 3 runs of 92 steps,
// about 100 s of CPU time for the whole notebook.
func ForBudget(b lesson.Budget) Config {
	c := Config{
		Budget:          b,
		Seed:            1,
		Ps:              []float64{0.1, 0.3, 0.5, 0.8},
		HistP:           0.5,
		Draws:           1000,
		ActImages:       8,
		KindsBatch:      32,
		KindsDraws:      1000,
		MaskUnits:       96,
		Net:             DefaultNet(),
		MCImages:        1000,
		MCDraws:         50,
		CompareDropPath: 0.2,
		CompareSeeds:    2,
		SweepPs:         []float64{0, 0.1, 0.25, 0.5, 0.75},
		SweepSeeds:      2,
		Moderate:        0.5,
	}
	if b == lesson.Test {
		c.Draws = 200
		c.ActImages = 4
		c.KindsDraws = 200
		c.Net.TrainSize, c.Net.ValSize, c.Net.TestSize, c.Net.Epochs = 3000, 500, 2000, 2
		c.MCImages, c.MCDraws = 500, 20
		c.CompareSeeds = 1
		c.SweepPs = []float64{0, 0.5}
		c.SweepSeeds = 1
	}
	return c
}

// Seeds returns n seeds starting at the lesson's seed.
func (c Config) Seeds(n int) []int64 { return experiment.Seeds(n, c.Seed) }

// Validate checks that the sweep can be judged and shares runs with the comparison.
func (c Config) Validate() error {
	has := func(p float64) bool {
		for _, q := range c.SweepPs {
			if q == p {
				return true
			}
		}
		return false
	}
	if !has(0) || !has(c.Net.Dropout) {
		return fmt.Errorf("sweep %v must include 0 and the main run's p %g", c.SweepPs, c.Net.Dropout)
	}
	found := false
	for _, p := range c.Ps {
		found = found || p == c.HistP
	}
	if !found {
		return fmt.Errorf("histogram p %g is not among %v", c.HistP, c.Ps)
	}
	return c.Net.Validate()
}
