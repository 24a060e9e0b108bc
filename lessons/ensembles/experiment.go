package ensembles

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Name is the registered experiment: `gostudy ablate ensembles -grid arch=resnet,plain,preact`.
const Name = "ensembles"

// RunConfig is one training run: training knobs, the network and the MNIST sizes. Its JSON keys
// are the flags of `gostudy ablate ensembles`.
type RunConfig struct {
	experiment.Train
	Net
	lesson.MNIST
}

// Steps is the number of training steps of a run.
func (c *RunConfig) Steps() int { return c.MNIST.Steps(c.BatchSize, c.Epochs) }

// Validate implements the check the runner calls before training.
func (c *RunConfig) Validate() error {
	if err := c.Net.Validate(); err != nil {
		return err
	}
	return c.MNIST.ValidateRun(c.BatchSize, c.Epochs)
}

// Model is the experiment's model function: logits [B, 10] for digits [B, 28, 28, 1].
func Model(scope *model.Scope, cfg RunConfig, inputs []*graph.Node) []*graph.Node {
	return []*graph.Node{cfg.Logits(scope, inputs[0])}
}

// Experiment is the registered experiment; its default config is the full budget's ResNet.
var Experiment = &experiment.Experiment[RunConfig]{
	Name:        Name,
	Description: "lesson 11: ResNet vs no shortcuts vs pre-activation vs DenseNet on MNIST (blocks deleted at test time in the notebook)",
	Defaults:    func() RunConfig { return ForBudget(lesson.Full).Run },
	Model:       Model,
	Loss:        loss.SparseCategoricalCrossEntropyLogits,
	Metrics:     lesson.Metrics[RunConfig],
	Data:        func(c RunConfig, seed int64) (*experiment.Data, error) { return c.Data(c.BatchSize, seed) },
	Select:      lesson.BestAccuracy,
	// timm's resnet/densenet names, but a 3×3 stride-2 stem for 28×28 digits: no timm model
	// loads the file as is. Export writes safetensors with these names, and ONNX.
	Timm: nil,
}

func init() { experiment.MustRegister(Experiment) }
