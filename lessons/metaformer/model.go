package metaformer

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// Name is the registered experiment: `gostudy ablate metaformer -grid token_mixer=pooling,attention`.
const Name = "metaformer"

// Net is the MetaFormer skeleton of the lesson: PoolFormer's layout (nn.PoolFormer: a 7×7
// stride-4 stem, stages separated by 3×3 stride-2 patch embeddings, GroupNorm(1, C) blocks, a
// LayerNorm head) with a choice of token mixer and MLP width.
type Net struct {
	// TokenMixer is one of nn.TokenMixers.
	TokenMixer string `json:"token_mixer" help:"pooling, identity, dwconv, attention or spatialmlp"`
	// MLPRatio is the MLP's hidden width over its input width (PoolFormer: 4).
	MLPRatio float64 `json:"mlp_ratio" help:"MLP hidden width / channels"`
	// Dims and Depths are the stages' channels and blocks.
	Dims   []int `json:"dims" help:"channels per stage"`
	Depths []int `json:"depths" help:"blocks per stage"`
	// LayerScale is the initial value of the blocks' per-channel residual scales (PoolFormer:
	// 1e-5); 0 leaves them out.
	LayerScale float64 `json:"layer_scale" help:"initial LayerScale (0: none; PoolFormer uses 1e-5)"`
}

// Validate reports a Net that cannot be built.
func (n Net) Validate() error {
	if err := nn.ValidateTokenMixer(n.TokenMixer); err != nil {
		return err
	}
	if n.MLPRatio <= 0 {
		return fmt.Errorf("mlp_ratio %g must be positive", n.MLPRatio)
	}
	if n.LayerScale < 0 {
		return fmt.Errorf("layer_scale %g must not be negative", n.LayerScale)
	}
	return n.PoolFormerConfig(1, 10).Validate()
}

// PoolFormerConfig is the pkg/nn model of the Net for one-channel images and the given classes.
func (n Net) PoolFormerConfig(inChans, classes int) nn.PoolFormerConfig {
	return nn.PoolFormerConfig{InChans: inChans, NumClasses: classes, Depths: n.Depths, Dims: n.Dims, MLPRatio: n.MLPRatio,
		LayerScaleInit: n.LayerScale, TokenMixer: n.TokenMixer}
}

// Label names the network: "pooling, MLP ×4".
func (n Net) Label() string { return fmt.Sprintf("%s, MLP ×%.3g", n.TokenMixer, n.MLPRatio) }

// RunConfig is one training run: training knobs, the network and the data (MNIST digits, or
// the phantoms' classes with -set dataset=phantom).
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

// Logits is the classifier: images [B, S, S, 1] → logits.
func (c RunConfig) Logits(scope *model.Scope, x *graph.Node) *graph.Node {
	return nn.PoolFormer(c.PoolFormerConfig(1, c.Classes()))(scope, x)
}

// Experiment is the registered experiment; its default config is the full budget's PoolFormer.
// The pooling network has timm's poolformer names (nn.PoolFormer), but a one-channel stem and
// the lesson's own sizes; the other mixers are not timm's. Export writes safetensors with
// these names, and ONNX.
var Experiment = lesson.Classifier(Name, "lesson 10: the MetaFormer skeleton with token mixer identity / pooling / dwconv / attention / spatialmlp, MLP ratio",
	func() RunConfig { return ForBudget(lesson.Full).Run }, lesson.LogitsModel[RunConfig]())

func init() { experiment.MustRegister(Experiment) }
