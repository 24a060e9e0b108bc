package dropout

import (
	"fmt"
	"slices"

	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// The conventions of applying a drop (Scaling in [RunConfig]). Inverted and original are both
// correct in expectation; none is the mistake.
const (
	// Inverted divides the kept units by 1−p while training and does nothing at test time
	// (what PyTorch, timm and pkg/nn do, and what the notes describe).
	Inverted = "inverted"
	// Original keeps the units unscaled while training and multiplies them by the keep
	// probability 1−p at test time — Srivastava et al. (2014, Fig. 2) scale the outgoing
	// weights by it, the same thing for the linear layer that follows; Huang et al. (2016)
	// scale a stochastic-depth branch by its survival probability the same way.
	Original = "original"
	// None drops without any correction: training sees (1−p)·x on average, the test x.
	None = "none"
)

// Scalings lists the conventions.
var Scalings = []string{Inverted, Original, None}

// RunConfig is one training run of the lesson's network (the registered experiment
// "dropout"): the model's knobs and the MNIST sizes. Every field is a flag of
// `gostudy ablate dropout` under its json name.
type RunConfig struct {
	experiment.Train
	// Width is the number of channels of the stem and of the first stage; each later stage
	// doubles it.
	Width int `json:"width" help:"channels of the stem and first stage (doubled per stage)"`
	// Depths is the number of residual blocks per stage. Every stage after the first starts
	// with a stride-2 block.
	Depths []int `json:"depths" help:"residual blocks per stage"`
	// Hidden is the width of the classifier's hidden layer (flattened features → fc1 → ReLU →
	// Dropout → fc).
	Hidden int `json:"hidden" help:"hidden units of the classifier head"`
	// Dropout is the element-wise drop probability p of the head's hidden units, where ViT's
	// MLP has it.
	Dropout float64 `json:"dropout" help:"element-wise drop probability p of the head's hidden units"`
	// InputDropout drops input pixels, as Srivastava et al. did (keep probability 0.8 for
	// MNIST's fully connected nets, 0.9 for their convolutional ones).
	InputDropout float64 `json:"input_dropout" help:"element-wise drop probability of the input pixels"`
	// BranchDropout is an element-wise drop probability inside every residual branch, between
	// its two convolutions (as in Wide ResNets); with InputDropout and Dropout it puts a drop
	// on every hidden layer, the original paper's placement.
	BranchDropout float64 `json:"branch_dropout" help:"element-wise drop probability inside residual branches"`
	// DropPath is the stochastic-depth rate of the last residual block; earlier blocks get
	// linearly smaller rates, from 0 at the first block (timm's drop_path_rate schedule).
	DropPath float64 `json:"drop_path" help:"stochastic depth: drop rate of the last block's branch (linear from 0)"`
	// Scaling is how every drop keeps the expected activation: Inverted, Original or None.
	Scaling string `json:"scaling" help:"inverted (÷(1−p) in training), original (×(1−p) at test) or none"`
	lesson.MNIST
}

// Validate implements the check the experiment runner calls before training.
func (c *RunConfig) Validate() error {
	switch {
	case c.Width <= 0 || len(c.Depths) == 0:
		return fmt.Errorf("width %d and depths %v must be positive and non-empty", c.Width, c.Depths)
	case c.Hidden <= 0:
		return fmt.Errorf("hidden %d must be positive", c.Hidden)
	case c.BatchSize <= 0 || c.TrainSize < c.BatchSize:
		return fmt.Errorf("batch size %d and train size %d", c.BatchSize, c.TrainSize)
	case !slices.Contains(Scalings, c.Scaling):
		return fmt.Errorf("scaling %q: want one of %v", c.Scaling, Scalings)
	}
	for name, p := range map[string]float64{"dropout": c.Dropout, "input_dropout": c.InputDropout,
		"branch_dropout": c.BranchDropout, "drop_path": c.DropPath} {
		if p < 0 || p >= 1 {
			return fmt.Errorf("%s %g outside [0, 1)", name, p)
		}
	}
	for _, d := range c.Depths {
		if d <= 0 {
			return fmt.Errorf("depths %v: every stage needs a block", c.Depths)
		}
	}
	return c.MNIST.Validate()
}

// Steps is the number of training steps of one run.
func (c RunConfig) Steps() int { return c.MNIST.Steps(c.BatchSize, c.Epochs) }

// Config is everything the lesson's notebook and tests run with. [ForBudget] fills it; the
// budgets only change numbers (draws, images, training sizes, sweep points, seeds), never the
// code path.
type Config struct {
	Budget lesson.Budget
	// Seed seeds the masks of the tensor experiments.
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

	// Run is the main training run: the residual network with Dropout p = Run.Dropout,
	// inverted, seed 0.
	Run RunConfig
	// MCImages test images are run MCDraws times with the drops on, for "dropout on a network".
	MCImages, MCDraws int
	// DropPath is the stochastic-depth rate of the comparison's DropPath arm, and PaperDrops
	// the input, branch and head drop probabilities of its "the paper's dropout" arm (in the
	// Original convention, as Srivastava et al. trained).
	DropPath   float64
	PaperDrops [3]float64
	// Seeds is the number of seeds (0, 1, …) of the comparison and of the p-sweep.
	Seeds int
	// SweepPs are the dropout probabilities of the p-sweep (with 0 and Run.Dropout among them,
	// so its runs are shared with the comparison), and Moderate the largest p the claim
	// "moderate dropout does not hurt" covers.
	SweepPs  []float64
	Moderate float64
}

// ForBudget returns the lesson's configuration for a budget. Full: 20,000 training images ×
// 3 epochs (936 steps per run), two seeds, 16 runs in all (about an hour on two CPU cores,
// minutes on a GPU). Quick: 5,000 images × 2 epochs (156 steps), one seed, 6 runs with a
// three-point sweep (about three minutes on two cores). Test: 3,000 images × 2 epochs (92
// steps), a two-point sweep and fewer draws.
func ForBudget(b lesson.Budget) Config {
	run := RunConfig{
		Train:   experiment.Train{Epochs: 3, BatchSize: 64, LearningRate: 2e-3, LogEvery: 10},
		Width:   16,
		Depths:  []int{2, 2},
		Hidden:  128,
		Dropout: 0.5,
		Scaling: Inverted,
		MNIST:   lesson.MNIST{TrainSize: 20000, ValSize: 2000, TestSize: 0, MaxShift: 2},
	}
	if b != lesson.Full {
		run.Epochs = 2
		run.TrainSize, run.ValSize, run.TestSize = lesson.Pick(b, 3000, 5000, 0), 500, 2000
	}
	return Config{
		Budget:     b,
		Seed:       1,
		Ps:         []float64{0.1, 0.3, 0.5, 0.8},
		HistP:      0.5,
		Draws:      lesson.Pick(b, 200, 500, 1000),
		ActImages:  lesson.Pick(b, 4, 8, 8),
		KindsBatch: 32,
		KindsDraws: lesson.Pick(b, 200, 500, 1000),
		MaskUnits:  96,
		Run:        run,
		MCImages:   lesson.Pick(b, 500, 1000, 1000),
		MCDraws:    lesson.Pick(b, 20, 30, 50),
		DropPath:   0.2,
		// Srivastava et al.'s convolutional nets kept inputs with probability 0.9, convolutional
		// units with 0.75 and fully connected ones with 0.5 (Section 6.1.2).
		PaperDrops: [3]float64{0.1, 0.25, 0.5},
		Seeds:      lesson.Pick(b, 1, 1, 2),
		SweepPs:    lesson.Pick(b, []float64{0, 0.5}, []float64{0, 0.25, 0.5}, []float64{0, 0.1, 0.25, 0.5, 0.75}),
		Moderate:   0.5,
	}
}

// Validate checks that the sweep can be judged and shares runs with the comparison.
func (c Config) Validate() error {
	if !slices.Contains(c.SweepPs, 0) || !slices.Contains(c.SweepPs, c.Run.Dropout) {
		return fmt.Errorf("sweep %v must include 0 and the main run's p %g", c.SweepPs, c.Run.Dropout)
	}
	if !slices.Contains(c.Ps, c.HistP) {
		return fmt.Errorf("histogram p %g is not among %v", c.HistP, c.Ps)
	}
	if c.Seeds < 1 {
		return fmt.Errorf("%d seeds", c.Seeds)
	}
	return c.Run.Validate()
}
