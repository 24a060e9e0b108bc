package nn

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// SwinConfig describes a whole Swin Transformer as timm's SwinTransformer builds it: a patch
// embedding with LayerNorm ("patch_embed/proj", "patch_embed/norm"), stages ("layers/<i>") that
// start with PatchMerging ("layers/<i>/downsample", from the second stage on) and alternate
// W-MSA and SW-MSA blocks ("layers/<i>/blocks/<j>", shift M/2 on odd j), a final LayerNorm
// ("norm"), global average pooling and the classifier ("head/fc").
type SwinConfig struct {
	InChans      int
	NumClasses   int // 0: no classifier, the model returns the pooled features
	PatchSize    int
	EmbedDim     int   // C of the first stage; stage i has C·2^i channels
	Depths       []int // blocks per stage (even numbers keep W-MSA/SW-MSA pairs)
	NumHeads     []int // heads per stage
	WindowSize   int   // M
	MLPRatio     float64
	QKVBias      bool // timm's default is true
	DropRate     float64
	AttnDropRate float64
	ProjDropRate float64
	DropPathRate float64 // stochastic depth growing linearly over all blocks to this value
}

// Validate reports a config that cannot build a model.
func (c SwinConfig) Validate() error {
	if c.InChans <= 0 || c.PatchSize <= 0 || c.EmbedDim <= 0 || c.WindowSize <= 0 {
		return fmt.Errorf("swin config: invalid sizes %+v", c)
	}
	if len(c.Depths) == 0 || len(c.Depths) != len(c.NumHeads) {
		return fmt.Errorf("swin config: need one head count per stage depth, got depths %v heads %v", c.Depths, c.NumHeads)
	}
	for i, h := range c.NumHeads {
		if dim := c.EmbedDim << i; h <= 0 || dim%h != 0 {
			return fmt.Errorf("swin config: stage %d width %d not divisible into %d heads", i, dim, h)
		}
	}
	return nil
}

// SwinTinyConfig is timm's swin_tiny_patch4_window7_224 (paper Table 1, Swin-T): C = 96,
// depths [2, 2, 6, 2], heads [3, 6, 12, 24], M = 7, 4×4 patches; 28.3M parameters for 1000
// classes.
func SwinTinyConfig(numClasses int) SwinConfig {
	return SwinConfig{InChans: 3, NumClasses: numClasses, PatchSize: 4, EmbedDim: 96, Depths: []int{2, 2, 6, 2},
		NumHeads: []int{3, 6, 12, 24}, WindowSize: 7, QKVBias: true}
}

// SwinTiny28 is a small Swin for 28×28 single-channel images (MNIST): 2×2 patches give a 14×14
// map; two stages (14×14 with C = 32, then 7×7 with C = 64) of a W-MSA/SW-MSA pair each, M = 7,
// so the first stage has 2×2 windows and a real shifted configuration; MLP ratio 2. 95,510
// parameters (= timm's SwinTransformer with the same arguments), 8.7M multiply-adds per image.
func SwinTiny28() (ModelFn, SwinConfig) {
	cfg := SwinConfig{InChans: 1, NumClasses: 10, PatchSize: 2, EmbedDim: 32, Depths: []int{2, 2},
		NumHeads: []int{2, 4}, WindowSize: 7, MLPRatio: 2, QKVBias: true}
	return Swin(cfg), cfg
}

// SwinTiny64 is a small Swin for 64×64 RGB images: 4×4 patches give a 16×16 map; three stages
// (16×16, 8×8, 4×4) with C = 32, 64, 128, depths [2, 2, 2], M = 4: 568,198 parameters, 21M
// multiply-adds per image.
func SwinTiny64() (ModelFn, SwinConfig) {
	cfg := SwinConfig{InChans: 3, NumClasses: 10, PatchSize: 4, EmbedDim: 32, Depths: []int{2, 2, 2},
		NumHeads: []int{2, 4, 8}, WindowSize: 4, QKVBias: true}
	return Swin(cfg), cfg
}

// Swin returns the model function of cfg: images [B, H, W, C] → logits [B, NumClasses].
func Swin(cfg SwinConfig) ModelFn {
	return func(scope *model.Scope, images *graph.Node) *graph.Node {
		return SwinForward(scope, images, cfg, nil)
	}
}

// SwinForward runs cfg's model on images [B, H, W, C]. If blockAttn is not nil, it is called
// with every block's per-window attention probabilities [B·nW, heads, N, N].
func SwinForward(scope *model.Scope, images *graph.Node, cfg SwinConfig,
	blockAttn func(stage, block int, attn *graph.Node)) *graph.Node {
	if err := cfg.Validate(); err != nil {
		exceptions.Panicf("%v", err)
	}
	x := PatchEmbed(scope.In("patch_embed"), images, PatchEmbedConfig{
		PatchSize: cfg.PatchSize, EmbedDim: cfg.EmbedDim, Norm: true,
	})
	rates := DropPathRates(cfg.DropPathRate, cfg.Depths...)
	layers := scope.In("layers")
	for i, depth := range cfg.Depths {
		stage := layers.In("%d", i)
		dim := cfg.EmbedDim << i
		if i > 0 {
			x = PatchMerging(stage.In("downsample"), x, dim, 0)
		}
		blocks := stage.In("blocks")
		for j := range depth {
			shift := 0
			if j%2 == 1 {
				shift = cfg.WindowSize / 2
			}
			var a *graph.Node
			x, a = SwinTransformerBlockWithMaps(blocks.In("%d", j), x, SwinBlockConfig{
				NumHeads: cfg.NumHeads[i], WindowSize: cfg.WindowSize, ShiftSize: shift, MLPRatio: cfg.MLPRatio,
				QKVBias: cfg.QKVBias, DropPath: rates[i][j], AttnDrop: cfg.AttnDropRate, ProjDrop: cfg.ProjDropRate,
			})
			if blockAttn != nil {
				blockAttn(i, j, a)
			}
		}
	}
	x = LayerNorm(scope.In("norm"), x, 1e-5)
	x = GlobalAvgPool2d(x)
	head := scope.In("head")
	x = Dropout(head, x, cfg.DropRate)
	if cfg.NumClasses > 0 {
		x = Linear(head.In("fc"), x, cfg.NumClasses, true)
	}
	return x
}
