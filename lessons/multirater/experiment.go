package multirater

import (
	"fmt"
	"slices"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/phantom"
	"github.com/gostudy/gostudy/datasets/raters"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/lessons/segkit"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// Name is the registered experiment: `gostudy ablate multirater -grid init_std=0,0.01,0.1,1`.
const Name = "multirater"

// EvalBatch is the batch of validation and test evaluation.
const EvalBatch = 25

// Modes (the Mode field).
const (
	// ModeEmbedding gives every rater a learned latent, projected and added to the features
	// (the notes' auto-decoder).
	ModeEmbedding = "embedding"
	// ModePooled ignores the rater ids: one model for everyone's labels.
	ModePooled = "pooled"
)

// Label assignments (the Labels field).
const (
	LabelsAll = "all" // every training rater labels every training image
	LabelsOne = "one" // one rater, drawn at random, per training image
)

// Injection points (the Inject field).
const (
	InjectOnce  = "once"  // at the bottleneck, as the paper does
	InjectEvery = "every" // at the bottleneck and after every decoder level
)

// Choices of the string knobs.
var (
	Modes       = []string{ModeEmbedding, ModePooled}
	Assignments = []string{LabelsAll, LabelsOne}
	Injections  = []string{InjectOnce, InjectEvery}
)

// Panel is the lesson's raters for images of the given size: datasets/raters' five (exact,
// generous, tight, cautious, misses-small) and a sixth, "newcomer", whom no training run sees:
// the rater fitted from a few images at the end ([FitNewRater]). The newcomer draws wider than
// anyone in the training panel (+3 px at 64×64).
func Panel(size int) raters.Panel {
	p := raters.DefaultPanel(size)
	return append(p, raters.Rater{Name: "newcomer", Grow: 3 * float64(size) / 64})
}

// Newcomer is the panel index of the rater held out of every training run.
const Newcomer = 5

// TrainingRaters is the number of raters that label training images (all but the newcomer).
const TrainingRaters = Newcomer

// RunConfig is one training run: a U-Net with a rater embedding (or pooled), the labels it
// learns from, the latents' knobs, and the images. Its JSON keys are the flags of
// `gostudy ablate multirater`.
type RunConfig struct {
	experiment.Train
	Base   int `json:"base" help:"channels at the first level (doubled at each level down)"`
	Levels int `json:"levels" help:"U-Net levels"`
	// Mode is embedding (a latent per rater) or pooled (rater ids ignored).
	Mode string `json:"mode" help:"embedding (a learned latent per rater) or pooled (rater ids ignored)"`
	// OnlyRater ≥ 0 trains on that rater's labels alone (validation and test too): the
	// one-model-per-rater baseline. −1 uses every training rater.
	OnlyRater int `json:"only_rater" help:"train and test on this rater's labels only (-1: every training rater)"`
	// Labels is all (every rater labels every image) or one (one random rater per image).
	Labels string `json:"labels" help:"all (every rater labels every training image) or one (one random rater per image)"`
	// LatentDim is the size of a rater's latent; InitStd the standard deviation of its
	// Gaussian initialization; LatentL2 the λ of λ·Σ_r‖z_r‖².
	LatentDim int     `json:"latent_dim" help:"size of each rater's latent"`
	InitStd   float64 `json:"init_std" help:"standard deviation of the latents' Gaussian initialization"`
	LatentL2  float64 `json:"latent_l2" help:"λ of the latents' penalty λ·Σ‖z_r‖² (a Gaussian prior)"`
	// Inject is once (at the bottleneck) or every (the bottleneck and every decoder level).
	Inject string `json:"inject" help:"where the latent is added: once (bottleneck) or every (and every decoder level)"`
	segkit.Images
}

// Steps is the number of training steps of the run.
func (c *RunConfig) Steps() int {
	pairs := c.TrainSize
	if c.Labels == LabelsAll && c.OnlyRater < 0 {
		pairs *= TrainingRaters
	}
	return c.Epochs * (pairs / max(c.BatchSize, 1))
}

// Validate implements the check the experiment runner calls before training.
func (c *RunConfig) Validate() error {
	switch {
	case c.Base <= 0 || c.Levels < 2:
		return fmt.Errorf("base %d and levels %d: want base > 0 and at least 2 levels", c.Base, c.Levels)
	case c.ImageSize%(1<<(c.Levels-1)) != 0:
		return fmt.Errorf("image_size %d must divide by 2^(levels-1) = %d", c.ImageSize, 1<<(c.Levels-1))
	case !slices.Contains(Modes, c.Mode):
		return fmt.Errorf("mode %q: want one of %v", c.Mode, Modes)
	case !slices.Contains(Assignments, c.Labels):
		return fmt.Errorf("labels %q: want one of %v", c.Labels, Assignments)
	case !slices.Contains(Injections, c.Inject):
		return fmt.Errorf("inject %q: want one of %v", c.Inject, Injections)
	case c.OnlyRater < -1 || c.OnlyRater >= TrainingRaters:
		return fmt.Errorf("only_rater %d outside [-1, %d)", c.OnlyRater, TrainingRaters)
	case c.LatentDim <= 0 || c.InitStd < 0 || c.LatentL2 < 0:
		return fmt.Errorf("latent_dim %d, init_std %g, latent_l2 %g: want a positive size and non-negative std and λ",
			c.LatentDim, c.InitStd, c.LatentL2)
	case c.Steps() == 0:
		return fmt.Errorf("no training step: %d images, labels %s, batch %d", c.TrainSize, c.Labels, c.BatchSize)
	}
	return c.Images.ValidateRun(1, EvalBatch)
}

// Latents is the pkg/nn configuration of the raters' latents (the whole panel, newcomer
// included, so that a fitted newcomer has its row).
func (c *RunConfig) Latents() nn.RaterEmbeddingConfig {
	return nn.RaterEmbeddingConfig{NumRaters: len(Panel(c.ImageSize)), Dim: c.LatentDim, InitStd: c.InitStd}
}

// Network builds the run's U-Net with the rater latents added where Inject says; scope is the
// model's root. It returns the mask logits.
func Network(scope *model.Scope, cfg RunConfig, x, ids *Node) *Node {
	u := nn.UNetConfig{InChannels: 1, NumClasses: 1, Base: cfg.Base, Levels: cfg.Levels}
	if cfg.Mode == ModeEmbedding {
		z := nn.RaterLatents(scope.In("raters"), ids, cfg.Latents())
		inject := scope.In("inject")
		u.Hook = func(level int, h *Node) *Node {
			if cfg.Inject == InjectOnce && level != cfg.Levels-1 {
				return h
			}
			return nn.AddLatent(inject.In("%d", level), h, z)
		}
	}
	return nn.UNetForward(scope, x, u).Logits
}

const l2Key = "multirater_latent_l2"

// Model maps [images [B, S, S, 1], rater ids [B] int32] to mask logits [B, S, S, 1]. In
// training graphs of the embedding mode it also returns λ·Σ_r‖z_r‖², which [Loss] adds.
func Model(scope *model.Scope, cfg RunConfig, inputs []*Node) []*Node {
	x, ids := inputs[0], inputs[1]
	out := []*Node{Network(scope, cfg, x, ids)}
	if cfg.Mode == ModeEmbedding && cfg.LatentL2 > 0 && scope.IsTraining(x.Graph()) {
		l2 := nn.RaterLatentL2(scope.At("raters"), x.Graph(), len(Panel(cfg.ImageSize)), cfg.LatentDim)
		out = append(out, MulScalar(l2, cfg.LatentL2))
	}
	return out
}

// Logits is the inference model as segkit.Predict takes it (images and rater ids).
func Logits(cfg RunConfig) segkit.LogitsFn {
	return func(scope *model.Scope, inputs []*Node) *Node { return Model(scope, cfg, inputs)[0] }
}

// Loss is BCE + (1 − Dice) against the rater's mask, plus the latents' penalty when the model
// returned it: the notes' "各个诊断者关于每个样本预测的损失值之和" plus "各个诊断者潜在嵌入的参数平方和".
func Loss(labels, predictions []*Node) *Node {
	loss := nn.BCEDiceLoss(predictions[0], labels[0])
	if len(predictions) > 1 {
		loss = Add(loss, predictions[1])
	}
	return loss
}

// trainRaters are the raters whose labels a run learns from and is tested on.
func (c RunConfig) trainRaters() []int {
	if c.OnlyRater >= 0 {
		return []int{c.OnlyRater}
	}
	out := make([]int, TrainingRaters)
	for i := range out {
		out[i] = i
	}
	return out
}

// Sets returns the run's training, validation and test examples: (image, rater) pairs of
// the training raters (one rater drawn at random per training image with Labels one), each
// rater's mask of the image its label. Validation and test sets hold every rater's labels,
// the newcomer's included, but only the training raters' pairs.
func (c RunConfig) Sets() (trainSet, valSet, testSet *raters.Set, err error) {
	tr, val, test, err := c.Splits()
	if err != nil {
		return nil, nil, nil, err
	}
	panel := Panel(c.ImageSize)
	assign := raters.AllRaters
	if c.Labels == LabelsOne {
		assign = raters.OneRaterPerImage
	}
	// The random rater of a training image is drawn among the training raters only.
	if trainSet, err = raters.NewSet(tr, panel[:TrainingRaters], assign, lesson.PhantomSeed); err != nil {
		return nil, nil, nil, err
	}
	trainSet = trainSet.ForRaters(c.trainRaters()...)
	trainSet.Augment = phantom.Augment{FlipH: c.FlipH, MaxShift: c.MaxShift}
	if trainSet.Len() < c.BatchSize {
		return nil, nil, nil, fmt.Errorf("%d training labels, fewer than a batch of %d", trainSet.Len(), c.BatchSize)
	}
	if valSet, err = raters.NewSet(val, panel, raters.AllRaters, lesson.PhantomSeed); err != nil {
		return nil, nil, nil, err
	}
	if testSet, err = raters.NewSet(test, panel, raters.AllRaters, lesson.PhantomSeed); err != nil {
		return nil, nil, nil, err
	}
	return trainSet, valSet.ForRaters(c.trainRaters()...), testSet.ForRaters(c.trainRaters()...), nil
}

// Data is the run's data: inputs [image, rater id], labels [the rater's mask].
func Data(c RunConfig, seed int64) (*experiment.Data, error) {
	tr, val, test, err := c.Sets()
	if err != nil {
		return nil, err
	}
	return lesson.SourceData(fmt.Sprintf("raters-%d", c.ImageSize), tr, val, test, c.BatchSize, EvalBatch, seed)
}

// Experiment is the registered experiment: a U-Net learning from several raters' labels,
// with a latent per rater or pooled; best checkpoint by validation Dice against the raters'
// labels. Its default config is the full budget's main run.
var Experiment = &experiment.Experiment[RunConfig]{
	Name:        Name,
	Description: "lesson 07: multi-rater labels with a learned latent per rater (auto-decoder) on ultrasound phantoms",
	Defaults:    func() RunConfig { return ForBudget(lesson.Full).Run },
	Model:       Model,
	Loss:        Loss,
	Metrics:     segkit.Metrics[RunConfig],
	Data:        Data,
	Select:      segkit.BestDice,
}

func init() { experiment.MustRegister(Experiment) }
