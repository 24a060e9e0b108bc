package imbalance

import (
	"fmt"

	"github.com/gostudy/gostudy/datasets/phantom"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Config is everything the lesson's notebook and tests run at one budget; [ForBudget] fills
// it, and the budgets change sizes only.
type Config struct {
	Budget lesson.Budget
	// Run is the main run: long-tailed MNIST at the steepest ratio, all samples, seed 0.
	Run RunConfig
	// Arms are the samplers compared at Run's ratio, All first.
	Arms []Sampling
	// OtherRatio is the milder long tail, where OtherArms (All first) are compared again.
	OtherRatio float64
	OtherArms  []Sampling
	// Phantom is the phantom study's base run (All) and PhantomArms its samplers.
	Phantom     PhantomRunConfig
	PhantomArms []Sampling
	// Seeds is the number of seeds of every arm.
	Seeds int
	// EasyQ is the true-class probability above which a training sample counts as learned
	// ("easy"): its loss −ln q is then below −ln EasyQ.
	EasyQ float64
}

// The samplers of the lesson, All first.
var (
	armAll      = Sampling{Sampler: All}
	armBalHalf  = Sampling{Sampler: Balanced, Power: 0.5}
	armBalFull  = Sampling{Sampler: Balanced, Power: 1}
	armF1       = Sampling{Sampler: F1, Floor: 0.05}
	armError    = Sampling{Sampler: Error, Floor: 0.1}
	allSamplers = []Sampling{armAll, armBalHalf, armBalFull, armF1, armError}
)

// ForBudget returns the lesson's configuration for a budget. Full: 50,000 training digits cut
// to long tails of ratio 100 and 10 (about 12,400 and 20,400 images), 8 epochs, every sampler
// at both ratios and on 2,000 phantoms (32×32, 20 epochs), 3 seeds. Quick: 10,000 digits
// (2,480 and 4,090 after the cut), 4 epochs, 5 samplers at ratio 100, 2 at ratio 10, 2 on 600
// phantoms (8 epochs), 2 seeds (about five minutes on two cores). Test: 5,000 digits, 3 epochs, 2
// samplers on 400 phantoms, 1 seed.
func ForBudget(b lesson.Budget) Config {
	run := RunConfig{
		Train:    experiment.Train{Epochs: lesson.Pick(b, 3, 4, 8), BatchSize: 32, LearningRate: 2e-3, LogEvery: 5},
		Net:      Net{Widths: []int{16, 32}},
		Sampling: armAll,
		Ratio:    100,
		MNIST: lesson.MNIST{TrainSize: lesson.Pick(b, 5000, 10000, 50000), ValSize: lesson.Pick(b, 500, 1000, 2000),
			TestSize: lesson.Pick(b, 1000, 2000, 0)},
	}
	ph := PhantomRunConfig{
		Train:        experiment.Train{Epochs: lesson.Pick(b, 8, 8, 20), BatchSize: 32, LearningRate: 3e-3, LogEvery: 5},
		Net:          Net{Widths: []int{8, 16, 32}},
		Sampling:     armAll,
		Minority:     int(phantom.Malignant),
		MinorityKeep: 0.1,
		Phantoms: lesson.Phantoms{ImageSize: 32, TrainSize: lesson.Pick(b, 400, 600, 2000), ValSize: 250,
			TestSize: lesson.Pick(b, 250, 500, 1000), FlipH: true},
	}
	return Config{
		Budget:      b,
		Run:         run,
		Arms:        allSamplers,
		OtherRatio:  10,
		OtherArms:   lesson.Pick(b, []Sampling{armAll, armF1}, []Sampling{armAll, armF1}, allSamplers),
		Phantom:     ph,
		PhantomArms: lesson.Pick(b, []Sampling{armAll, armBalFull}, []Sampling{armAll, armBalHalf}, allSamplers),
		Seeds:       lesson.Pick(b, 1, 2, 3),
		EasyQ:       0.99,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	for _, arms := range [][]Sampling{c.Arms, c.OtherArms, c.PhantomArms} {
		if len(arms) < 2 || arms[0] != armAll {
			return fmt.Errorf("arms %v: want all samples first and at least one other sampler", arms)
		}
	}
	if c.Seeds < 1 || c.EasyQ <= 0 || c.EasyQ >= 1 {
		return fmt.Errorf("seeds %d, easy q %g", c.Seeds, c.EasyQ)
	}
	if err := c.Run.Validate(); err != nil {
		return err
	}
	return c.Phantom.Validate()
}

// MNISTArms are the runs of arms on long-tailed MNIST at ratio, named by their samplers.
func (c Config) MNISTArms(ratio float64, arms []Sampling) []lesson.Arm[RunConfig] {
	out := make([]lesson.Arm[RunConfig], len(arms))
	for i, s := range arms {
		r := c.Run
		r.Ratio, r.Sampling = ratio, s
		out[i] = lesson.Arm[RunConfig]{Name: s.Label(), Config: r}
	}
	return out
}

// PhantomRuns are the runs of the phantom study, named by their samplers.
func (c Config) PhantomRuns() []lesson.Arm[PhantomRunConfig] {
	out := make([]lesson.Arm[PhantomRunConfig], len(c.PhantomArms))
	for i, s := range c.PhantomArms {
		r := c.Phantom
		r.Sampling = s
		out[i] = lesson.Arm[PhantomRunConfig]{Name: s.Label(), Config: r}
	}
	return out
}
