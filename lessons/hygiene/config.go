package hygiene

import (
	"fmt"

	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Config is everything the lesson's notebook and tests run at one budget. [ForBudget] fills it;
// the budgets change sizes only, never the code path.
type Config struct {
	Budget lesson.Budget
	// Run is the main run: the ResNet-like net (conv stem, basic block, BatchNorm), seed 0.
	Run RunConfig
	// Seeds is the number of seeds (0 … Seeds−1) of the spread study.
	Seeds int
	// SourceSeeds is the number of init seeds (data order fixed) and of data seeds (initial
	// weights fixed) of the init-vs-data study.
	SourceSeeds int
	// CompareSeeds is the number of seeds of each arm of the confounded/controlled comparison,
	// and CompareArms how many of [Arms] it trains.
	CompareSeeds, CompareArms int
	// BackendSteps is the length of the go vs xla:cpu divergence study (training steps from the
	// same initial weights on both backends).
	BackendSteps int
	// Detect is the difference, in accuracy points, the power analysis asks about.
	Detect float64
	// SumValues is the length of the vector summed in different orders in section 1.
	SumValues int
}

// ForBudget returns the lesson's configuration for a budget. Compiling a network's training
// step costs XLA on a CPU several seconds, more than training this small net for a few hundred
// steps, so the budgets mostly change the number of runs. Full: 20,000 images × 3 epochs (936
// steps per run), 20 seeds, 10 + 10 for the init-vs-data study, five arms × 5 seeds, 100
// steps on the pure-Go backend (about an hour on two cores). Quick: 4,096 images × 2 epochs
// (128 steps), 10 seeds, 3 + 3, three arms × 2 seeds, 12 go steps (about five minutes). Test:
// 1,024 images × 1 epoch, 2 seeds, 2 + 2, three arms × 1 seed, 4 go steps.
func ForBudget(b lesson.Budget) Config {
	run := RunConfig{
		Train:    experiment.Train{Epochs: 3, BatchSize: 64, LearningRate: 3e-3, LogEvery: 1},
		Net:      Net{Stem: StemConv, Block: BlockBasic, Norm: NormBatch, Width: 8, Blocks: 1, Kernel: 3},
		DataSeed: -1,
		MNIST:    lesson.MNIST{TrainSize: 20000, ValSize: 2000, TestSize: 0},
	}
	if b != lesson.Full {
		run.Epochs = lesson.Pick(b, 1, 2, 3)
		run.TrainSize, run.ValSize, run.TestSize = lesson.Pick(b, 1024, 4096, 0), 500, lesson.Pick(b, 1000, 2000, 0)
	}
	return Config{
		Budget:       b,
		Run:          run,
		Seeds:        lesson.Pick(b, 2, 10, 20),
		SourceSeeds:  lesson.Pick(b, 2, 3, 10),
		CompareSeeds: lesson.Pick(b, 1, 2, 5),
		CompareArms:  lesson.Pick(b, 3, 3, 5),
		BackendSteps: lesson.Pick(b, 4, 12, 100),
		Detect:       0.2,
		SumValues:    lesson.Pick(b, 100_000, 1_000_000, 1_000_000),
	}
}

// Validate checks the sizes.
func (c Config) Validate() error {
	switch {
	case c.Seeds < 2 || c.SourceSeeds < 2:
		return fmt.Errorf("seeds %d and source seeds %d: a spread needs at least 2", c.Seeds, c.SourceSeeds)
	case c.CompareSeeds < 1 || c.CompareSeeds > c.Seeds:
		return fmt.Errorf("compare seeds %d must be in [1, seeds %d] (the baseline reuses the spread's runs)", c.CompareSeeds, c.Seeds)
	case c.BackendSteps < 1 || c.Detect <= 0 || c.SumValues < 2:
		return fmt.Errorf("backend steps %d, detect %g and sum values %d must be positive", c.BackendSteps, c.Detect, c.SumValues)
	}
	return c.Run.Validate()
}
