package hygiene

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Name is the registered experiment: `gostudy ablate hygiene -grid block=basic,convnext -seeds 5`.
const Name = "hygiene"

// RunConfig is one training run of the lesson (the registered experiment's config): training
// knobs, the network, the data seed and the MNIST sizes. Its JSON keys are the flags of
// `gostudy ablate hygiene`.
type RunConfig struct {
	experiment.Train
	Net
	// DataSeed, when ≥ 0, seeds the batch order (and augmentation) instead of the run's seed,
	// which then seeds only the initial weights: the two sources of run-to-run variation can
	// be varied one at a time. −1 (the default) lets the run's seed drive both, as every other
	// lesson does.
	DataSeed int64 `json:"data_seed" help:"seed of the batch order (-1: the run's seed, which otherwise seeds only the initial weights)"`
	lesson.MNIST
}

// Steps is the number of training steps of one run.
func (c RunConfig) Steps() int { return c.MNIST.Steps(c.BatchSize, c.Epochs) }

// OrderSeed is the seed of the batch order of a run with seed: DataSeed, or seed when DataSeed
// is negative.
func (c RunConfig) OrderSeed(seed int64) int64 {
	if c.DataSeed >= 0 {
		return c.DataSeed
	}
	return seed
}

// Validate implements the check the runner calls before training.
func (c *RunConfig) Validate() error {
	if err := c.Net.Validate(); err != nil {
		return err
	}
	if c.BatchSize <= 0 || c.TrainSize < c.BatchSize {
		return fmt.Errorf("batch_size %d and train_size %d: need 0 < batch ≤ train", c.BatchSize, c.TrainSize)
	}
	return c.MNIST.Validate()
}

// Model is the experiment's model function: logits [B, 10] for images [B, 28, 28, 1].
func Model(scope *model.Scope, cfg RunConfig, inputs []*graph.Node) []*graph.Node {
	return []*graph.Node{cfg.Logits(scope, inputs[0])}
}

// Experiment is the registered experiment: the lesson's small network trained on MNIST with
// Adam, the best checkpoint chosen by validation accuracy and scored on the test images (train
// → best checkpoint → test, one call). timm has no such model; export writes safetensors and
// ONNX. Its default config is the full budget's main run.
var Experiment = &experiment.Experiment[RunConfig]{
	Name:        Name,
	Description: "lesson 14: a small CNN on MNIST for experiment hygiene (seeds, backends, controlled comparisons)",
	Defaults:    func() RunConfig { return ForBudget(lesson.Full).Run },
	Model:       Model,
	Loss:        loss.SparseCategoricalCrossEntropyLogits,
	Metrics:     lesson.Metrics[RunConfig],
	Data: func(c RunConfig, seed int64) (*experiment.Data, error) {
		return c.Data(c.BatchSize, c.OrderSeed(seed))
	},
	Select: lesson.BestAccuracy,
}

func init() { experiment.MustRegister(Experiment) }
