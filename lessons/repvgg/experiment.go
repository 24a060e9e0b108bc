package repvgg

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Name is the registered experiment: `gostudy ablate repvgg -grid arch=repvgg,plain,resnet`.
const Name = "repvgg"

// RunConfig is one training run: training knobs, the network, and the data (MNIST digits, or
// the phantoms' classes with -set dataset=phantom). Its JSON keys are the flags of
// `gostudy ablate repvgg`.
type RunConfig struct {
	experiment.Train
	Net
	lesson.Classification
}

// Steps is the number of training steps of a run.
func (c *RunConfig) Steps() int { return c.Classification.Steps(c.BatchSize, c.Epochs) }

// Validate implements the check the runner calls before training.
func (c *RunConfig) Validate() error {
	if err := c.Net.Validate(); err != nil {
		return err
	}
	return c.Classification.ValidateRun(c.BatchSize, c.Epochs)
}

// Model is the experiment's model function: logits for images [B, S, S, 1].
func Model(scope *model.Scope, cfg RunConfig, inputs []*graph.Node) []*graph.Node {
	return []*graph.Node{cfg.Logits(scope, inputs[0], cfg.Classes())}
}

// Experiment is the registered experiment; its default config is the full budget's RepVGG run.
// timm's RepVGG (byobnet) has these block names but a different stem and head, so no timm
// model loads the file; export writes safetensors with timm's block names, and ONNX.
var Experiment = lesson.Classifier(Name, "lesson 09: RepVGG (trained with branches, fused for inference) vs the plain net vs a ResNet of equal depth",
	func() RunConfig { return ForBudget(lesson.Full).Run }, Model)

func init() { experiment.MustRegister(Experiment) }
