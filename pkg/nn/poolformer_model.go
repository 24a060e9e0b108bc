package nn

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// PoolFormerConfig describes a whole PoolFormer as timm's MetaFormer builds poolformer_s12:
// a stem conv (7×7, stride 4, padding 2, "stem/conv"), then stages ("stages/<i>") that start,
// when the width changes, with a 3×3 stride-2 conv ("stages/<i>/downsample/conv", the paper's
// patch embedding between stages, no norm because every block starts with one) followed by
// PoolFormer blocks ("stages/<i>/blocks/<j>"); then global average pooling, a LayerNorm
// ("head/norm", eps 1e-6) and the classifier ("head/fc").
type PoolFormerConfig struct {
	InChans        int
	NumClasses     int   // 0: no classifier, the model returns the normalized pooled features
	Depths         []int // blocks per stage
	Dims           []int // channels per stage
	PoolSize       int   // 0 means 3
	MLPRatio       float64
	LayerScaleInit float64 // poolformer_s12: 1e-5
	DropPathRate   float64 // stochastic depth growing linearly over all blocks to this value
	ProjDropRate   float64
	DropRate       float64 // dropout before the classifier
	// TokenMixer is every block's token mixer (TokenMixers; "" means pooling): the MetaFormer
	// skeleton with another mixer.
	TokenMixer string
}

// PoolFormerS12 is timm's poolformer_s12 (paper Table 1, S12): stages [2, 2, 6, 2] with
// 64, 128, 320, 512 channels, 1000 classes: 11,915,176 parameters and 1.81G multiply-adds at
// 224×224, as in the paper.
func PoolFormerS12() PoolFormerConfig {
	return PoolFormerConfig{InChans: 3, NumClasses: 1000, Depths: []int{2, 2, 6, 2},
		Dims: []int{64, 128, 320, 512}, LayerScaleInit: 1e-5}
}

// Validate reports a config that cannot build a model.
func (c PoolFormerConfig) Validate() error {
	if c.InChans <= 0 || len(c.Depths) == 0 || len(c.Depths) != len(c.Dims) {
		return fmt.Errorf("poolformer config: need InChans > 0 and one dim per stage depth, got %+v", c)
	}
	for i, d := range c.Dims {
		if d <= 0 || c.Depths[i] < 0 {
			return fmt.Errorf("poolformer config: invalid stage %d (depth %d, dim %d)", i, c.Depths[i], d)
		}
	}
	return ValidateTokenMixer(c.TokenMixer)
}

// PoolFormerTiny28 is a small PoolFormer for 28×28 single-channel images (MNIST): the S12
// layout shrunk to three stages [2, 2, 2] of 32, 64, 128 channels (maps 7×7 → 4×4 → 2×2):
// 444,490 parameters (= timm's MetaFormer with poolformer_s12's arguments), 3.6M multiply-adds
// per image.
func PoolFormerTiny28() PoolFormerConfig {
	return PoolFormerConfig{InChans: 1, NumClasses: 10, Depths: []int{2, 2, 2}, Dims: []int{32, 64, 128},
		LayerScaleInit: 1e-5}
}

// PoolFormerTiny64 is a small PoolFormer for 64×64 RGB images: the S12 layout [2, 2, 6, 2] with
// 32, 64, 128, 160 channels (maps 16×16 → 8×8 → 4×4 → 2×2): 1,575,530 parameters, 27M
// multiply-adds per image.
func PoolFormerTiny64() PoolFormerConfig {
	return PoolFormerConfig{InChans: 3, NumClasses: 10, Depths: []int{2, 2, 6, 2}, Dims: []int{32, 64, 128, 160},
		LayerScaleInit: 1e-5}
}

// PoolFormer returns the model function of cfg: images [B, H, W, C] → logits [B, NumClasses].
func PoolFormer(cfg PoolFormerConfig) ModelFn {
	return func(scope *model.Scope, images *graph.Node) *graph.Node {
		return PoolFormerForward(scope, images, cfg, nil)
	}
}

// PoolFormerForward runs cfg's model on images [B, H, W, C]. If features is not nil, it is
// called with each stage's output map [B, H', W', C'] (for the lessons' feature-map plots).
func PoolFormerForward(scope *model.Scope, images *graph.Node, cfg PoolFormerConfig,
	features func(stage int, x *graph.Node)) *graph.Node {
	if err := cfg.Validate(); err != nil {
		exceptions.Panicf("%v", err)
	}
	x := Conv2d(scope.In("stem").In("conv"), images, Conv2dConfig{Out: cfg.Dims[0], Kernel: 7, Stride: 4, Padding: 2, Bias: true})
	rates := DropPathRates(cfg.DropPathRate, cfg.Depths...)
	stages := scope.In("stages")
	prev := cfg.Dims[0]
	for i, dim := range cfg.Dims {
		stage := stages.In("%d", i)
		if dim != prev { // timm: no downsampling when the width does not change
			x = Conv2d(stage.In("downsample").In("conv"), x, Conv2dConfig{Out: dim, Kernel: 3, Stride: 2, Padding: 1, Bias: true})
		}
		blocks := stage.In("blocks")
		for j := range cfg.Depths[i] {
			x = PoolFormerBlock(blocks.In("%d", j), x, PoolFormerBlockConfig{
				PoolSize: cfg.PoolSize, MLPRatio: cfg.MLPRatio, LayerScaleInit: cfg.LayerScaleInit,
				DropPath: rates[i][j], ProjDrop: cfg.ProjDropRate, TokenMixer: cfg.TokenMixer,
			})
		}
		if features != nil {
			features(i, x)
		}
		prev = dim
	}
	head := scope.In("head")
	x = LayerNorm(head.In("norm"), GlobalAvgPool2d(x), 1e-6)
	x = Dropout(head, x, cfg.DropRate)
	if cfg.NumClasses > 0 {
		x = Linear(head.In("fc"), x, cfg.NumClasses, true)
	}
	return x
}

// NetworkSummary prints the model body the way the original PoolFormer code prints its
// "network" list (PyTorch's module repr): for S12, the 7 components the notes dump — 4 stages
// of PoolFormerBlocks ("*block 0*", "*block 2*", …) and the 3 PatchEmbeds between them
// ("*block 1*", …). Layer scales are parameters, not modules, so they don't appear, as in the
// dump. Stem and head are left out, like the dump.
func (c PoolFormerConfig) NetworkSummary() string {
	var sb strings.Builder
	w := func(indent int, format string, args ...any) {
		sb.WriteString(strings.Repeat("  ", indent))
		fmt.Fprintf(&sb, format, args...)
		sb.WriteByte('\n')
	}
	pool := c.PoolSize
	if pool == 0 {
		pool = 3
	}
	component := 0
	for i, dim := range c.Dims {
		if i > 0 && dim != c.Dims[i-1] {
			w(0, "*block %d*", component)
			w(0, "PatchEmbed(")
			w(1, "(proj): Conv2d(%d, %d, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))", c.Dims[i-1], dim)
			w(1, "(norm): Identity()")
			w(0, ")")
			component++
		}
		hidden := int(float64(dim) * ratioOr(c.MLPRatio))
		w(0, "*block %d*", component)
		w(0, "Sequential(")
		for j := range c.Depths[i] {
			w(1, "(%d): PoolFormerBlock(", j)
			w(2, "(norm1): GroupNorm(1, %d, eps=1e-05, affine=True)", dim)
			w(2, "(token_mixer): Pooling(")
			w(3, "(pool): AvgPool2d(kernel_size=%d, stride=1, padding=%d)", pool, pool/2)
			w(2, ")")
			w(2, "(norm2): GroupNorm(1, %d, eps=1e-05, affine=True)", dim)
			w(2, "(mlp): Mlp(")
			w(3, "(fc1): Conv2d(%d, %d, kernel_size=(1, 1), stride=(1, 1))", dim, hidden)
			w(3, "(act): GELU()")
			w(3, "(fc2): Conv2d(%d, %d, kernel_size=(1, 1), stride=(1, 1))", hidden, dim)
			w(3, "(drop): Dropout(p=%.1f, inplace=False)", c.ProjDropRate)
			w(2, ")")
			w(2, "(drop_path): Identity()")
			w(1, ")")
		}
		w(0, ")")
		component++
	}
	return sb.String()
}
