package nn

import (
	"fmt"
	"math/bits"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// The stems a ViT can start with (ViTConfig.Stem). Each keeps its variables under
// "patch_embed", so the rest of the model has timm's names whatever the stem.
const (
	// ViTStemPatch is ViT's patchify stem (timm's PatchEmbed): one convolution with kernel =
	// stride = p, so patches do not overlap. Variables "patch_embed/proj/{weight,bias}".
	ViTStemPatch = "patch"
	// ViTStemOverlap is the same convolution with kernel 2p, stride p and padding p/2: the same
	// token grid, but each token sees a 2p×2p window overlapping its neighbours by p pixels.
	// Variables "patch_embed/proj/{weight,bias}" (weight [D, C, 2p, 2p]). p must be even.
	ViTStemOverlap = "overlap"
	// ViTStemConv is a small convolutional stem (Xiao et al., 2021, "Early Convolutions Help
	// Transformers See Better"): log2(p) stride-2 3×3 convolutions, ReLU between them, widths
	// doubling up to D. Variables "patch_embed/proj", "patch_embed/proj2", …. p must be a power
	// of two. (The paper's stem adds BatchNorm and a final 1×1 conv; this one is the minimal
	// form the patch-embedding lesson compares.)
	ViTStemConv = "conv"
)

// What a ViT's head reads (ViTConfig.Pool), timm's global_pool.
const (
	ViTPoolToken = "token" // the class token's final state (the paper's choice)
	ViTPoolAvg   = "avg"   // the mean of the patch tokens (prefix tokens excluded), then "fc_norm"
)

// Position embeddings (ViTConfig.PosEmbed), timm's pos_embed.
const (
	ViTPosLearn = "learn" // a learned absolute embedding per token, "pos_embed" (the default)
	ViTPosNone  = "none"  // none: the transformer sees an unordered set of patches
)

// ViTConfig describes a whole Vision Transformer, named like timm's VisionTransformer
// arguments; the variables are timm's ("patch_embed/proj", "cls_token", "pos_embed",
// "blocks/<i>/…", "norm", "fc_norm", "head"), so a model built with the same arguments in
// timm has the same state_dict. The zero values of Stem, PosEmbed and NoEmbedClass are
// timm's defaults; ClassToken, Pool and QKVBias must be set (timm's defaults: true, "token",
// true).
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
	// Stem is ViTStemPatch ("" means it), ViTStemOverlap or ViTStemConv. Only the patch stem
	// exists in timm; with the others the state_dict differs in "patch_embed" only.
	Stem string
	// ClassToken prepends a learned [class] token (ViT §3.1); Pool chooses what the head sees:
	// ViTPoolToken (the class token's final state, the paper's choice) or ViTPoolAvg (mean of
	// the patch tokens, with a LayerNorm "fc_norm" after pooling, as timm's global_pool="avg").
	ClassToken bool
	Pool       string
	// PosEmbed is ViTPosLearn ("" means it) or ViTPosNone. NoEmbedClass (timm's
	// no_embed_class) gives only the patch tokens a position embedding: "pos_embed" is
	// [1, N, D] and the class token is prepended after it is added.
	PosEmbed     string
	NoEmbedClass bool
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
	// NoSkip, NoMLP and SharedQK are every block's BlockConfig switches (ablations; false
	// is timm's).
	NoSkip, NoMLP, SharedQK bool
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

// posPrefix is the number of prefix tokens the position embedding covers.
func (c ViTConfig) posPrefix() int {
	if c.NoEmbedClass {
		return 0
	}
	return c.NumPrefixTokens()
}

// Block returns the config of block i (its stochastic-depth rate grows linearly with i).
func (c ViTConfig) Block(i int) BlockConfig {
	return BlockConfig{
		NumHeads: c.NumHeads, MLPRatio: c.MLPRatio, QKVBias: c.QKVBias, InitValues: c.InitValues,
		DropPath: DropPathRates(c.DropPathRate, c.Depth)[0][i], AttnDrop: c.AttnDropRate, ProjDrop: c.ProjDropRate,
		NormEps: epsOr(c.NormEps, 1e-6), NoSkip: c.NoSkip, NoMLP: c.NoMLP, SharedQK: c.SharedQK,
	}
}

// Validate reports a config that cannot build a model.
func (c ViTConfig) Validate() error {
	p := c.PatchSize
	switch {
	case c.ImageSize <= 0 || p <= 0 || c.ImageSize%p != 0:
		return fmt.Errorf("vit config: image size %d must be a positive multiple of patch size %d", c.ImageSize, p)
	case c.InChans <= 0 || c.EmbedDim <= 0 || c.Depth < 0 || c.NumHeads <= 0:
		return fmt.Errorf("vit config: invalid sizes %+v", c)
	case c.EmbedDim%c.NumHeads != 0:
		return fmt.Errorf("vit config: embed dim %d not divisible by %d heads", c.EmbedDim, c.NumHeads)
	case c.Pool != ViTPoolToken && c.Pool != ViTPoolAvg:
		return fmt.Errorf("vit config: pool must be %q or %q, got %q", ViTPoolToken, ViTPoolAvg, c.Pool)
	case c.Pool == ViTPoolToken && !c.ClassToken:
		return fmt.Errorf("vit config: token pooling needs the class token")
	case c.Stem != "" && c.Stem != ViTStemPatch && c.Stem != ViTStemOverlap && c.Stem != ViTStemConv:
		return fmt.Errorf("vit config: stem must be %q, %q or %q, got %q", ViTStemPatch, ViTStemOverlap, ViTStemConv, c.Stem)
	case c.Stem == ViTStemOverlap && p%2 != 0:
		return fmt.Errorf("vit config: the overlapping stem needs an even patch size (padding p/2), got %d", p)
	case c.Stem == ViTStemConv && p&(p-1) != 0:
		return fmt.Errorf("vit config: the conv stem needs a power-of-two patch size (stride-2 convs), got %d", p)
	case c.PosEmbed != "" && c.PosEmbed != ViTPosLearn && c.PosEmbed != ViTPosNone:
		return fmt.Errorf("vit config: pos embed must be %q or %q, got %q", ViTPosLearn, ViTPosNone, c.PosEmbed)
	case c.NoEmbedClass && c.PosEmbed == ViTPosNone:
		return fmt.Errorf("vit config: no_embed_class needs a position embedding")
	}
	return nil
}

// ViTTiny28 is a small ViT for 28×28 single-channel images (MNIST): 4×4 patches (a 7×7 grid of
// 49 tokens + class token), width 64, 4 blocks of 4 heads, MLP ratio 2: 139,018 parameters
// (= timm's VisionTransformer with the same arguments), 7.9M multiply-adds per image.
func ViTTiny28() ViTConfig {
	return ViTConfig{ImageSize: 28, InChans: 1, PatchSize: 4, NumClasses: 10, EmbedDim: 64, Depth: 4,
		NumHeads: 4, MLPRatio: 2, QKVBias: true, ClassToken: true, Pool: ViTPoolToken}
}

// ViTTiny64 is a small ViT for 64×64 RGB images: 8×8 patches (an 8×8 grid), width 96,
// 6 blocks of 3 heads, MLP ratio 4: 697,066 parameters, 49M multiply-adds per image.
func ViTTiny64() ViTConfig {
	return ViTConfig{ImageSize: 64, InChans: 3, PatchSize: 8, NumClasses: 10, EmbedDim: 96, Depth: 6,
		NumHeads: 3, MLPRatio: 4, QKVBias: true, ClassToken: true, Pool: ViTPoolToken}
}

// ViTBase224 is timm's vit_base_patch16_224 (paper Table 1, ViT-B/16): 16×16 patches of
// 224×224 RGB images, D = 768, 12 blocks of 12 heads, class token, 1000 classes: 86.6M
// parameters and 17.6G multiply-adds.
func ViTBase224() ViTConfig {
	return ViTConfig{ImageSize: 224, InChans: 3, PatchSize: 16, NumClasses: 1000, EmbedDim: 768, Depth: 12,
		NumHeads: 12, QKVBias: true, ClassToken: true, Pool: ViTPoolToken}
}

// ViT returns the model function of cfg: images [B, H, W, C] → logits [B, NumClasses]. It
// panics (when the graph is built) if cfg is invalid; call cfg.Validate first to get an error.
// Images of another size than cfg.ImageSize are accepted: the position embedding is then
// resampled in the graph to the new patch grid (bicubic, as timm's dynamic_img_size).
func ViT(cfg ViTConfig) ModelFn {
	return func(scope *model.Scope, images *graph.Node) *graph.Node {
		return ViTForward(scope, images, cfg, ViTOptions{}).Logits
	}
}

// ViTOutput is everything one ViT forward pass computes on the way, for plots, probes and the
// lessons' measurements — timm's forward_intermediates returns the Blocks part of it. Nodes
// the caller does not use cost nothing: only a graph's outputs are computed.
// On the pure-Go backend (gomlx/compute v0.1.2) a graph must also output a node built after the
// model's last variable — Logits is one — or executing it fails with "index out of range":
// that executor sizes its buffers by the last output node. XLA has no such limit.
type ViTOutput struct {
	// Stem is the stem's output, the patch vectors on their grid [B, h, w, D].
	Stem *graph.Node
	// Pos is the position embedding that was added ([1, prefix + h·w, D], the class token's
	// entry first; [1, h·w, D] with NoEmbedClass); nil with ViTPosNone.
	Pos *graph.Node
	// Tokens is the sequence the first block sees, [B, prefix + h·w, D]: the grid flattened
	// row by row ([h, w, D] → [h·w, D]), the class token prepended, the position embedding
	// added (before PosDropRate's dropout).
	Tokens *graph.Node
	// Blocks are the transformer blocks' outputs, [B, prefix + h·w, D] each.
	Blocks []*graph.Node
	// Attn are the blocks' attention probabilities [B, heads, T, T] (row = query, column =
	// key; T counts the prefix tokens first).
	Attn []*graph.Node
	// Pooled is what the classifier reads, [B, D] (or [B, RepresentationSize] after the
	// tanh layer), before the head's dropout.
	Pooled *graph.Node
	// Logits are the class scores [B, NumClasses]; the pooled features (after the head's
	// dropout) when NumClasses is 0.
	Logits *graph.Node
}

// ViTOptions change one forward pass without changing the model's variables.
type ViTOptions struct {
	// Pos, when not nil, is added instead of the learned position embedding (which is then
	// neither created nor read): [1, prefix + h·w, D] for the image's grid, the class token's
	// entry first ([1, h·w, D] with NoEmbedClass). It lets a lesson evaluate a trained model
	// with an edited or differently interpolated embedding in one compiled graph.
	Pos *graph.Node
}

// ViTForward runs the model of cfg on images [B, H, W, C] (ViT paper Eq. 1–4):
//
//	z0 = [x_class; x¹E; …; xᴺE] + E_pos      (stem, class token, position embedding)
//	zℓ = Block(zℓ₋₁), ℓ = 1…L                 (pre-norm MSA and MLP, [Block])
//	y  = head(LN(z_L⁰))                        (or the mean of the patch tokens with ViTPoolAvg)
//
// and returns every intermediate (see [ViTOutput]). The learned position embedding is
// resampled in the graph (bicubic, as timm) when the image gives another grid than ImageSize.
// It panics (when the graph is built) if cfg is invalid.
func ViTForward(scope *model.Scope, images *graph.Node, cfg ViTConfig, opts ViTOptions) ViTOutput {
	if err := cfg.Validate(); err != nil {
		exceptions.Panicf("%v", err)
	}
	var out ViTOutput
	g := images.Graph()
	eps := epsOr(cfg.NormEps, 1e-6)
	out.Stem = ViTStem(scope.In("patch_embed"), images, cfg)
	dims := out.Stem.Shape().Dimensions
	b, grid, d := dims[0], [2]int{dims[1], dims[2]}, cfg.EmbedDim
	x := graph.Reshape(out.Stem, b, grid[0]*grid[1], d) // [h, w, D] → [h·w, D], row by row

	prefix := cfg.NumPrefixTokens()
	prependClass := func(x *graph.Node) *graph.Node {
		if !cfg.ClassToken {
			return x
		}
		cls := scope.WithInitializer(normalInit(scope, 1e-6)).
			VariableWithShape("cls_token", shapes.Make(DType, 1, 1, d)).NodeValue(g)
		return graph.Concatenate([]*graph.Node{graph.BroadcastToDims(cls, b, 1, d), x}, 1)
	}
	if !cfg.NoEmbedClass {
		x = prependClass(x)
	}
	out.Pos = opts.Pos
	if out.Pos == nil && cfg.PosEmbed != ViTPosNone {
		base, posPrefix := cfg.Grid(), cfg.posPrefix()
		pos := scope.WithInitializer(normalInit(scope, 0.02)).
			VariableWithShape("pos_embed", shapes.Make(DType, 1, posPrefix+base[0]*base[1], d)).NodeValue(g)
		out.Pos = ResamplePosEmbedGraph(pos, base, grid, posPrefix)
	}
	if out.Pos != nil {
		x = graph.Add(x, out.Pos) // patch vectors and position embeddings are simply added
	}
	if cfg.NoEmbedClass {
		x = prependClass(x)
	}
	out.Tokens = x
	if out.Pos != nil { // timm skips pos_drop when there is no position embedding
		x = Dropout(scope, x, cfg.PosDropRate)
	}

	blocks := scope.In("blocks")
	for i := range cfg.Depth {
		var a *graph.Node
		x, a = BlockWithMaps(blocks.In("%d", i), x, cfg.Block(i))
		out.Blocks = append(out.Blocks, x)
		out.Attn = append(out.Attn, a)
	}

	if cfg.Pool == ViTPoolToken {
		x = LayerNorm(scope.In("norm"), x, eps)
		x = graph.Reshape(graph.Slice(x, graph.AxisRange(), graph.AxisElem(0)), b, d)
	} else {
		x = graph.ReduceMean(graph.Slice(x, graph.AxisRange(), graph.AxisRangeToEnd(prefix)), 1)
		x = LayerNorm(scope.In("fc_norm"), x, eps)
	}
	if cfg.RepresentationSize > 0 {
		// The paper's pre-training head: one hidden layer with tanh (the blocks' MLPs use GELU).
		x = graph.Tanh(Linear(scope.In("pre_logits").In("fc"), x, cfg.RepresentationSize, true))
	}
	out.Pooled = x
	x = Dropout(scope, x, cfg.DropRate)
	if cfg.NumClasses > 0 {
		x = Linear(scope.In("head"), x, cfg.NumClasses, true)
	}
	out.Logits = x
	return out
}

// ViTStem embeds images [B, H, W, C] into the token grid [B, H/p, W/p, D] with cfg.Stem, as
// [ViTForward] does under its "patch_embed" scope: alone, it lets a lesson count or check the
// stem by itself.
func ViTStem(scope *model.Scope, images *graph.Node, cfg ViTConfig) *graph.Node {
	p, d := cfg.PatchSize, cfg.EmbedDim
	switch cfg.Stem {
	case ViTStemOverlap:
		// Kernel 2p, stride p, padding p/2: output size (H + p − 2p)/p + 1 = H/p, the patch grid.
		return Conv2d(scope.In("proj"), images, Conv2dConfig{Out: d, Kernel: 2 * p, Stride: p, Padding: p / 2, Bias: true})
	case ViTStemConv:
		n := bits.TrailingZeros(uint(p)) // p = 2ⁿ
		x := images
		for i := range n {
			name := "proj"
			if i > 0 {
				name = fmt.Sprintf("proj%d", i+1)
				x = ReLU(x)
			}
			x = Conv2d(scope.In("%s", name), x, Conv2dConfig{Out: d >> (n - 1 - i), Kernel: 3, Stride: 2, Padding: 1, Bias: true})
		}
		if n == 0 { // p = 1: no downsampling, a 1×1 projection
			x = Conv2d(scope.In("proj"), x, Conv2dConfig{Out: d, Kernel: 1, Bias: true})
		}
		return x
	}
	return PatchEmbed(scope, images, PatchEmbedConfig{PatchSize: p, EmbedDim: d})
}
