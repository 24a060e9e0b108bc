package ensembles

import (
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Config is everything the notebook and the tests run: one code path, whose sizes the budget
// sets.
type Config struct {
	Budget lesson.Budget
	// Run is the main run: the post-activation ResNet. The other networks change its Net only.
	Run RunConfig
	// Plain, PreAct and DenseNet are the other networks: the same ResNet without shortcuts,
	// with pre-activation blocks, and a DenseNet of about its parameters.
	Plain, PreAct, DenseNet Net
	// Seeds is the number of seeds (0, 1, …) of every network (mean ± std over them).
	Seeds int
	// TestImages is how many test digits each deletion is evaluated on.
	TestImages int
	// Draws is how many random sets of blocks are deleted for each number of deleted blocks.
	Draws int
}

// ForBudget returns the lesson's configuration. The ResNet has nine basic blocks (three stages of
// three at 16, 32 and 64 channels: 19 weight layers). Test: 1,280 digits × 1 epoch (40 steps),
// one seed; quick: 2,560 × 1 (80 steps), two seeds; full: 10,000 × 2 (624 steps), three seeds.
func ForBudget(b lesson.Budget) Config {
	res := Net{Arch: ArchResNet, StemWidth: 16, Widths: []int{16, 32, 64}, Blocks: []int{3, 3, 3}}
	plain, pre := res, res
	plain.Arch, pre.Arch = ArchPlain, ArchPreAct
	run := RunConfig{
		Train: experiment.Train{Epochs: lesson.Pick(b, 1, 1, 2), BatchSize: 32, LearningRate: 2e-3, LogEvery: 5},
		Net:   res,
		MNIST: lesson.MNIST{TrainSize: lesson.Pick(b, 1280, 2560, 10000), ValSize: 500, TestSize: lesson.Pick(b, 1000, 2000, 0), MaxShift: 1},
	}
	return Config{
		Budget:     b,
		Run:        run,
		Plain:      plain,
		PreAct:     pre,
		DenseNet:   Net{Arch: ArchDenseNet, StemWidth: 24, Blocks: []int{4, 4, 4}, Growth: 20},
		Seeds:      lesson.Pick(b, 1, 2, 3),
		TestImages: lesson.Pick(b, 500, 1000, 2000),
		Draws:      lesson.Pick(b, 2, 3, 10),
	}
}

// RunOf is the run config that trains net.
func (c Config) RunOf(net Net) RunConfig {
	r := c.Run
	r.Net = net
	return r
}

// Arms are the lesson's networks, the ResNet first.
func (c Config) Arms() []lesson.Arm[RunConfig] {
	var arms []lesson.Arm[RunConfig]
	for _, n := range []Net{c.Run.Net, c.Plain, c.PreAct, c.DenseNet} {
		arms = append(arms, lesson.Arm[RunConfig]{Name: n.Label(), Config: c.RunOf(n)})
	}
	return arms
}
