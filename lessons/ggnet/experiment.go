package ggnet

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

// Name is the registered experiment: `gostudy ablate ggnet -grid edge_weight=0,1,10,100`.
const Name = "ggnet"

// EvalBatch is the batch of validation and test evaluation (the sizes are multiples of it).
const EvalBatch = 25

// The BD subtraction orders (BDOrder).
const (
	OrderFMinusMax = "f-max" // E = F − maxpool(F), as the paper writes it
	OrderMaxMinusF = "max-f" // E = maxpool(F) − F
)

// Where the BD modules' losses compare their outputs with the ground truth (BDTarget).
const (
	// TargetShrink averages the full-size mask and edge map down to each BD module's scale:
	// what the notes say the paper does ("GT缩小到对应BD的尺寸").
	TargetShrink = "shrink"
	// TargetUpsample resizes the BD outputs (bilinear) up to the image and compares them with
	// the full-size ground truth: the alternative the notes expect to be worse.
	TargetUpsample = "upsample"
	// TargetNative renders the ground truth at each BD scale from the phantom's geometry (the
	// mask from the exact signed distance, the edge by the same Canny): what a ground truth at
	// that resolution would really be. Phantoms only.
	TargetNative = "native"
)

// Choices of the string knobs.
var (
	Orders  = []string{OrderFMinusMax, OrderMaxMinusF}
	Targets = []string{TargetShrink, TargetUpsample, TargetNative}
	Heads   = []string{string(nn.HeadUNet), string(nn.HeadBilinear4x)}
)

// RunConfig is one training run of the lesson's GG-Net: the network's knobs (each a question of
// the notes), the losses' weights, the training settings and the images. Its JSON keys are the
// flags of `gostudy ablate ggnet`.
type RunConfig struct {
	experiment.Train
	// Base is the channels of the first encoder level (doubled per level); Levels the number
	// of encoder levels (BD modules sit on every level but the first).
	Base   int `json:"base" help:"channels at the first level (doubled at each level down)"`
	Levels int `json:"levels" help:"encoder levels (BD modules on levels 1…levels-1)"`
	// Guidance is the GGBs' attention weights: both (softmax(W⊙W′), the paper), self
	// (softmax(W), no guidance map), guide (softmax(W′)), off (no GGBs).
	Guidance string `json:"guidance" help:"GGB weights: both (softmax(W*W')), self (W), guide (W') or off (no GGBs)"`
	// GuidanceLevels are the encoder levels fused into the guidance map (empty: all).
	GuidanceLevels []int `json:"guidance_levels" help:"encoder levels fused into the guidance map (empty: all)"`
	// SeparateGuidance gives the spatial and the channel GGB a guidance map each.
	SeparateGuidance bool `json:"separate_guidance" help:"a guidance map per GGB instead of one shared"`
	// ASPP puts an ASPP (rates 1, 2, 3) on the deepest map before the GGBs, as the paper does.
	ASPP bool `json:"aspp" help:"ASPP (rates 1, 2, 3) before the GGBs"`
	// Head is the decoder: unet (2× steps with skips) or bilinear4x (DeepLabv3+'s 4× jump).
	Head string `json:"head" help:"decoder: unet (2x steps with skips) or bilinear4x (one 4x bilinear jump)"`
	// BDOrder is the BD module's subtraction: f-max (the paper) or max-f.
	BDOrder string `json:"bd_order" help:"BD edge: f-max (E = F - maxpool F, the paper) or max-f"`
	// BDWeight scales the BD modules' losses (0: they are built but not trained); EdgeWeight
	// the edge MSE inside them (the notes' ×10).
	BDWeight   float64 `json:"bd_weight" help:"weight of the BD modules' losses (0: not trained)"`
	EdgeWeight float64 `json:"edge_weight" help:"weight of the BD edge MSE (the notes: 10)"`
	// BDTarget is where BD outputs meet the ground truth: shrink, upsample or native.
	BDTarget string `json:"bd_target" help:"BD ground truth: shrink (GT averaged down), upsample (outputs up) or native (GT rendered at the BD scale)"`
	segkit.Images
}

// Steps is the number of training steps of the run.
func (c *RunConfig) Steps() int { return c.Phantoms.Steps(c.BatchSize, c.Epochs) }

// Net is the pkg/nn configuration of the run's network.
func (c *RunConfig) Net() nn.GGNetConfig {
	order := nn.BDFMinusMax
	if c.BDOrder == OrderMaxMinusF {
		order = nn.BDMaxMinusF
	}
	var rates []int
	if c.ASPP {
		rates = []int{1, 2, 3}
	}
	return nn.GGNetConfig{
		UNet:    nn.UNetConfig{InChannels: 1, NumClasses: 1, Base: c.Base, Levels: c.Levels},
		BDOrder: order, Guidance: nn.GuidanceMode(c.Guidance), GuidanceLevels: c.GuidanceLevels,
		SeparateGuidance: c.SeparateGuidance, ASPPRates: rates, Head: nn.HeadKind(c.Head),
	}
}

// Validate implements the check the experiment runner calls before training.
func (c *RunConfig) Validate() error {
	switch {
	case c.Base <= 0 || c.Levels < 3:
		return fmt.Errorf("base %d and levels %d: want base > 0 and at least 3 levels", c.Base, c.Levels)
	case c.ImageSize%(1<<(c.Levels-1)) != 0:
		return fmt.Errorf("image_size %d must divide by 2^(levels-1) = %d", c.ImageSize, 1<<(c.Levels-1))
	case !slices.Contains(nn.GuidanceModes, nn.GuidanceMode(c.Guidance)):
		return fmt.Errorf("guidance %q: want one of %v", c.Guidance, nn.GuidanceModes)
	case !slices.Contains(Orders, c.BDOrder):
		return fmt.Errorf("bd_order %q: want one of %v", c.BDOrder, Orders)
	case !slices.Contains(Targets, c.BDTarget):
		return fmt.Errorf("bd_target %q: want one of %v", c.BDTarget, Targets)
	case !slices.Contains(Heads, c.Head):
		return fmt.Errorf("head %q: want one of %v", c.Head, Heads)
	case c.BDWeight < 0 || c.EdgeWeight < 0:
		return fmt.Errorf("bd_weight %g and edge_weight %g must be ≥ 0", c.BDWeight, c.EdgeWeight)
	case c.BDTarget == TargetNative && c.Real():
		return fmt.Errorf("bd_target native renders the ground truth from the phantoms' geometry; real images (%s) have none", c.BUSI)
	case c.BDTarget == TargetNative && c.MaxShift != 0:
		return fmt.Errorf("bd_target native: max_shift %d would move the full-size maps by pixels the smaller ones cannot follow", c.MaxShift)
	}
	for _, l := range c.GuidanceLevels {
		if l < 0 || l >= c.Levels {
			return fmt.Errorf("guidance level %d outside [0, %d)", l, c.Levels)
		}
	}
	return c.Images.ValidateRun(c.BatchSize, EvalBatch)
}

// lossSpec is what the model tells the loss through a graph parameter (experiment.Loss sees no
// config): the BD losses' weights and targets.
type lossSpec struct {
	BDWeight, EdgeWeight float64
	Target               string
}

const lossSpecKey = "ggnet_loss"

// Model maps images [B, S, S, 1] to mask logits [B, S, S, 1]. In training graphs with a BD
// weight it also returns every BD module's F + E and E, level 1 first: the BD outputs supervise
// the encoder and never feed the mask.
func Model(scope *model.Scope, cfg RunConfig, inputs []*Node) []*Node {
	x := inputs[0]
	out := nn.GGNetForward(scope, x, cfg.Net())
	preds := []*Node{out.Mask}
	if cfg.BDWeight > 0 && scope.IsTraining(x.Graph()) {
		for _, bd := range out.Boundary {
			preds = append(preds, bd.Seg, bd.Edge)
		}
		model.SetGraphParam(x.Graph(), lossSpecKey, lossSpec{BDWeight: cfg.BDWeight, EdgeWeight: cfg.EdgeWeight, Target: cfg.BDTarget})
	}
	return preds
}

// Logits is the inference model as segkit.Predict takes it.
func Logits(cfg RunConfig) segkit.LogitsFn {
	return func(scope *model.Scope, inputs []*Node) *Node { return Model(scope, cfg, inputs)[0] }
}

// Loss is the notes' loss: the final mask's BCE + (1 − Dice), plus, for every BD module, the
// BD weight × (BCE + (1 − Dice) on F + E against the mask, + the edge weight × the MSE of E
// against the edge map), each ground truth at the BD module's scale as BDTarget says. Labels:
// [mask, edge, class] and, for native targets, [mask, edge] at every BD scale after them.
//
// The notes write the final mask's loss as "1 − 二元交叉熵损失 − dice score" (1 − BCE − Dice):
// minimizing that would raise the cross-entropy; the BD modules' "BCE + 1 − Dice" is meant.
func Loss(labels, predictions []*Node) *Node {
	mask, edge := labels[0], labels[1]
	loss := nn.BCEDiceLoss(predictions[0], mask)
	if len(predictions) == 1 {
		return loss
	}
	v, _ := model.GetGraphParam(mask.Graph(), lossSpecKey)
	spec, _ := v.(lossSpec)
	size := mask.Shape().Dimensions[1]
	for i := 0; 2*i+2 < len(predictions); i++ {
		seg, e := predictions[1+2*i], predictions[2+2*i]
		var mt, et *Node
		switch spec.Target {
		case TargetUpsample:
			seg, e = nn.Resize(seg, size, size), nn.Resize(e, size, size)
			mt, et = mask, edge
		case TargetNative:
			mt, et = labels[3+2*i], labels[4+2*i]
		default:
			s := seg.Shape().Dimensions[1]
			mt, et = segkit.Shrink(mask, s), segkit.Shrink(edge, s)
		}
		bd := Add(nn.BCEDiceLoss(seg, mt), MulScalar(ReduceAllMean(Square(Sub(e, et))), spec.EdgeWeight))
		loss = Add(loss, MulScalar(bd, spec.BDWeight))
	}
	return loss
}

// Experiment is the registered experiment: GG-Net trained on phantoms (or a BUSI folder) with
// Adam and the notes' losses, the best checkpoint chosen by validation Dice and scored on the
// test images. Its default config is the full budget's main run.
var Experiment = &experiment.Experiment[RunConfig]{
	Name:        Name,
	Description: "lesson 06: GG-Net on ultrasound phantoms (guidance, GGBs, boundary detection, its losses)",
	Defaults:    func() RunConfig { return ForBudget(lesson.Full).Run },
	Model:       Model,
	Loss:        Loss,
	Metrics:     segkit.Metrics[RunConfig],
	Data:        Data,
	Select:      segkit.BestDice,
}

func init() { experiment.MustRegister(Experiment) }
