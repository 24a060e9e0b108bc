package inductive

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer/cosineschedule"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// Name is the registered experiment's name: `gostudy ablate inductive -grid arch=resnet,vit,hybrid`.
const Name = "inductive"

// Logits maps digits [B, 28, 28, 1] to logits [B, 10] with the config's architecture.
func (c RunConfig) Logits(scope *model.Scope, x *graph.Node) *graph.Node {
	if c.Arch == ArchResNet {
		return nn.ResNet(c.ResNet())(scope, x)
	}
	return nn.ViT(c.ViT())(scope, x)
}

// Model is the experiment's model function. When training it also sets the step's learning
// rate: linear warm-up, then cosine decay (as lesson 02).
func Model(scope *model.Scope, cfg RunConfig, inputs []*graph.Node) []*graph.Node {
	if g := inputs[0].Graph(); scope.IsTraining(g) {
		cosineschedule.New(scope, g, nn.DType).LearningRate(cfg.LearningRate).
			WarmUpSteps(cfg.WarmupSteps).PeriodSteps(cfg.TotalSteps() - cfg.WarmupSteps).Done()
	}
	return []*graph.Node{cfg.Logits(scope, inputs[0])}
}

// Experiment is the registered experiment: Adam, the best checkpoint by validation accuracy,
// tested on MNIST's test digits. No shift augmentation unless max_shift is set: the lesson's
// shift test depends on training never showing a shifted digit.
var Experiment = lesson.Classifier(Name, "lesson 12: a small ResNet, lesson 02's ViT and a conv-stem hybrid ViT on MNIST (data hunger, translation bias)",
	func() RunConfig { return ForBudget(lesson.Full).Run }, Model)

func init() { experiment.MustRegister(Experiment) }
