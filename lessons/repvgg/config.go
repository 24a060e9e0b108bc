package repvgg

import (
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Config is everything the notebook and the tests run: one code path, whose sizes the budget
// sets.
type Config struct {
	Budget lesson.Budget
	// Run is the main run: the RepVGG network trained on MNIST digits, whose blocks the lesson
	// fuses and whose BatchNorms it studies. It is also the first arm of the comparison, whose
	// other arms change only its Arch.
	Run RunConfig
	// Seeds is the number of seeds (0, 1, …) of the comparison (mean ± std over them).
	Seeds int
	// Digits is how many test digits the fused and unfused networks are compared on.
	Digits int
	// BatchSizes are the batch sizes at which BatchNorm's train-mode statistics are compared
	// with its running (eval-mode) statistics.
	BatchSizes []int
	// TimeBatch and TimeRounds size the inference timing: TimeRounds interleaved rounds of the
	// fused and unfused networks on TimeBatch digits each.
	TimeBatch, TimeRounds int
}

// ForBudget returns the lesson's configuration for a budget. The networks have 11 3×3 layers
// (stem + stages of 2, 4 and 4 at 16, 32 and 64 channels); runs are short on purpose — how fast
// a network trains is what the branches are for. Test: 1,280 digits × 1 epoch (40 steps), one
// seed; quick: 2,560 × 1 (80 steps), two seeds; full: 10,000 × 2 (624 steps), three seeds.
func ForBudget(b lesson.Budget) Config {
	run := RunConfig{
		Train: experiment.Train{Epochs: lesson.Pick(b, 1, 1, 2), BatchSize: 32, LearningRate: 2e-3, LogEvery: 5},
		Net:   Net{Arch: ArchRepVGG, StemWidth: 16, Widths: []int{16, 32, 64}, Depths: []int{2, 4, 4}},
		Classification: lesson.Classification{Dataset: lesson.DatasetMNIST,
			MNIST: lesson.MNIST{TrainSize: lesson.Pick(b, 1280, 2560, 10000), ValSize: 500, TestSize: lesson.Pick(b, 1000, 2000, 0), MaxShift: 1}},
	}
	return Config{
		Budget:     b,
		Run:        run,
		Seeds:      lesson.Pick(b, 1, 2, 3),
		Digits:     lesson.Pick(b, 250, 1000, 2000),
		BatchSizes: []int{1, 4, 16, 64, 250},
		TimeBatch:  64,
		TimeRounds: lesson.Pick(b, 5, 15, 40),
	}
}

// Arms are the comparison's three networks: Run with each Arch.
func (c Config) Arms() []lesson.Arm[RunConfig] {
	var arms []lesson.Arm[RunConfig]
	for _, a := range Archs {
		cfg := c.Run
		cfg.Arch = a
		arms = append(arms, lesson.Arm[RunConfig]{Name: cfg.Label(), Config: cfg})
	}
	return arms
}
