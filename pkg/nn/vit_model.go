package nn

import (
	"fmt"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// ViTConfig describes a whole Vision Transformer, named like timm's VisionTransformer
// arguments; the variables are timm's ("patch_embed/proj", "cls_token", "pos_embed",
// "blocks/<i>/…", "norm", "fc_norm", "head"), so a model built with the same arguments in
// timm has the same state_dict.
type ViTConfig struct {
	ImageSize  int // square input side the position embedding is learned for
	InChans    int
	PatchSize  int
	NumClasses int // 0: no head, the model returns the pooled features
	EmbedDim   int
	Depth      int
	NumHeads   int
	MLPRatio   float64 // 0 means 4
	QKVBias    bool    // timm's default is true
	// ClassToken prepends a learned [class] token (ViT §3.1); Pool chooses what the head sees:
	// "token" (the class token's final state, the paper's choice) or "avg" (mean of the patch
	// tokens, with a LayerNorm "fc_norm" after pooling, as timm's global_pool="avg").
	ClassToken bool
	Pool       string
	// RepresentationSize > 0 adds the pre-training head's hidden layer from the paper (§3.1:
	// "an MLP with one hidden layer at pre-training time"; the released code uses tanh):
	// "pre_logits/fc" Linear(D→RepresentationSize) then tanh, before "head". Current timm
	// dropped it, so models using it are not loadable by timm.
	RepresentationSize int
	InitValues         float64 // LayerScale init; 0 means no LayerScale
	DropRate           float64 // dropout before the head
	PosDropRate        float64 // dropout after adding the position embedding
	AttnDropRate       float64
	ProjDropRate       float64
	DropPathRate       float64 // stochastic depth, growing linearly to this value at the last block
	NormEps            float64 // 0 means 1e-6 (timm's ViT LayerNorm)
}

// Grid returns the patch grid the position embedding is learned for.
func (c ViTConfig) Grid() [2]int {
	return [2]int{c.ImageSize / c.PatchSize, c.ImageSize / c.PatchSize}
}

// NumPrefixTokens is the number of tokens before the patch tokens (1 with a class token).
func (c ViTConfig) NumPrefixTokens() int {
	if c.ClassToken {
		return 1
	}
	return 0
}

// Validate reports a config that cannot build a model.
func (c ViTConfig) Validate() error {
	switch {
	case c.ImageSize <= 0 || c.PatchSize <= 0 || c.ImageSize%c.PatchSize != 0:
		return fmt.Errorf("vit config: image size %d must be a positive multiple of patch size %d", c.ImageSize, c.PatchSize)
	case c.InChans <= 0 || c.EmbedDim <= 0 || c.Depth < 0 || c.NumHeads <= 0:
		return fmt.Errorf("vit config: invalid sizes %+v", c)
	case c.EmbedDim%c.NumHeads != 0:
		return fmt.Errorf("vit config: embed dim %d not divisible by %d heads", c.EmbedDim, c.NumHeads)
	case c.Pool != "token" && c.Pool != "avg":
		return fmt.Errorf("vit config: pool must be \"token\" or \"avg\", got %q", c.Pool)
	case c.Pool == "token" && !c.ClassToken:
		return fmt.Errorf("vit config: token pooling needs the class token")
	}
	return nil
}

// ViTTiny28 is a small ViT for 28×28 single-channel images (MNIST): 4×4 patches (a 7×7 grid of
// 49 tokens + class token), width 64, 4 blocks of 4 heads, MLP ratio 2: 139,018 parameters
// (= timm's VisionTransformer with the same arguments), 7.9M multiply-adds per image.
func ViTTiny28() (ModelFn, ViTConfig) {
	cfg := ViTConfig{ImageSize: 28, InChans: 1, PatchSize: 4, NumClasses: 10, EmbedDim: 64, Depth: 4,
		NumHeads: 4, MLPRatio: 2, QKVBias: true, ClassToken: true, Pool: "token"}
	return ViT(cfg), cfg
}

// ViTTiny64 is a small ViT for 64×64 RGB images: 8×8 patches (an 8×8 grid), width 96,
// 6 blocks of 3 heads, MLP ratio 4: 697,066 parameters, 49M multiply-adds per image.
func ViTTiny64() (ModelFn, ViTConfig) {
	cfg := ViTConfig{ImageSize: 64, InChans: 3, PatchSize: 8, NumClasses: 10, EmbedDim: 96, Depth: 6,
		NumHeads: 3, MLPRatio: 4, QKVBias: true, ClassToken: true, Pool: "token"}
	return ViT(cfg), cfg
}

// ViT returns the model function of cfg: images [B, H, W, C] → logits [B, NumClasses]. It
// panics (when the graph is built) if cfg is invalid; call cfg.Validate first to get an error.
// Images of another size than cfg.ImageSize are accepted: the position embedding is then
// resampled in the graph to the new patch grid (bicubic, as timm's dynamic_img_size).
func ViT(cfg ViTConfig) ModelFn {
	return func(scope *model.Scope, images *graph.Node) *graph.Node {
		logits, _ := ViTForward(scope, images, cfg)
		return logits
	}
}

// ViTForward runs the model of cfg on images [B, H, W, C] and returns the logits (or pooled
// features when NumClasses is 0) and, for the lessons' attention plots, every block's
// attention probabilities [B, heads, N, N] (N counts the class token first).
func ViTForward(scope *model.Scope, images *graph.Node, cfg ViTConfig) (logits *graph.Node, attn []*graph.Node) {
	if err := cfg.Validate(); err != nil {
		exceptions.Panicf("%v", err)
	}
	g := images.Graph()
	eps := epsOr(cfg.NormEps, 1e-6)
	x := PatchEmbed(scope.In("patch_embed"), images, PatchEmbedConfig{PatchSize: cfg.PatchSize, EmbedDim: cfg.EmbedDim})
	dims := x.Shape().Dimensions
	b, grid := dims[0], [2]int{dims[1], dims[2]}
	d := cfg.EmbedDim
	x = graph.Reshape(x, b, grid[0]*grid[1], d) // [H', W', D] → [H'·W', D]

	prefix := cfg.NumPrefixTokens()
	if cfg.ClassToken {
		cls := scope.WithInitializer(normalInit(scope, 1e-6)).
			VariableWithShape("cls_token", shapes.Make(DType, 1, 1, d)).NodeValue(g)
		x = graph.Concatenate([]*graph.Node{graph.BroadcastToDims(cls, b, 1, d), x}, 1)
	}
	base := cfg.Grid()
	pos := scope.WithInitializer(normalInit(scope, 0.02)).
		VariableWithShape("pos_embed", shapes.Make(DType, 1, prefix+base[0]*base[1], d)).NodeValue(g)
	pos = ResamplePosEmbedGraph(pos, base, grid, prefix)
	x = Dropout(scope, graph.Add(x, pos), cfg.PosDropRate)

	rates := DropPathRates(cfg.DropPathRate, cfg.Depth)[0]
	blocks := scope.In("blocks")
	for i := range cfg.Depth {
		var a *graph.Node
		x, a = BlockWithMaps(blocks.In("%d", i), x, BlockConfig{
			NumHeads: cfg.NumHeads, MLPRatio: cfg.MLPRatio, QKVBias: cfg.QKVBias, InitValues: cfg.InitValues,
			DropPath: rates[i], AttnDrop: cfg.AttnDropRate, ProjDrop: cfg.ProjDropRate, NormEps: eps,
		})
		attn = append(attn, a)
	}

	if cfg.Pool == "token" {
		x = LayerNorm(scope.In("norm"), x, eps)
		x = graph.Reshape(graph.Slice(x, graph.AxisRange(), graph.AxisElem(0)), b, d)
	} else {
		x = graph.ReduceMean(graph.Slice(x, graph.AxisRange(), graph.AxisRangeToEnd(prefix)), 1)
		x = LayerNorm(scope.In("fc_norm"), x, eps)
	}
	if cfg.RepresentationSize > 0 {
		x = graph.Tanh(Linear(scope.In("pre_logits").In("fc"), x, cfg.RepresentationSize, true))
	}
	x = Dropout(scope, x, cfg.DropRate)
	if cfg.NumClasses > 0 {
		x = Linear(scope.In("head"), x, cfg.NumClasses, true)
	}
	return x, attn
}
