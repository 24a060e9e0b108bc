package metaformer

import (
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// Config is everything the notebook and the tests run: one code path, whose sizes the budget
// sets.
type Config struct {
	Budget lesson.Budget
	// Run is the main run: PoolFormer (pooling mixer, MLP ×4) on MNIST digits, trained without
	// shift augmentation so that section 5 can test what each mixer does with shifted digits.
	Run RunConfig
	// Mixers are the token mixers compared at equal parameters (Run's parameters).
	Mixers []string
	// Ratios are the MLP ratios of the pooling network's sweep.
	Ratios []float64
	// Seeds is the number of seeds (0, 1, …) of every arm (mean ± std over them).
	Seeds int
	// Shifts are the test-time shifts in pixels (each applied left, right, up and down); TestImages
	// the digits they are measured on.
	Shifts     []int
	TestImages int
}

// ForBudget returns the lesson's configuration. The network is PoolFormer's layout for 28×28
// digits (nn.PoolFormerTiny28's stages [2, 2, 2] at 32, 64, 128 channels, maps 7, 4, 2) with its
// LayerScale (1e-5): without it, the pooling network trained far worse than the others in runs
// this short (measured: 0.71 against 0.83 with it, one seed, the quick budget's 80 steps), while
// a scale that starts at 1e-5 grows within a few Adam steps. Test: 1,280 digits × 1 epoch (40
// steps); quick: 2,560 × 1 (80 steps); one seed each; full: 10,000 × 3 (936 steps), three seeds.
func ForBudget(b lesson.Budget) Config {
	tiny := nn.PoolFormerTiny28()
	run := RunConfig{
		Train: experiment.Train{Epochs: lesson.Pick(b, 1, 1, 3), BatchSize: 32, LearningRate: 2e-3, LogEvery: 5},
		Net:   Net{TokenMixer: nn.MixerPooling, MLPRatio: 4, Dims: tiny.Dims, Depths: tiny.Depths, LayerScale: tiny.LayerScaleInit},
		Classification: lesson.Classification{Dataset: lesson.DatasetMNIST,
			MNIST: lesson.MNIST{TrainSize: lesson.Pick(b, 1280, 2560, 10000), ValSize: 500, TestSize: lesson.Pick(b, 1000, 2000, 0)}},
	}
	return Config{
		Budget:     b,
		Run:        run,
		Mixers:     nn.TokenMixers,
		Ratios:     []float64{1, 2, 4},
		Seeds:      lesson.Pick(b, 1, 1, 3),
		Shifts:     []int{0, 1, 2, 3, 4},
		TestImages: lesson.Pick(b, 500, 1000, 2000),
	}
}

// RunOf is the run config that trains net.
func (c Config) RunOf(net Net) RunConfig {
	r := c.Run
	r.Net = net
	return r
}

// MixerArms are the token mixers at about the pooling network's parameters: each mixer's own
// parameters are paid for by a narrower MLP (MatchedRatio).
func (c Config) MixerArms() ([]lesson.Arm[RunConfig], error) {
	target, err := CostOf(c.Run)
	if err != nil {
		return nil, err
	}
	var arms []lesson.Arm[RunConfig]
	for _, m := range c.Mixers {
		net := c.Run.Net
		net.TokenMixer = m
		if m != c.Run.TokenMixer {
			r, err := MatchedRatio(c.Run, m, target.Params)
			if err != nil {
				return nil, err
			}
			net.MLPRatio = r
		}
		arms = append(arms, lesson.Arm[RunConfig]{Name: net.Label(), Config: c.RunOf(net)})
	}
	return arms, nil
}

// RatioArms are the pooling network at each MLP ratio.
func (c Config) RatioArms() []lesson.Arm[RunConfig] {
	var arms []lesson.Arm[RunConfig]
	for _, r := range c.Ratios {
		net := c.Run.Net
		net.MLPRatio = r
		arms = append(arms, lesson.Arm[RunConfig]{Name: net.Label(), Config: c.RunOf(net)})
	}
	return arms
}
