package ensembles

import (
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

// Experiment is the registered experiment; its default config is the full budget's ResNet.
// timm's resnet/densenet names, but a 3×3 stride-2 stem for 28×28 digits: no timm model
// loads the file as is. Export writes safetensors with these names, and ONNX.
var Experiment = lesson.Classifier(Name, "lesson 11: ResNet vs no shortcuts vs pre-activation vs DenseNet on MNIST (blocks deleted at test time in the notebook)",
	func() RunConfig { return ForBudget(lesson.Full).Run }, lesson.LogitsModel[RunConfig]())

func init() { experiment.MustRegister(Experiment) }
