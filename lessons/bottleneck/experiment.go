package bottleneck

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/ml/train/optimizer/cosineschedule"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Name is the registered experiment: `gostudy ablate bottleneck -grid cardinality=1,2,4,8,32`.
const Name = "bottleneck"

// RunConfig is one training run (the registered experiment's config): training knobs, the
// network and the MNIST sizes. Its JSON keys are the flags of `gostudy ablate bottleneck`
// (arch, planes, blocks, cardinality, group_width, cost_scale, stem, weight_decay, ...).
type RunConfig struct {
	experiment.Train
	Net
	lesson.MNIST
	// Schedule is the learning-rate schedule: "constant", or "cosine" — a linear warm-up over
	// the first tenth of the steps, then a cosine decay to 0 (what ConvNeXt's recipe uses; its
	// LayerNorm network drifted at a constant rate).
	Schedule string `json:"schedule" help:"learning-rate schedule: constant or cosine (10% warm-up, then cosine to 0)"`
	// WeightDecay > 0 trains with AdamW (decoupled weight decay, ConvNeXt's recipe uses 0.05)
	// instead of Adam. GoMLX decays every variable, norms and biases included (timm leaves
	// those out).
	WeightDecay float64 `json:"weight_decay" help:"AdamW's decoupled weight decay (0: Adam)"`
}

// Schedules.
const (
	ScheduleConstant = "constant"
	ScheduleCosine   = "cosine"
)

// Steps is the number of training steps of a run: full batches per epoch × epochs.
func (c *RunConfig) Steps() int { return c.MNIST.Steps(c.BatchSize, c.Epochs) }

// Validate implements the check the runner calls before training.
func (c *RunConfig) Validate() error {
	if err := c.Net.Validate(); err != nil {
		return err
	}
	switch {
	case c.BatchSize <= 0 || c.TrainSize < c.BatchSize:
		return fmt.Errorf("batch_size %d and train_size %d: need 0 < batch ≤ train", c.BatchSize, c.TrainSize)
	case c.Schedule != ScheduleConstant && c.Schedule != ScheduleCosine:
		return fmt.Errorf("schedule %q: want %q or %q", c.Schedule, ScheduleConstant, ScheduleCosine)
	case c.Schedule == ScheduleCosine && c.Steps() < 10:
		return fmt.Errorf("cosine schedule needs ≥ 10 steps, the config has %d", c.Steps())
	case c.WeightDecay < 0 || c.WeightDecay > 1:
		return fmt.Errorf("weight_decay %g outside [0, 1]", c.WeightDecay)
	}
	return c.MNIST.Validate()
}

// Model is the experiment's model function: logits [B, 10] for images [B, 28, 28, 1]. In
// training graphs it also sets the learning rate of the step (the cosine schedule).
func Model(scope *model.Scope, cfg RunConfig, inputs []*graph.Node) []*graph.Node {
	x := inputs[0]
	if cfg.Schedule == ScheduleCosine {
		warmup := max(1, cfg.Steps()/10)
		cosineschedule.New(scope, x.Graph(), x.DType()).LearningRate(cfg.LearningRate).
			WarmUpSteps(warmup).PeriodSteps(cfg.Steps() - warmup).Done()
	}
	return []*graph.Node{cfg.Net.Logits(scope, x)}
}

// Experiment is the registered experiment: one network of the lesson trained on MNIST. Its
// default config is the full budget's plain bottleneck network.
var Experiment = &experiment.Experiment[RunConfig]{
	Name:        Name,
	Description: "lesson 03: basic / bottleneck / ResNeXt / ConvNeXt blocks on MNIST (cardinality, cost_scale, blocks)",
	Defaults:    func() RunConfig { return ForBudget(lesson.Full).Run },
	Model:       Model,
	Loss:        loss.SparseCategoricalCrossEntropyLogits,
	Metrics:     lesson.Metrics[RunConfig],
	Optimizer: func(c RunConfig) optimizer.Interface {
		lr := c.LearningRate
		if lr <= 0 {
			lr = optimizer.AdamDefaultLearningRate
		}
		return optimizer.Adam().LearningRate(lr).WeightDecay(c.WeightDecay).Done()
	},
	Data:   func(c RunConfig, seed int64) (*experiment.Data, error) { return c.Data(c.BatchSize, seed) },
	Select: lesson.BestAccuracy,
	// timm has no model with these variables: its ResNet stem is a 7×7 conv (this one is 3×3
	// for 28×28 digits) and its ConvNeXt downsamples in the first stage after a stride-2 stem.
	// Export writes safetensors with the same (timm-style) names, and ONNX.
	Timm: nil,
}

func init() { experiment.MustRegister(Experiment) }
