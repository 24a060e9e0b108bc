package patchembed

import (
	"fmt"

	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// The stems the lesson compares (nn.ViTConfig.Stem); RunConfig.Stem takes one of them.
const (
	// StemPatch is ViT's patchify stem: one convolution with kernel = stride = p, so patches do
	// not overlap (timm's PatchEmbed).
	StemPatch = nn.ViTStemPatch
	// StemOverlap is the same convolution with kernel 2p, stride p and padding p/2: the same
	// token grid, but each token sees a 2p×2p window that overlaps its neighbours by p pixels —
	// the notes' "ordinary convolutional embedding = embedding of overlapping patches".
	StemOverlap = nn.ViTStemOverlap
	// StemConv is a small convolutional stem (Xiao et al., 2021, "Early Convolutions Help
	// Transformers See Better"): 3×3 stride-2 convolutions with ReLU between them until the
	// image is p times smaller. Offered for `gostudy ablate` and the exercises.
	StemConv = nn.ViTStemConv
)

// The head's input, RunConfig.Pool (nn.ViTConfig.Pool).
const (
	PoolToken = nn.ViTPoolToken // the class token's final state (ViT's choice)
	PoolAvg   = nn.ViTPoolAvg   // global average of the patch tokens (GAP), no class token
)

// RunConfig is one training run of the lesson's experiment (registered as "patchembed"): a
// small ViT for 28×28 MNIST digits whose stem and pooling are the knobs the lesson studies. Its
// JSON keys are the `gostudy ablate -grid` keys.
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
	// WarmupSteps ramps the learning rate up linearly from 0; after it the rate follows a
	// cosine down to 0 at the last step (the ViT paper's schedule, §B.1).
	WarmupSteps int `json:"warmup_steps" help:"linear warm-up steps before the cosine decay"`
	lesson.MNIST
}

// Steps is the number of training steps of a run.
func (c *RunConfig) Steps() int { return c.MNIST.Steps(c.BatchSize, c.Epochs) }

// Validate reports a config that cannot train.
func (c *RunConfig) Validate() error {
	switch {
	case c.Stem != StemPatch && c.Stem != StemOverlap && c.Stem != StemConv:
		return fmt.Errorf("stem %q: want %q, %q or %q", c.Stem, StemPatch, StemOverlap, StemConv)
	case c.Pool != PoolToken && c.Pool != PoolAvg:
		return fmt.Errorf("pool %q: want %q or %q", c.Pool, PoolToken, PoolAvg)
	case c.PatchSize <= 0 || 28%c.PatchSize != 0:
		return fmt.Errorf("patch_size %d must divide 28", c.PatchSize)
	case c.EmbedDim <= 0 || c.NumHeads <= 0 || c.Depth < 1:
		return fmt.Errorf("embed_dim %d, num_heads %d, depth %d: need positive sizes and depth ≥ 1", c.EmbedDim, c.NumHeads, c.Depth)
	case c.BatchSize <= 0 || c.TrainSize < c.BatchSize:
		return fmt.Errorf("batch_size %d and train_size %d: need 0 < batch ≤ train", c.BatchSize, c.TrainSize)
	case c.WarmupSteps < 0 || c.WarmupSteps >= c.Steps():
		return fmt.Errorf("warm-up of %d steps in a run of %d", c.WarmupSteps, c.Steps())
	}
	if err := c.ViT().Validate(); err != nil {
		return err
	}
	return c.MNIST.Validate()
}

// ViT is the pkg/nn ViT the run trains: nn.ViT(c.ViT()) is the model, its variables are
// timm's VisionTransformer's (for the patch stem, the same state_dict).
func (c RunConfig) ViT() nn.ViTConfig {
	return nn.ViTConfig{
		ImageSize: 28, InChans: 1, PatchSize: c.PatchSize, NumClasses: 10,
		EmbedDim: c.EmbedDim, Depth: c.Depth, NumHeads: c.NumHeads, MLPRatio: c.MLPRatio, QKVBias: true,
		Stem: c.Stem, ClassToken: c.Pool == PoolToken, Pool: c.Pool, RepresentationSize: c.RepresentationSize,
	}
}

// Grid is the token grid of a 28×28 image.
func (c RunConfig) Grid() [2]int { return c.ViT().Grid() }

// Prefix is the number of tokens before the patch tokens (1 with the class token).
func (c RunConfig) Prefix() int { return c.ViT().NumPrefixTokens() }

// Config is everything the notebook does at one budget: the main run, the seeds of the two
// comparisons and the sizes of the measurements. Only sizes change between budgets.
type Config struct {
	Budget lesson.Budget
	// Run is the main run: patchify stem, class token. The comparisons' arms change only Stem
	// or Pool, and the main run is seed 0 of both comparisons' first arm.
	Run RunConfig
	// Seeds is the number of seeds (0, 1, …) per arm of the class-token vs average-pooling
	// comparison; StemSeeds the same for the stem comparison, whose difference is large.
	Seeds, StemSeeds int
	// NewSize is the resolution the trained model is evaluated at with interpolated position
	// embeddings (a multiple of the patch size).
	NewSize int
	// TransferImages is how many test images the resolution experiment and the
	// position-reliance measurement use; AttnImages how many the class-token attention uses.
	TransferImages, AttnImages int
}

// ForBudget returns the lesson's config for budget b. Full: 55,000 training images × 5
// epochs, 3 seeds per arm. Quick: 6,000 images × 2 epochs (374 steps) with ±1-pixel shifts, 2
// seeds for class token vs GAP, 1 for the stems. Test: the same runs without the shifts, one
// seed. (Fewer steps, 312, left the 2D interpolation of the position embedding no better than
// the 1D stretch at 56×56: the embedding had not learned the grid well enough yet.)
func ForBudget(b lesson.Budget) Config {
	run := RunConfig{
		Train: experiment.Train{Epochs: lesson.Pick(b, 2, 2, 5), BatchSize: lesson.Pick(b, 32, 32, 64), LearningRate: 3e-3,
			LogEvery: lesson.Pick(b, 2, 2, 10)},
		Stem:      StemPatch,
		Pool:      PoolToken,
		PatchSize: 4, EmbedDim: 64, Depth: 2, NumHeads: 4, MLPRatio: 2,
		WarmupSteps: lesson.Pick(b, 30, 30, 400),
		MNIST: lesson.MNIST{TrainSize: lesson.Pick(b, 6000, 6000, 55000), ValSize: lesson.Pick(b, 500, 500, 5000),
			TestSize: lesson.Pick(b, 1000, 1000, 0), MaxShift: lesson.Pick(b, 0, 1, 1)},
	}
	return Config{
		Budget: b, Run: run,
		Seeds:          lesson.Pick(b, 1, 2, 3),
		StemSeeds:      lesson.Pick(b, 1, 1, 3),
		NewSize:        56,
		TransferImages: lesson.Pick(b, 500, 1000, 10000),
		AttnImages:     lesson.Pick(b, 250, 500, 1000),
	}
}

// StemArms are the stem comparison's arms: the main run (patchify) and the overlapping stem.
func (c Config) StemArms() []lesson.Arm[RunConfig] {
	overlap := c.Run
	overlap.Stem = StemOverlap
	p := c.Run.PatchSize
	return []lesson.Arm[RunConfig]{
		{Name: fmt.Sprintf("patchify %d×%d / %d", p, p, p), Config: c.Run},
		{Name: fmt.Sprintf("overlapping %d×%d / %d", 2*p, 2*p, p), Config: overlap},
	}
}

// PoolArms are the class token vs global average pooling comparison's arms, the main run first.
func (c Config) PoolArms() []lesson.Arm[RunConfig] {
	avg := c.Run
	avg.Pool = PoolAvg
	return []lesson.Arm[RunConfig]{{Name: "class token", Config: c.Run}, {Name: "global average pooling", Config: avg}}
}
