package patchembed

import (
	"fmt"

	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// The stems the lesson compares; RunConfig.Stem takes one of them.
const (
	// StemPatch is ViT's patchify stem: one convolution with kernel = stride = p, so patches do
	// not overlap (timm's PatchEmbed).
	StemPatch = "patch"
	// StemOverlap is the same convolution with kernel 2p, stride p and padding p/2: the same
	// token grid, but each token sees a 2p×2p window that overlaps its neighbours by p pixels —
	// the notes' "ordinary convolutional embedding = embedding of overlapping patches".
	StemOverlap = "overlap"
	// StemConv is a small convolutional stem (Xiao et al., 2021, "Early Convolutions Help
	// Transformers See Better"): 3×3 stride-2 convolutions with ReLU between them until the
	// image is p times smaller. Offered for `gostudy ablate`; the notebook compares the first two.
	StemConv = "conv"
)

// The head's input, RunConfig.Pool.
const (
	PoolToken = "token" // the class token's final state (ViT's choice)
	PoolAvg   = "avg"   // global average of the patch tokens (GAP), no class token
)

// RunConfig is the config of one training run of the lesson's experiment (registered as
// "patchembed"): a small ViT for 28×28 MNIST digits whose stem and pooling are the knobs the
// lesson studies. Its JSON keys are the `gostudy ablate -grid` keys.
type RunConfig struct {
	experiment.Train
	// Stem is "patch", "overlap" or "conv" (see StemPatch, StemOverlap, StemConv).
	Stem string `json:"stem" help:"patch (kernel = stride), overlap (kernel 2p, stride p) or conv (3×3 stride-2 convs)"`
	// Pool is "token" (class token) or "avg" (global average pooling, no class token).
	Pool string `json:"pool" help:"token (class token) or avg (global average of patch tokens)"`
	// PatchSize p: the image becomes a (28/p)×(28/p) grid of tokens.
	PatchSize int `json:"patch_size" help:"patch size p (28 must be a multiple)"`
	// EmbedDim, Depth, NumHeads and MLPRatio size the transformer: by default nn.ViTTiny28's
	// width, heads and MLP ratio with 2 blocks instead of 4 (half the compute; the claims are
	// about the stem, the position embedding and the class token).
	EmbedDim int     `json:"embed_dim" help:"token width D"`
	Depth    int     `json:"depth" help:"transformer blocks"`
	NumHeads int     `json:"num_heads" help:"attention heads"`
	MLPRatio float64 `json:"mlp_ratio" help:"MLP hidden width / D"`
	// RepresentationSize > 0 adds the pre-training head's tanh hidden layer (ViT §3.1).
	RepresentationSize int `json:"representation_size" help:"tanh pre-logits width (0: none, as timm)"`
	// TrainSize images from MNIST's training split are trained on; ValSize other images of that
	// split pick the best checkpoint; TestSize images of the test split give the final accuracy.
	TrainSize int `json:"train_size" help:"training images"`
	ValSize   int `json:"val_size" help:"validation images (held out from the training split)"`
	TestSize  int `json:"test_size" help:"test images (from MNIST's test split)"`
	// MaxShift shifts training images by up to this many pixels (augmentation).
	MaxShift int `json:"max_shift" help:"random shift of training images, pixels"`
	// WarmupSteps ramps the learning rate up linearly from 0; after it the rate follows a
	// cosine down to 0 at the last step (the ViT paper's schedule, §B.1).
	WarmupSteps int `json:"warmup_steps" help:"linear warm-up steps before the cosine decay"`
}

// TotalSteps is the number of training steps of a run.
func (c RunConfig) TotalSteps() int { return c.Epochs * (c.TrainSize / c.BatchSize) }

// EvalBatch is the batch size of every evaluation; ValSize and TestSize are multiples of it so
// that one compiled evaluation graph serves every batch.
const EvalBatch = 250

// Validate reports a config that cannot train.
func (c *RunConfig) Validate() error {
	switch {
	case c.Stem != StemPatch && c.Stem != StemOverlap && c.Stem != StemConv:
		return fmt.Errorf("stem %q: want %q, %q or %q", c.Stem, StemPatch, StemOverlap, StemConv)
	case c.Pool != PoolToken && c.Pool != PoolAvg:
		return fmt.Errorf("pool %q: want %q or %q", c.Pool, PoolToken, PoolAvg)
	case c.PatchSize <= 0 || 28%c.PatchSize != 0:
		return fmt.Errorf("patch size %d must divide 28", c.PatchSize)
	case c.Stem == StemOverlap && c.PatchSize%2 != 0:
		return fmt.Errorf("overlap stem: patch size %d must be even (padding p/2)", c.PatchSize)
	case c.Stem == StemConv && c.PatchSize&(c.PatchSize-1) != 0:
		return fmt.Errorf("conv stem: patch size %d must be a power of two (stride-2 convs)", c.PatchSize)
	case c.EmbedDim <= 0 || c.NumHeads <= 0 || c.EmbedDim%c.NumHeads != 0 || c.Depth < 1:
		return fmt.Errorf("embed dim %d, %d heads, depth %d: need D divisible by heads and depth ≥ 1", c.EmbedDim, c.NumHeads, c.Depth)
	case c.BatchSize <= 0 || c.TrainSize < c.BatchSize:
		return fmt.Errorf("batch %d, train size %d", c.BatchSize, c.TrainSize)
	case c.ValSize <= 0 || c.ValSize%EvalBatch != 0 || c.TestSize <= 0 || c.TestSize%EvalBatch != 0:
		return fmt.Errorf("val size %d and test size %d must be positive multiples of %d", c.ValSize, c.TestSize, EvalBatch)
	case c.ValSize+c.TrainSize > 60000 || c.TestSize > 10000:
		return fmt.Errorf("train %d + val %d > 60000 or test %d > 10000 images", c.TrainSize, c.ValSize, c.TestSize)
	case c.WarmupSteps < 0 || c.WarmupSteps >= c.TotalSteps():
		return fmt.Errorf("warm-up of %d steps in a run of %d", c.WarmupSteps, c.TotalSteps())
	case c.MaxShift < 0 || c.MaxShift > 4:
		return fmt.Errorf("max shift %d outside [0, 4]", c.MaxShift)
	}
	return nil
}

// ViT is the pkg/nn ViT config with the same transformer; for the patch stem, nn.ViT(cfg.ViT())
// is exactly the lesson's model (TestModelIsNNViT), so its variables are timm's.
func (c RunConfig) ViT() nn.ViTConfig {
	return nn.ViTConfig{
		ImageSize: 28, InChans: 1, PatchSize: c.PatchSize, NumClasses: 10,
		EmbedDim: c.EmbedDim, Depth: c.Depth, NumHeads: c.NumHeads, MLPRatio: c.MLPRatio, QKVBias: true,
		ClassToken: c.Pool == PoolToken, Pool: c.Pool, RepresentationSize: c.RepresentationSize,
	}
}

// Grid is the token grid of a 28×28 image.
func (c RunConfig) Grid() [2]int { return [2]int{28 / c.PatchSize, 28 / c.PatchSize} }

// Prefix is the number of tokens before the patch tokens (1 with the class token).
func (c RunConfig) Prefix() int {
	if c.Pool == PoolToken {
		return 1
	}
	return 0
}

// Config is everything the lesson spends: the main training run and the sizes of the
// measurements around it. One code path serves both budgets; the test budget only shrinks the
// numbers.
type Config struct {
	// Run is the main run: patchify stem, class token. The stem and pooling comparisons change
	// only Stem or Pool.
	Run RunConfig
	// Seeds is the number of seeds per arm of the class-token vs average-pooling ablation.
	Seeds int
	// NewSize is the resolution the trained model is evaluated at with interpolated position
	// embeddings (a multiple of the patch size).
	NewSize int
	// TransferImages is how many test images the resolution experiment uses.
	TransferImages int
	// AttnImages is how many test images the class-token attention measurement averages over.
	AttnImages int
}

// ForBudget returns the lesson's config for a budget. Full: 55,000 training images, 5
// epochs, 3 seeds per ablation arm. Test: 6,000 images, 2 epochs, one seed — enough for every
// claim to show, in a few minutes on two CPU cores.
func ForBudget(b lesson.Budget) Config {
	run := RunConfig{
		Train:     experiment.Train{Epochs: 5, BatchSize: 64, LearningRate: 3e-3, LogEvery: 10},
		Stem:      StemPatch,
		Pool:      PoolToken,
		PatchSize: 4, EmbedDim: 64, Depth: 2, NumHeads: 4, MLPRatio: 2,
		TrainSize: 55000, ValSize: 5000, TestSize: 10000,
		MaxShift: 1, WarmupSteps: 400,
	}
	cfg := Config{Run: run, Seeds: 3, NewSize: 56, TransferImages: 10000, AttnImages: 1000}
	if b == lesson.Test {
		cfg.Run.Epochs = 2
		cfg.Run.BatchSize = 32
		cfg.Run.TrainSize = 6000
		cfg.Run.ValSize = 500
		cfg.Run.TestSize = 1000
		cfg.Run.MaxShift = 0
		cfg.Run.WarmupSteps = 30
		cfg.Seeds = 1
		cfg.TransferImages = 500
		cfg.AttnImages = 250
	}
	return cfg
}

// With returns a copy of the main run with another stem and pooling.
func (c Config) With(stem, pool string) RunConfig {
	r := c.Run
	r.Stem, r.Pool = stem, pool
	return r
}
