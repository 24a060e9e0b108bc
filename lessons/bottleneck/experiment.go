package bottleneck

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer/cosineschedule"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Name is the registered experiment: `gostudy ablate bottleneck -grid cardinality=1,2,4,8,32`.
const Name = "bottleneck"

// Config is the experiment's config: training knobs, the network and the MNIST sizes. Its
// JSON keys are the flags of `gostudy ablate bottleneck` (arch, planes, blocks, cardinality,
// group_width, cost_scale, ...).
type Config struct {
	experiment.Train
	Net
	// TrainSize images of the MNIST training split are trained on; the next ValSize (disjoint,
	// same fixed draw) pick the best checkpoint.
	TrainSize int `json:"train_size" help:"MNIST training images"`
	ValSize   int `json:"val_size" help:"validation images (held out from the training split)"`
	// TestSize images of the MNIST test split (all 10,000 at most) give the final accuracy.
	TestSize int `json:"test_size" help:"MNIST test images for the final accuracy (max 10000)"`
	// MaxShift is the training augmentation: random shifts of up to this many pixels.
	MaxShift int `json:"max_shift" help:"training augmentation: random shift in pixels"`
	// EvalBatch is the batch size of validation and test (sizes should be multiples of it,
	// so one evaluation graph is compiled).
	EvalBatch int `json:"eval_batch" help:"evaluation batch size"`
	// Schedule is the learning-rate schedule: "constant", or "cosine" — a linear warm-up over
	// the first tenth of the steps, then a cosine decay to 0 (what ConvNeXt's recipe uses; its
	// LayerNorm network drifted at a constant rate).
	Schedule string `json:"schedule" help:"learning-rate schedule: constant or cosine (10% warm-up, then cosine to 0)"`
}

// Schedules.
const (
	ScheduleConstant = "constant"
	ScheduleCosine   = "cosine"
)

// Steps is the number of training steps of a run: full batches per epoch × epochs.
func (c *Config) Steps() int { return c.Epochs * (c.TrainSize / max(c.BatchSize, 1)) }

// dataSeed fixes which MNIST images form the training, validation and test subsets, so
// seeds differ only in initialisation, batch order and augmentation.
const dataSeed = 2024

// Validate implements the check the runner calls before training.
func (c *Config) Validate() error {
	if err := c.Net.Validate(); err != nil {
		return err
	}
	switch {
	case c.BatchSize <= 0 || c.TrainSize < c.BatchSize:
		return fmt.Errorf("batch_size %d and train_size %d: need 0 < batch ≤ train", c.BatchSize, c.TrainSize)
	case c.ValSize <= 0 || c.TestSize <= 0 || c.TestSize > 10000 || c.TrainSize+c.ValSize > 60000:
		return fmt.Errorf("sizes train %d, val %d, test %d: need val, test > 0, train+val ≤ 60000, test ≤ 10000",
			c.TrainSize, c.ValSize, c.TestSize)
	case c.EvalBatch <= 0:
		return fmt.Errorf("eval_batch %d must be positive", c.EvalBatch)
	case c.MaxShift < 0 || c.MaxShift > 4:
		return fmt.Errorf("max_shift %d outside [0, 4]", c.MaxShift)
	case c.Schedule != ScheduleConstant && c.Schedule != ScheduleCosine:
		return fmt.Errorf("schedule %q: want %q or %q", c.Schedule, ScheduleConstant, ScheduleCosine)
	case c.Schedule == ScheduleCosine && c.Steps() < 10:
		return fmt.Errorf("cosine schedule needs ≥ 10 steps, the config has %d", c.Steps())
	}
	return nil
}

// DefaultConfig is the experiment's default: the plain bottleneck network at the full
// budget's data sizes (what `gostudy ablate bottleneck` starts from).
func DefaultConfig() Config { return ForBudget(FullBudget).Base }

// Splits returns the MNIST subsets a config trains, validates and tests on.
func Splits(cfg Config) (trainSet, valSet, testSet *mnist.Set, err error) {
	all, err := mnist.Load(mnist.Train)
	if err != nil {
		return nil, nil, nil, err
	}
	both, err := all.Subset(cfg.TrainSize+cfg.ValSize, dataSeed)
	if err != nil {
		return nil, nil, nil, err
	}
	idx := make([]int, cfg.TrainSize+cfg.ValSize)
	for i := range idx {
		idx[i] = i
	}
	if trainSet, err = both.Select(idx[:cfg.TrainSize]); err != nil {
		return nil, nil, nil, err
	}
	if valSet, err = both.Select(idx[cfg.TrainSize:]); err != nil {
		return nil, nil, nil, err
	}
	test, err := mnist.Load(mnist.Test)
	if err != nil {
		return nil, nil, nil, err
	}
	testSet = test
	if cfg.TestSize < test.Len() {
		if testSet, err = test.Subset(cfg.TestSize, dataSeed); err != nil {
			return nil, nil, nil, err
		}
	}
	return trainSet, valSet, testSet, nil
}

// Data builds a run's batches: shuffled, shifted training batches (a pure function of the
// seed and the epoch) and in-order validation and test sets.
func Data(cfg Config, seed int64) (*experiment.Data, error) {
	tr, val, test, err := Splits(cfg)
	if err != nil {
		return nil, fmt.Errorf("mnist: %w", err)
	}
	return lesson.MNISTData(tr, val, test, cfg.BatchSize, cfg.EvalBatch, cfg.MaxShift, seed)
}

// Model is the experiment's model function: logits [B, 10] for images [B, 28, 28, 1]. In
// training graphs it also sets the learning rate of the step (the cosine schedule).
func Model(scope *model.Scope, cfg Config, inputs []*graph.Node) []*graph.Node {
	x := inputs[0]
	if cfg.Schedule == ScheduleCosine {
		warmup := max(1, cfg.Steps()/10)
		cosineschedule.New(scope, x.Graph(), x.DType()).LearningRate(cfg.LearningRate).
			WarmUpSteps(warmup).PeriodSteps(cfg.Steps() - warmup).Done()
	}
	return []*graph.Node{cfg.Net.Logits(scope, x)}
}

// Experiment is the registered experiment: one network of the lesson trained on MNIST.
var Experiment = &experiment.Experiment[Config]{
	Name:        Name,
	Description: "lesson 3: basic / bottleneck / ResNeXt / ConvNeXt blocks on MNIST (cardinality, cost_scale, blocks)",
	Defaults:    DefaultConfig,
	Model:       Model,
	Loss:        loss.SparseCategoricalCrossEntropyLogits,
	Metrics:     lesson.Metrics[Config],
	Data:        Data,
	Select:      lesson.BestAccuracy,
	// timm has no model with these variables: its ResNet stem is a 7×7 conv (this one is 3×3
	// for 28×28 digits) and its ConvNeXt downsamples in the first stage after a stride-2 stem.
	// Export writes safetensors with the same (timm-style) names, and ONNX.
	Timm: nil,
}

func init() { experiment.MustRegister(Experiment) }
