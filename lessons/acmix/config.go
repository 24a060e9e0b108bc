package acmix

import (
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Config is everything the notebook and the tests run: one code path, whose sizes the budget
// sets.
type Config struct {
	Budget lesson.Budget
	// Run is the main run: ResNet-ACmix on MNIST digits. The comparison's other arms change its
	// Block only.
	Run RunConfig
	// Seeds is the number of seeds (0, 1, …) of every arm (mean ± std over them).
	Seeds int
	// TimeBatch, TimeSide, TimeChannels and TimeRounds size the W-MSA vs sliding-window timing:
	// a batch of TimeSide×TimeSide maps of TimeChannels channels, TimeRounds alternating rounds.
	TimeBatch, TimeSide, TimeChannels, TimeRounds int
}

// ForBudget returns the lesson's configuration. The networks have three stages of bottleneck
// blocks (widths 16, 32, 64; maps 14, 7, 4), ACmix with 4 heads and a 7×7 window: one block per
// stage at the test and quick budgets (XLA's compilation of ACmix's attention gradient dominates
// a CPU run that short: two blocks per stage made quick 8 minutes on two cores), two at full.
// Test: 1,280 digits × 1 epoch (40 steps), one seed; quick: 2,560 × 1 (80 steps), one seed (a
// run takes about a minute on two cores: two seeds made the notebook 5.5 minutes); full:
// 10,000 × 2 (624 steps), three seeds.
func ForBudget(b lesson.Budget) Config {
	run := RunConfig{
		Train: experiment.Train{Epochs: lesson.Pick(b, 1, 1, 2), BatchSize: 32, LearningRate: 2e-3, LogEvery: 5},
		Net:   Net{Block: BlockACmix, Planes: []int{16, 32, 64}, Depths: lesson.Pick(b, []int{1, 1, 1}, []int{1, 1, 1}, []int{2, 2, 2}), StemWidth: 16},
		MNIST: lesson.MNIST{TrainSize: lesson.Pick(b, 1280, 2560, 10000), ValSize: 500, TestSize: lesson.Pick(b, 1000, 2000, 0), MaxShift: 1},
	}
	return Config{
		Budget:       b,
		Run:          run,
		Seeds:        lesson.Pick(b, 1, 1, 3),
		TimeBatch:    8,
		TimeSide:     28,
		TimeChannels: 64,
		TimeRounds:   lesson.Pick(b, 3, 10, 30),
	}
}

// RunOf is the run config that trains net.
func (c Config) RunOf(net Net) RunConfig {
	r := c.Run
	r.Net = net
	return r
}

// Arms are the comparison's four networks, ResNet's bottleneck first.
func (c Config) Arms() []lesson.Arm[RunConfig] {
	var arms []lesson.Arm[RunConfig]
	for _, blk := range Blocks {
		net := c.Run.Net
		net.Block = blk
		if blk == BlockConv {
			net.Heads, net.KernelAtt, net.FigureFC = 0, 0, false
		}
		arms = append(arms, lesson.Arm[RunConfig]{Name: net.Label(), Config: c.RunOf(net)})
	}
	return arms
}
