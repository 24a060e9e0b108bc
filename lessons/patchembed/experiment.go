package patchembed

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer/cosineschedule"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// Name is the registered experiment name: `gostudy ablate patchembed -grid stem=patch,overlap`.
const Name = "patchembed"

// Model is the experiment's model: nn.ViT(c.ViT()), images [B, 28, 28, 1] → logits [B, 10].
// In training graphs it also sets the step's learning rate: linear warm-up, then cosine decay
// (the ViT paper's schedule).
func Model(scope *model.Scope, c RunConfig, inputs []*graph.Node) []*graph.Node {
	g := inputs[0].Graph()
	if scope.IsTraining(g) {
		cosineschedule.New(scope, g, nn.DType).LearningRate(c.LearningRate).
			WarmUpSteps(c.WarmupSteps).PeriodSteps(c.Steps() - c.WarmupSteps).Done()
	}
	return []*graph.Node{nn.ViT(c.ViT())(scope, inputs[0])}
}

// Timm names the timm model with the same state_dict: the patch-stem models are timm's
// VisionTransformer; the overlap and conv stems and the tanh head are not expressible with
// timm's keyword arguments, so they export under the same names without a timm recipe.
func Timm(c RunConfig) *experiment.TimmModel {
	if c.Stem != StemPatch || c.RepresentationSize > 0 {
		return nil
	}
	v := c.ViT()
	return &experiment.TimmModel{Name: "vit_tiny_patch16_224", Kwargs: map[string]any{
		"img_size": v.ImageSize, "patch_size": v.PatchSize, "in_chans": v.InChans, "num_classes": v.NumClasses,
		"embed_dim": v.EmbedDim, "depth": v.Depth, "num_heads": v.NumHeads, "mlp_ratio": v.MLPRatio,
		"qkv_bias": v.QKVBias, "class_token": v.ClassToken, "global_pool": v.Pool,
	}}
}

// Experiment is the lesson's registered experiment: a ViT on MNIST with a choice of stem and
// pooling. Its default config is the full budget's main run.
var Experiment = lesson.Classifier(Name, "lesson 2: ViT on MNIST — patchify vs overlapping conv stem, class token vs average pooling",
	func() RunConfig { return ForBudget(lesson.Full).Run }, Model)

func init() {
	Experiment.Timm = Timm
	experiment.MustRegister(Experiment)
}
