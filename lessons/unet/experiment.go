package unet

import (
	"fmt"
	"slices"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/lessons/segkit"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// Name is the registered experiment: `gostudy ablate unet -grid downsample=avgpool,maxpool,conv`.
const Name = "unet"

// EvalBatch is the batch of validation and test evaluation; the budgets' validation and test
// sizes are multiples of it, so one evaluation graph serves every batch.
const EvalBatch = 25

// Downsampling kinds (the Downsample field), pkg/nn's names.
var Downsamplings = []string{string(nn.DownAvgPool), string(nn.DownMaxPool), string(nn.DownConv)}

// RunConfig is one training run: the U-Net's knobs, the training settings and the images. Its
// JSON keys are the flags of `gostudy ablate unet`.
type RunConfig struct {
	experiment.Train
	// Base is the number of channels at the first level, doubled at every level down.
	Base int `json:"base" help:"channels at the first level (doubled at each level down)"`
	// Levels is the number of resolutions (Levels−1 downsamplings).
	Levels int `json:"levels" help:"resolution levels (the image side must divide by 2^(levels-1))"`
	// Downsample is how the encoder halves the resolution: avgpool, maxpool (the paper's) or
	// conv (a learned 2×2 stride-2 convolution).
	Downsample string `json:"downsample" help:"encoder downsampling: avgpool, maxpool or conv"`
	// Skips keeps U-Net's skip connections; false is the same encoder–decoder without them.
	Skips bool `json:"skips" help:"U-Net's skip connections (false: a plain encoder-decoder)"`
	// DeepSupervision > 0 adds a 1×1 head to every decoder level but the last and trains each
	// against the mask averaged down to its scale, with this weight on their mean loss.
	DeepSupervision float64 `json:"deep_supervision" help:"weight of the decoder levels' auxiliary losses (0: none)"`
	segkit.Images
}

// Steps is the number of training steps of the run.
func (c *RunConfig) Steps() int { return c.Phantoms.Steps(c.BatchSize, c.Epochs) }

// UNet is the pkg/nn configuration of the run's network.
func (c *RunConfig) UNet() nn.UNetConfig {
	return nn.UNetConfig{InChannels: 1, NumClasses: 1, Base: c.Base, Levels: c.Levels,
		Downsample: nn.DownsampleKind(c.Downsample), NoSkips: !c.Skips}
}

// Validate implements the check the experiment runner calls before training.
func (c *RunConfig) Validate() error {
	switch {
	case c.Base <= 0 || c.Levels < 2:
		return fmt.Errorf("base %d and levels %d: want base > 0 and at least 2 levels", c.Base, c.Levels)
	case !slices.Contains(Downsamplings, c.Downsample):
		return fmt.Errorf("downsample %q: want one of %v", c.Downsample, Downsamplings)
	case c.ImageSize%(1<<(c.Levels-1)) != 0:
		return fmt.Errorf("image_size %d must divide by 2^(levels-1) = %d", c.ImageSize, 1<<(c.Levels-1))
	case c.DeepSupervision < 0:
		return fmt.Errorf("deep_supervision %g must be ≥ 0", c.DeepSupervision)
	}
	return c.Images.ValidateRun(c.BatchSize, EvalBatch)
}

// auxWeightKey is the graph parameter through which the model tells the loss the weight of
// its auxiliary heads (experiment.Loss sees no config).
const auxWeightKey = "unet_aux_weight"

// Model maps images [B, S, S, 1] to mask logits [B, S, S, 1]. In training graphs with deep
// supervision it also returns one logit map per decoder level but the last (coarsest first),
// from 1×1 heads "aux.<i>", which exist only for training: inference and export see the mask.
func Model(scope *model.Scope, cfg RunConfig, inputs []*Node) []*Node {
	x := inputs[0]
	out := nn.UNetForward(scope, x, cfg.UNet())
	preds := []*Node{out.Logits}
	if cfg.DeepSupervision > 0 && scope.IsTraining(x.Graph()) {
		aux := scope.In("aux")
		for i, d := range out.Decoder[:len(out.Decoder)-1] {
			preds = append(preds, nn.Conv2d(aux.In("%d", i), d, nn.Conv2dConfig{Out: 1, Kernel: 1, Bias: true}))
		}
		model.SetGraphParam(x.Graph(), auxWeightKey, cfg.DeepSupervision)
	}
	return preds
}

// Logits is the inference model as segkit.Predict takes it.
func Logits(cfg RunConfig) segkit.LogitsFn {
	return func(scope *model.Scope, inputs []*Node) *Node { return Model(scope, cfg, inputs)[0] }
}

// Loss is the notes' mask loss, BCE + (1 − Dice) ([nn.BCEDiceLoss]), on the mask logits, plus
// the auxiliary heads' mean loss times the deep-supervision weight, each against the mask
// averaged down to its scale (a soft target: the fraction of lesion under each coarse pixel).
func Loss(labels, predictions []*Node) *Node {
	mask := labels[0]
	loss := nn.BCEDiceLoss(predictions[0], mask)
	if len(predictions) == 1 {
		return loss
	}
	w, _ := model.GetGraphParam(mask.Graph(), auxWeightKey)
	weight, _ := w.(float64)
	var aux *Node
	for _, p := range predictions[1:] {
		l := nn.BCEDiceLoss(p, segkit.Shrink(mask, p.Shape().Dimensions[1]))
		if aux == nil {
			aux = l
		} else {
			aux = Add(aux, l)
		}
	}
	return Add(loss, MulScalar(aux, weight/float64(len(predictions)-1)))
}

// Experiment is the registered experiment: a U-Net trained on phantoms (or a BUSI folder) with
// Adam, the best checkpoint chosen by validation Dice and scored on the test images. Its
// default config is the full budget's main run.
var Experiment = &experiment.Experiment[RunConfig]{
	Name:        Name,
	Description: "lesson 05: U-Net on speckled ultrasound phantoms (skips, downsampling, deep supervision)",
	Defaults:    func() RunConfig { return ForBudget(lesson.Full).Run },
	Model:       Model,
	Loss:        Loss,
	Metrics:     segkit.Metrics[RunConfig],
	Data:        func(c RunConfig, seed int64) (*experiment.Data, error) { return c.Data(c.BatchSize, EvalBatch, seed) },
	Select:      segkit.BestDice,
}

func init() { experiment.MustRegister(Experiment) }
