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
// ("norm"), global average pooling and the classifier ("head/fc"). The zero values of
// NoShift, NoRelPosBias and AlwaysPartition are the paper's and timm's defaults (QKVBias must
// be set: timm's default is true).
type SwinConfig struct {
	InChans    int
	NumClasses int // 0: no classifier, the model returns the pooled features
	PatchSize  int
	EmbedDim   int   // C of the first stage; stage i has C·2^i channels
	Depths     []int // blocks per stage (even numbers keep W-MSA/SW-MSA pairs)
	NumHeads   []int // heads per stage
	WindowSize int   // M
	MLPRatio   float64
	QKVBias    bool // timm's default is true
	// NoShift keeps every block at shift 0 (W-MSA only, the paper's "w/o shifting" ablation,
	// Table 4): no information crosses a window border until the next patch merging.
	NoShift bool
	// NoRelPosBias removes the relative position bias from every block (Table 4's "no pos.");
	// the tables stay in the state_dict, frozen at zero (WindowAttentionConfig.NoRelPosBias).
	NoRelPosBias bool
	// AlwaysPartition keeps M and M/2 in every block even where the map is not larger than the
	// window (timm's always_partition); by default such a block uses one window covering the
	// whole map, unshifted.
	AlwaysPartition bool
	DropRate        float64
	AttnDropRate    float64
	ProjDropRate    float64
	DropPathRate    float64 // stochastic depth growing linearly over all blocks to this value
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

// StageDim is the channel count of stage i: C·2^i.
func (c SwinConfig) StageDim(i int) int { return c.EmbedDim << i }

// Block returns the config of block j of stage i: W-MSA on even j, SW-MSA (shift M/2) on odd
// j unless NoShift, with its stochastic-depth rate. The window and shift a block actually uses
// on a given map follow from it by [SwinWindowShift].
func (c SwinConfig) Block(i, j int) SwinBlockConfig {
	shift := 0
	if j%2 == 1 && !c.NoShift {
		shift = c.WindowSize / 2
	}
	return SwinBlockConfig{
		NumHeads: c.NumHeads[i], WindowSize: c.WindowSize, ShiftSize: shift, AlwaysPartition: c.AlwaysPartition,
		MLPRatio: c.MLPRatio, QKVBias: c.QKVBias, NoRelPosBias: c.NoRelPosBias,
		DropPath: DropPathRates(c.DropPathRate, c.Depths...)[i][j], AttnDrop: c.AttnDropRate, ProjDrop: c.ProjDropRate,
	}
}

// SwinTiny224 is timm's swin_tiny_patch4_window7_224 (paper Table 1, Swin-T): C = 96,
// depths [2, 2, 6, 2], heads [3, 6, 12, 24], M = 7, 4×4 patches, 1000 classes: 28.3M
// parameters.
func SwinTiny224() SwinConfig {
	return SwinConfig{InChans: 3, NumClasses: 1000, PatchSize: 4, EmbedDim: 96, Depths: []int{2, 2, 6, 2},
		NumHeads: []int{3, 6, 12, 24}, WindowSize: 7, QKVBias: true}
}

// SwinTiny28 is a small Swin for 28×28 single-channel images (MNIST): 2×2 patches give a 14×14
// map; two stages (14×14 with C = 32, then 7×7 with C = 64) of a W-MSA/SW-MSA pair each, M = 7,
// so the first stage has 2×2 windows and a real shifted configuration; MLP ratio 2. 95,510
// parameters (= timm's SwinTransformer with the same arguments), 8.7M multiply-adds per image.
func SwinTiny28() SwinConfig {
	return SwinConfig{InChans: 1, NumClasses: 10, PatchSize: 2, EmbedDim: 32, Depths: []int{2, 2},
		NumHeads: []int{2, 4}, WindowSize: 7, MLPRatio: 2, QKVBias: true}
}

// SwinTiny64 is a small Swin for 64×64 RGB images: 4×4 patches give a 16×16 map; three stages
// (16×16, 8×8, 4×4) with C = 32, 64, 128, depths [2, 2, 2], M = 4: 568,198 parameters, 21M
// multiply-adds per image.
func SwinTiny64() SwinConfig {
	return SwinConfig{InChans: 3, NumClasses: 10, PatchSize: 4, EmbedDim: 32, Depths: []int{2, 2, 2},
		NumHeads: []int{2, 4, 8}, WindowSize: 4, QKVBias: true}
}

// Swin returns the model function of cfg: images [B, H, W, C] → logits [B, NumClasses].
func Swin(cfg SwinConfig) ModelFn {
	return func(scope *model.Scope, images *graph.Node) *graph.Node {
		return SwinForward(scope, images, cfg).Logits
	}
}

// SwinOutput is everything one Swin forward pass computes on the way, for plots, probes and
// the lessons' measurements — timm's forward_intermediates returns the Stages part of it.
// Nodes the caller does not use cost nothing: only a graph's outputs are computed.
// On the pure-Go backend (gomlx/compute v0.1.2) a graph must also output a node built after the
// model's last variable — Logits is one — or executing it fails with "index out of range":
// that executor sizes its buffers by the last output node. XLA has no such limit.
type SwinOutput struct {
	// Stem is the patch embedding's output (after its LayerNorm), [B, H/p, W/p, C].
	Stem *graph.Node
	// Stages are the feature maps after each stage (its PatchMerging and its blocks),
	// [B, h_i, w_i, C·2^i].
	Stages []*graph.Node
	// Blocks[i][j] is the output map of block j of stage i.
	Blocks [][]*graph.Node
	// Attn[i][j] are the attention probabilities of block j of stage i, per window:
	// [B·nW, heads, N, N], windows row-major over the block's shifted, padded map.
	Attn [][]*graph.Node
	// Pooled is what the classifier reads: the final LayerNorm, averaged over the map, [B, C_last].
	Pooled *graph.Node
	// Logits are the class scores [B, NumClasses]; the pooled features (after the head's
	// dropout) when NumClasses is 0.
	Logits *graph.Node
}

// SwinForward runs cfg's model on images [B, H, W, C] and returns every intermediate (see
// [SwinOutput]). It panics (when the graph is built) if cfg is invalid.
func SwinForward(scope *model.Scope, images *graph.Node, cfg SwinConfig) SwinOutput {
	if err := cfg.Validate(); err != nil {
		exceptions.Panicf("%v", err)
	}
	var out SwinOutput
	x := PatchEmbed(scope.In("patch_embed"), images, PatchEmbedConfig{
		PatchSize: cfg.PatchSize, EmbedDim: cfg.EmbedDim, Norm: true,
	})
	out.Stem = x
	layers := scope.In("layers")
	for i, depth := range cfg.Depths {
		stage := layers.In("%d", i)
		if i > 0 {
			x = PatchMerging(stage.In("downsample"), x, cfg.StageDim(i), 0)
		}
		blocks := stage.In("blocks")
		var outs, attn []*graph.Node
		for j := range depth {
			var a *graph.Node
			x, a = SwinTransformerBlockWithMaps(blocks.In("%d", j), x, cfg.Block(i, j))
			outs, attn = append(outs, x), append(attn, a)
		}
		out.Stages = append(out.Stages, x)
		out.Blocks = append(out.Blocks, outs)
		out.Attn = append(out.Attn, attn)
	}
	x = LayerNorm(scope.In("norm"), x, 1e-5)
	out.Pooled = GlobalAvgPool2d(x)
	head := scope.In("head")
	x = Dropout(head, out.Pooled, cfg.DropRate)
	if cfg.NumClasses > 0 {
		x = Linear(head.In("fc"), x, cfg.NumClasses, true)
	}
	out.Logits = x
	return out
}
