package windowattention

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer/cosineschedule"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// Name is the registered experiment name (`gostudy ablate windowattention ...`).
const Name = "windowattention"

// Timm is the timm model whose state_dict the trained variables are. A run without the
// shift has the same variables but not the same forward pass (timm always shifts every second
// block), so it gets none; a run without the relative bias is timm's model with a zero table.
func Timm(c RunConfig) *experiment.TimmModel {
	if !c.Shift {
		return nil
	}
	sc := c.Swin()
	return &experiment.TimmModel{Name: "swin_tiny_patch4_window7_224", Kwargs: map[string]any{
		"img_size": 28, "patch_size": sc.PatchSize, "in_chans": sc.InChans, "num_classes": sc.NumClasses,
		"embed_dim": sc.EmbedDim, "depths": sc.Depths, "num_heads": sc.NumHeads, "window_size": sc.WindowSize,
		"mlp_ratio": sc.MLPRatio, "qkv_bias": sc.QKVBias,
	}}
}

// Model is the experiment's model: logits [B, 10] of nn.Swin(c.Swin()) for images
// [B, 28, 28, 1]. Variable names are timm's SwinTransformer names ("patch_embed/proj/weight",
// "layers/0/blocks/1/attn/relative_position_bias_table", "head/fc/weight", ...). In training
// graphs it also sets the step's learning rate (warm-up, then cosine decay to 1/100).
func Model(scope *model.Scope, c RunConfig, inputs []*graph.Node) []*graph.Node {
	if c.Cosine {
		// Only acts while training: evaluation and export build the plain model.
		cosineschedule.New(scope, inputs[0].Graph(), inputs[0].DType()).LearningRate(c.LearningRate).
			MinLearningRate(c.LearningRate / 100).WarmUpSteps(c.WarmupSteps).
			PeriodSteps(c.Steps() - c.WarmupSteps).Done()
	}
	return []*graph.Node{nn.SwinForward(scope, inputs[0], c.Swin()).Logits}
}

// Experiment is the lesson's registered experiment: the tiny Swin of [RunConfig.Swin] on
// MNIST. Its default config is the full budget's main run.
var Experiment = lesson.Classifier(Name, "lesson 4: a tiny Swin (window attention, shifted windows, relative position bias) on MNIST",
	func() RunConfig { return ForBudget(lesson.Full).Run }, Model)

func init() {
	Experiment.Timm = Timm
	experiment.MustRegister(Experiment)
}
