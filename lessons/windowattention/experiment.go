package windowattention

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer/cosineschedule"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Name is the registered experiment name (`gostudy ablate windowattention ...`).
const Name = "windowattention"

// Timm is the timm model whose state_dict the trained variables are. A run without the
// shift has the same variables but not the same forward pass (timm always shifts every second
// block), so it gets none; a run without the relative bias is timm's model with a zero table.
func Timm(c Config) *experiment.TimmModel {
	if !c.Shift {
		return nil
	}
	sc := SwinConfig(c)
	return &experiment.TimmModel{Name: "swin_tiny_patch4_window7_224", Kwargs: map[string]any{
		"img_size": 28, "patch_size": sc.PatchSize, "in_chans": sc.InChans, "num_classes": sc.NumClasses,
		"embed_dim": sc.EmbedDim, "depths": sc.Depths, "num_heads": sc.NumHeads, "window_size": sc.WindowSize,
		"mlp_ratio": sc.MLPRatio, "qkv_bias": sc.QKVBias,
	}}
}

// Experiment is the lesson's registered experiment: the Swin of [Forward] on MNIST.
var Experiment = &experiment.Experiment[Config]{
	Name:        Name,
	Description: "lesson 4: a tiny Swin (window attention, shifted windows, relative position bias) on MNIST",
	Defaults:    Defaults,
	Model: func(scope *model.Scope, c Config, inputs []*graph.Node) []*graph.Node {
		if c.Cosine {
			// Only acts while training: evaluation and export build the plain model.
			cosineschedule.New(scope, inputs[0].Graph(), dtypes.Float32).LearningRate(c.LearningRate).
				MinLearningRate(c.LearningRate / 100).WarmUpSteps(c.WarmupSteps).
				PeriodSteps(c.Steps() - c.WarmupSteps).Done()
		}
		return []*graph.Node{Forward(scope, inputs[0], c, Hooks{})}
	},
	Loss:    loss.SparseCategoricalCrossEntropyLogits,
	Metrics: lesson.Metrics[Config],
	Data:    Data,
	Select:  lesson.BestAccuracy,
	Timm:    Timm,
}

func init() { experiment.MustRegister(Experiment) }
