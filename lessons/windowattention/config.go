package windowattention

import (
	"fmt"
	"sync"

	"github.com/gostudy/gostudy/datasets/batching"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Config is the lesson's experiment config: the model's switches and the MNIST budget. Its
// json keys are what `gostudy ablate windowattention -grid shift=true,false` sets.
type Config struct {
	experiment.Train
	// Window is M, the window side in tokens.
	Window int `json:"window" help:"window size M in tokens (7 is nn.SwinTiny28)"`
	// Shift turns on the shifted windows of every second block (SW-MSA).
	Shift bool `json:"shift" help:"shifted windows (SW-MSA) in every second block"`
	// RelBias turns on the learned relative position bias.
	RelBias bool `json:"rel_bias" help:"learned relative position bias (false: table frozen at 0)"`
	// DropPath is the stochastic-depth rate of the last block (linear from 0).
	DropPath float64 `json:"drop_path" help:"stochastic depth rate of the last block"`
	// TrainSize images come from MNIST's training split, ValSize more (disjoint) pick the best
	// checkpoint; TestSize images of the test split give the final accuracy (0: all 10,000).
	TrainSize int `json:"train_size" help:"MNIST training images"`
	ValSize   int `json:"val_size" help:"validation images (held out of the training split)"`
	TestSize  int `json:"test_size" help:"MNIST test images (0: all 10000)"`
	// MaxShift is the training augmentation: a random shift of up to this many pixels.
	MaxShift int `json:"max_shift" help:"random shift augmentation in pixels"`
	// Cosine decays the learning rate from LearningRate to LearningRate/100 along a half
	// cosine over the run, after WarmupSteps of linear warm-up (the usual transformer recipe).
	Cosine      bool `json:"cosine" help:"cosine learning-rate decay after a linear warm-up"`
	WarmupSteps int  `json:"warmup_steps" help:"linear warm-up steps (with cosine)"`
}

// Steps is the number of training steps of a run.
func (c Config) Steps() int { return c.Epochs * (c.TrainSize / c.BatchSize) }

// EvalBatch is the batch size of validation and test evaluation. Split sizes are multiples of
// it so that evaluation compiles one graph.
const EvalBatch = 250

// Validate implements the check pkg/experiment calls before training.
func (c *Config) Validate() error {
	switch {
	case c.Window < 1 || c.Window > 14:
		return fmt.Errorf("window %d outside [1, 14]", c.Window)
	case c.BatchSize <= 0 || c.TrainSize < c.BatchSize:
		return fmt.Errorf("batch size %d and train size %d", c.BatchSize, c.TrainSize)
	case c.ValSize <= 0 || c.ValSize%EvalBatch != 0 || c.TestSize < 0 || c.TestSize%EvalBatch != 0:
		return fmt.Errorf("val size %d and test size %d must be multiples of %d", c.ValSize, c.TestSize, EvalBatch)
	case c.TrainSize+c.ValSize > 60000 || c.TestSize > 10000:
		return fmt.Errorf("train %d + val %d > 60000 or test %d > 10000", c.TrainSize, c.ValSize, c.TestSize)
	case c.DropPath < 0 || c.DropPath >= 1:
		return fmt.Errorf("drop path %v outside [0, 1)", c.DropPath)
	case c.MaxShift < 0 || c.MaxShift > 4:
		return fmt.Errorf("max shift %d outside [0, 4]", c.MaxShift)
	case c.Cosine && (c.WarmupSteps < 0 || c.WarmupSteps >= c.Steps()):
		return fmt.Errorf("warm-up %d steps of a %d-step run", c.WarmupSteps, c.Steps())
	}
	return nil
}

// Defaults is the full-budget config: the full Swin (shift and relative bias on), M = 7.
func Defaults() Config {
	return ForBudget(lesson.Full)
}

// ForBudget returns the config the notebook trains under budget b. Only sizes change: the
// test budget trains on fewer images for fewer epochs.
func ForBudget(b lesson.Budget) Config {
	c := Config{
		Train:       experiment.Train{Epochs: 5, BatchSize: 64, LearningRate: 1e-3, LogEvery: 10},
		Window:      7,
		Shift:       true,
		RelBias:     true,
		TrainSize:   58000,
		ValSize:     2000,
		TestSize:    10000,
		MaxShift:    2,
		Cosine:      true,
		WarmupSteps: 300,
	}
	if b == lesson.Test {
		c.Epochs = 1
		c.TrainSize = 2048
		c.ValSize = 500
		c.TestSize = 1000
		c.LogEvery = 2
		c.WarmupSteps = 4
	}
	return c
}

// Plan is what the notebook does besides the main run, sized by the budget.
type Plan struct {
	// Config is the main run.
	Config Config
	// Ablation is the base config of the ablation, [Variants] × Seeds runs: shorter than the
	// main run in the full budget (10,000 images × 2 epochs); in the test budget it is the main
	// run's config, so the full-Swin variant's seed 0 is the main run, read back.
	Ablation Config
	// Seeds is the number of seeds per ablation grid point.
	Seeds int
	// CostSides are the map sides (tokens) of the MSA vs W-MSA cost curve.
	CostSides []int
}

// PlanFor returns the notebook's plan under budget b.
func PlanFor(b lesson.Budget) Plan {
	p := Plan{Config: ForBudget(b), Seeds: 3, CostSides: []int{7, 14, 21, 28, 42, 56, 84, 112}}
	p.Ablation = p.Config
	p.Ablation.Epochs = 2
	p.Ablation.TrainSize = 10000
	p.Ablation.WarmupSteps = 100
	if b == lesson.Test {
		p.Seeds = 1
		p.Ablation = p.Config
		p.CostSides = []int{7, 14, 28, 56}
	}
	return p
}

// splitSeed fixes which MNIST images form the training and validation subsets, so that every
// run and every seed of an ablation sees the same images (the run seed changes the order, the
// augmentation and the initialization).
const splitSeed = 20220214

var (
	loadOnce          sync.Once
	trainSet, testSet *mnist.Set
	loadErr           error
)

func loadMNIST() (*mnist.Set, *mnist.Set, error) {
	loadOnce.Do(func() {
		if trainSet, loadErr = mnist.Load(mnist.Train); loadErr != nil {
			return
		}
		testSet, loadErr = mnist.Load(mnist.Test)
	})
	return trainSet, testSet, loadErr
}

// Splits returns the run's training, validation and test images: one fixed permutation of
// MNIST's training split gives the first TrainSize images for training and the next ValSize for
// validation; the test images are the first TestSize of the test split.
func Splits(c Config) (tr, val, test *mnist.Set, err error) {
	all, tst, err := loadMNIST()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("windowattention: %w", err)
	}
	perm := batching.RNG(splitSeed, 1).Perm(all.Len())
	if tr, err = all.Select(perm[:c.TrainSize]); err != nil {
		return nil, nil, nil, err
	}
	if val, err = all.Select(perm[c.TrainSize : c.TrainSize+c.ValSize]); err != nil {
		return nil, nil, nil, err
	}
	n := c.TestSize
	if n == 0 {
		n = tst.Len()
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	if test, err = tst.Select(idx); err != nil {
		return nil, nil, nil, err
	}
	return tr, val, test, nil
}

// Data builds the run's batches (experiment.Experiment.Data).
func Data(c Config, seed int64) (*experiment.Data, error) {
	tr, val, test, err := Splits(c)
	if err != nil {
		return nil, err
	}
	return lesson.MNISTData(tr, val, test, c.BatchSize, EvalBatch, c.MaxShift, seed)
}

// RunsDir is where the lesson keeps its runs: lesson.RunsDir ($GOSTUDY_RUNS, else the
// checkout's runs/ folder).
func RunsDir() string { return lesson.RunsDir() }
