package windowattention

import (
	"fmt"

	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// RunConfig is one training run of the lesson's experiment: the model's switches, the MNIST
// sizes and the schedule. Its json keys are what `gostudy ablate windowattention -grid
// shift=true,false` sets. The field order is the JSON order and so part of every run's id:
// lesson.MNIST sits where the lesson's own size fields were, so runs trained before the lesson
// moved onto the kit keep their ids (TestRunIDsKept).
type RunConfig struct {
	experiment.Train
	// Window is M, the window side in tokens.
	Window int `json:"window" help:"window size M in tokens (7 is nn.SwinTiny28)"`
	// Shift turns on the shifted windows of every second block (SW-MSA).
	Shift bool `json:"shift" help:"shifted windows (SW-MSA) in every second block"`
	// RelBias turns on the learned relative position bias.
	RelBias bool `json:"rel_bias" help:"learned relative position bias (false: table frozen at 0)"`
	// DropPath is the stochastic-depth rate of the last block (linear from 0).
	DropPath float64 `json:"drop_path" help:"stochastic depth rate of the last block"`
	lesson.MNIST
	// Cosine decays the learning rate from LearningRate to LearningRate/100 along a half
	// cosine over the run, after WarmupSteps of linear warm-up (the usual transformer recipe).
	Cosine      bool `json:"cosine" help:"cosine learning-rate decay after a linear warm-up"`
	WarmupSteps int  `json:"warmup_steps" help:"linear warm-up steps (with cosine)"`
}

// Steps is the number of training steps of a run.
func (c *RunConfig) Steps() int { return c.MNIST.Steps(c.BatchSize, c.Epochs) }

// Validate implements the check pkg/experiment calls before training.
func (c *RunConfig) Validate() error {
	switch {
	case c.Window < 1 || c.Window > 14:
		return fmt.Errorf("window %d outside [1, 14]", c.Window)
	case c.BatchSize <= 0 || c.TrainSize < c.BatchSize:
		return fmt.Errorf("batch_size %d and train_size %d: need 0 < batch ≤ train", c.BatchSize, c.TrainSize)
	case c.DropPath < 0 || c.DropPath >= 1:
		return fmt.Errorf("drop_path %v outside [0, 1)", c.DropPath)
	case c.Cosine && (c.WarmupSteps < 0 || c.WarmupSteps >= c.Steps()):
		return fmt.Errorf("warm-up of %d steps in a run of %d", c.WarmupSteps, c.Steps())
	}
	return c.MNIST.Validate()
}

// Swin is the pkg/nn Swin the run trains: nn.SwinTiny28 (2×2 patches → a 14×14 map, stages of
// C = 32 and 64 channels with 2 and 4 heads, a W-MSA/SW-MSA pair per stage, MLP ratio 2) with
// the window M, the stochastic depth and the two ablation switches of c. With M = 4 the 14×14
// map is padded to 16×16 and the 7×7 map of stage 2 to 8×8, so padding and the shifted
// configuration act in both stages; M = 7 is nn.SwinTiny28 itself.
func (c RunConfig) Swin() nn.SwinConfig {
	s := nn.SwinTiny28()
	s.WindowSize = c.Window
	s.DropPathRate = c.DropPath
	s.NoShift = !c.Shift
	s.NoRelPosBias = !c.RelBias
	return s
}

// Config is everything the notebook does at one budget: the main run, the ablation and the
// sizes of the measurements. Only sizes change between budgets.
type Config struct {
	Budget lesson.Budget
	// Run is the main run: the full Swin (shift and relative bias on), M = 7.
	Run RunConfig
	// Ablation is the base config of the ablation ([Config.AblationArms] × Seeds runs). At the
	// full budget it is shorter than the main run (10,000 images × 2 epochs); at the test and
	// quick budgets it is the main run, so the full Swin's seed 0 is the main run, read back.
	Ablation RunConfig
	// Seeds is the number of seeds (0, 1, …) per ablation arm.
	Seeds int
	// CostSides are the map sides (tokens) of the MSA vs W-MSA cost curve.
	CostSides []int
	// BigWindow is the window the trained model is evaluated with in the window-change
	// section (14: stage 1 becomes one window covering the whole map).
	BigWindow int
	// Samples is how many test digits the attention and feature-map section runs.
	Samples int
}

// ForBudget returns the lesson's config for budget b. Full: the main run trains on 58,000
// digits for 5 epochs; the ablation runs 10,000 digits × 2 epochs with 3 seeds per arm. Quick
// and test: the ablation is the main run's size with one seed; quick trains 2 epochs of 6,016
// digits (188 steps: 94 left the tiny Swin near 30% accuracy, too little for its attention maps
// and ablation to say anything), test one epoch of 2,048.
func ForBudget(b lesson.Budget) Config {
	run := RunConfig{
		Train:   experiment.Train{Epochs: lesson.Pick(b, 1, 2, 5), BatchSize: 64, LearningRate: 1e-3, LogEvery: lesson.Pick(b, 2, 5, 10)},
		Window:  7,
		Shift:   true,
		RelBias: true,
		MNIST: lesson.MNIST{TrainSize: lesson.Pick(b, 2048, 6016, 58000), ValSize: lesson.Pick(b, 500, 500, 2000),
			TestSize: lesson.Pick(b, 1000, 1000, 10000), MaxShift: 2},
		Cosine:      true,
		WarmupSteps: lesson.Pick(b, 4, 20, 300),
	}
	ablation := run
	if b == lesson.Full {
		ablation.Epochs, ablation.TrainSize, ablation.WarmupSteps = 2, 10000, 100
	}
	return Config{
		Budget:    b,
		Run:       run,
		Ablation:  ablation,
		Seeds:     lesson.Pick(b, 1, 1, 3),
		CostSides: lesson.Pick(b, []int{7, 14, 28, 56}, []int{7, 14, 28, 56, 112}, []int{7, 14, 21, 28, 42, 56, 84, 112}),
		BigWindow: 14,
		Samples:   8,
	}
}

// AblationArms are the ablation's models, one switch off at a time as the paper's Table 4
// ablates them: the full Swin, the same without shifted windows (every block W-MSA), and
// without the relative position bias (tables frozen at zero). `gostudy ablate windowattention
// -grid shift=true,false -grid rel_bias=true,false` runs the full 2×2 grid.
func (c Config) AblationArms() []lesson.Arm[RunConfig] {
	noShift, noBias := c.Ablation, c.Ablation
	noShift.Shift = false
	noBias.RelBias = false
	return []lesson.Arm[RunConfig]{
		{Name: "Swin (shift + rel. bias)", Config: c.Ablation},
		{Name: "no shift (W-MSA only)", Config: noShift},
		{Name: "no rel. bias", Config: noBias},
	}
}
