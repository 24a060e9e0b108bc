package nn

import (
	"math"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// This file holds the Vision Transformer (Dosovitskiy et al., 2021, "An Image is Worth 16x16
// Words") blocks, named and laid out as timm.models.vision_transformer so that a model's
// variables are its timm state_dict.

// PatchEmbedConfig configures [PatchEmbed], timm.layers.PatchEmbed.
type PatchEmbedConfig struct {
	PatchSize int  // p: the image is cut into p×p patches (kernel = stride = p)
	EmbedDim  int  // D: the size of each patch vector
	NoBias    bool // drop the projection's bias (timm's bias=False, used with pre-norm ViTs)
	// Norm adds a LayerNorm over D after the projection (scope "norm"), as Swin's patch
	// embedding does; NormEps is its epsilon (0 means 1e-5, nn.LayerNorm's default).
	Norm    bool
	NormEps float64
}

// PatchEmbed is ViT's "patchify" stem (paper §3.1, Eq. 1): a convolution whose kernel and stride
// are both the patch size p, so each output position is a linear function of one p×p patch and
// patches never overlap. x is [B, H, W, C]; the result is the grid of patch vectors
// [B, H/p, W/p, D] (ViT then flattens it to a sequence of N = HW/p² tokens, [H,W,C]→[H·W,C]).
// Like PyTorch's conv, rows/columns that don't fill a whole patch are dropped.
//
// Variables: "proj/weight" [D, C, p, p], "proj/bias" [D], and with Norm "norm/weight", "norm/bias".
func PatchEmbed(scope *model.Scope, x *graph.Node, cfg PatchEmbedConfig) *graph.Node {
	if cfg.PatchSize <= 0 || cfg.EmbedDim <= 0 {
		exceptions.Panicf("nn.PatchEmbed(%s): invalid config %+v", scope.Scope(), cfg)
	}
	y := Conv2d(scope.In("proj"), x, Conv2dConfig{
		Out: cfg.EmbedDim, Kernel: cfg.PatchSize, Stride: cfg.PatchSize, Bias: !cfg.NoBias,
	})
	if cfg.Norm {
		y = LayerNorm(scope.In("norm"), y, epsOr(cfg.NormEps, 1e-5))
	}
	return y
}

// Patchify cuts x [B, H, W, C] into non-overlapping p×p patches and flattens each one, giving
// [B, H/p, W/p, C·p·p]. The flattening order (channel, row, column) is the order of PyTorch's
// conv weight [D, C, p, p], so Patchify followed by a linear layer with that weight reshaped to
// [D, C·p·p] is exactly [PatchEmbed] (see [PatchEmbedAsLinear]).
func Patchify(x *graph.Node, p int) *graph.Node {
	dims := x.Shape().Dimensions
	if x.Rank() != 4 || p <= 0 {
		exceptions.Panicf("nn.Patchify: x must be [B, H, W, C] and p > 0, got %s, p=%d", x.Shape(), p)
	}
	b, h, w, c := dims[0], dims[1]/p, dims[2]/p, dims[3]
	if h*p != dims[1] || w*p != dims[2] {
		x = graph.Slice(x, graph.AxisRange(), graph.AxisRange(0, h*p), graph.AxisRange(0, w*p), graph.AxisRange())
	}
	x = graph.Reshape(x, b, h, p, w, p, c)
	x = graph.TransposeAllAxes(x, 0, 1, 3, 5, 2, 4) // [B, h, w, C, pi, pj]
	return graph.Reshape(x, b, h, w, c*p*p)
}

// PatchEmbedAsLinear computes [PatchEmbed] (without its optional norm) as "reshape into patches,
// then one linear layer", reading the same "proj/weight" [D, C, p, p] and "proj/bias" variables
// viewed as a [D, C·p·p] matrix. It exists to show (and test) that the patchify convolution is
// nothing more than a per-patch linear map. The variables must already exist in scope.
func PatchEmbedAsLinear(scope *model.Scope, x *graph.Node, cfg PatchEmbedConfig) *graph.Node {
	g := x.Graph()
	proj := scope.In("proj")
	wVar := proj.GetVariable("weight")
	if wVar == nil {
		exceptions.Panicf("nn.PatchEmbedAsLinear(%s): variable proj/weight not found; run PatchEmbed or load weights first", scope.Scope())
	}
	w := wVar.NodeValue(g)
	d := w.Shape().Dimensions[0]
	w = graph.Reshape(w, d, -1) // [D, C·p·p], a free view of the conv weight
	var b *graph.Node
	if !cfg.NoBias {
		b = proj.GetVariable("bias").NodeValue(g)
	}
	return LinearApply(Patchify(x, cfg.PatchSize), w, b)
}

// MlpConfig configures [Mlp], timm.layers.Mlp.
type MlpConfig struct {
	Hidden int        // hidden width (ViT/Swin: 4·C)
	Out    int        // output width; 0 means the input width
	Act    Activation // hidden activation; "" means GELU (exact erf form, as timm)
	Drop   float64    // dropout after the activation and after fc2
}

// Mlp is the transformer's position-wise feed-forward network: fc1 → activation → dropout →
// fc2 → dropout over the last axis of x. Variables: "fc1/weight", "fc1/bias", "fc2/weight",
// "fc2/bias".
func Mlp(scope *model.Scope, x *graph.Node, cfg MlpConfig) *graph.Node {
	out := cfg.Out
	if out == 0 {
		out = channels(x)
	}
	act := cfg.Act
	if act == "" {
		act = ActGELU
	}
	h := Linear(scope.In("fc1"), x, cfg.Hidden, true)
	h = Dropout(scope, act.Apply(h), cfg.Drop)
	y := Linear(scope.In("fc2"), h, out, true)
	return Dropout(scope, y, cfg.Drop)
}

// AttentionConfig configures multi-head self-attention ([Attention]), timm.layers.Attention.
type AttentionConfig struct {
	NumHeads int     // h; the channel count must be a multiple of h (head dim d = C/h)
	QKVBias  bool    // bias on the q, k, v projection (timm's ViT uses true)
	AttnDrop float64 // dropout on the attention probabilities
	ProjDrop float64 // dropout after the output projection
	// SharedQK uses one projection for queries and keys (k = q), so the logits Q·Qᵀ are
	// symmetric: the "K, V instead of Q, K, V" design the notes weigh (an ablation, not a
	// model timm builds). "qkv/weight" is then [2C, C] (q = k, then v).
	SharedQK bool
}

// Attention is multi-head self-attention (Vaswani et al., 2017, Eq. 1; ViT Eq. 5–7) over tokens
// x [B, N, C]: softmax(Q·Kᵀ/√d)·V per head, heads concatenated and projected back to C.
// Variables: "qkv/weight" [3C, C] (q, k, v stacked in that order, as timm), optional
// "qkv/bias" [3C], "proj/weight" [C, C], "proj/bias" [C].
func Attention(scope *model.Scope, x *graph.Node, cfg AttentionConfig) *graph.Node {
	out, _ := AttentionWithMaps(scope, x, cfg)
	return out
}

// AttentionWithMaps is [Attention] that also returns the attention probabilities
// [B, heads, N, N] (row = query token, column = key token), for plotting attention maps.
func AttentionWithMaps(scope *model.Scope, x *graph.Node, cfg AttentionConfig) (out, attn *graph.Node) {
	return multiHeadAttention(scope, x, cfg, nil)
}

// multiHeadAttention implements timm's Attention/WindowAttention forward. bias, when not nil,
// returns an additive term for the logits [B, h, N, N] (Swin's relative position bias and shift
// mask); it is called between the qkv and proj scopes so variable creation order matches timm.
func multiHeadAttention(scope *model.Scope, x *graph.Node, cfg AttentionConfig,
	bias func(logits *graph.Node) *graph.Node) (out, attn *graph.Node) {
	if x.Rank() != 3 {
		exceptions.Panicf("nn attention(%s): x must be [B, N, C], got %s", scope.Scope(), x.Shape())
	}
	dims := x.Shape().Dimensions
	b, n, c := dims[0], dims[1], dims[2]
	h := cfg.NumHeads
	if h <= 0 || c%h != 0 {
		exceptions.Panicf("nn attention(%s): %d channels not divisible into %d heads", scope.Scope(), c, h)
	}
	d := c / h
	parts := 3
	if cfg.SharedQK {
		parts = 2
	}
	qkv := Linear(scope.In("qkv"), x, parts*c, cfg.QKVBias)
	qkv = graph.Reshape(qkv, b, n, parts, h, d)
	pick := func(i int) *graph.Node {
		return graph.Reshape(graph.Slice(qkv, graph.AxisRange(), graph.AxisRange(), graph.AxisElem(i)), b, n, h, d)
	}
	q, k, v := pick(0), pick(0), pick(1) // shared: k = q, v is the second part
	if !cfg.SharedQK {
		k, v = pick(1), pick(2)
	}
	q = graph.MulScalar(q, 1/math.Sqrt(float64(d))) // scale q first, as timm does
	logits := graph.Einsum("bqhd,bkhd->bhqk", q, k)
	if bias != nil {
		logits = bias(logits)
	}
	attn = graph.Softmax(logits, -1)
	y := graph.Einsum("bhqk,bkhd->bqhd", Dropout(scope, attn, cfg.AttnDrop), v)
	y = graph.Reshape(y, b, n, c)
	y = Linear(scope.In("proj"), y, c, true)
	return Dropout(scope, y, cfg.ProjDrop), attn
}

// LayerScale multiplies x's channels (last axis) by a learned vector "gamma" initialized to
// initValue (Touvron et al., 2021, CaiT §2.1), timm's LayerScale.
func LayerScale(scope *model.Scope, x *graph.Node, initValue float64) *graph.Node {
	gamma := scope.WithInitializer(constInit(initValue)).
		VariableWithShape("gamma", shapes.Make(DType, channels(x))).NodeValue(x.Graph())
	return graph.Mul(x, perChannel(gamma, x.Rank()))
}

// BlockConfig configures a pre-norm transformer encoder [Block], timm's vision_transformer.Block.
type BlockConfig struct {
	NumHeads int
	MLPRatio float64 // MLP hidden = MLPRatio·C; 0 means 4
	QKVBias  bool
	// InitValues > 0 adds LayerScale (scopes "ls1", "ls2") initialized to it; 0 means none.
	InitValues float64
	DropPath   float64 // stochastic depth rate of both residual branches
	AttnDrop   float64
	ProjDrop   float64 // dropout after the attention projection and inside the MLP
	NormEps    float64 // LayerNorm epsilon; 0 means 1e-6 (timm's ViT)
	// NoSkip drops both residual connections (the block returns its branches' output) and
	// NoMLP the MLP branch: ablations for the "token uniformity" of pure attention (Dong et
	// al., ICML 2021), not models timm builds. Both false is timm's block.
	NoSkip, NoMLP bool
	// SharedQK is the attention's [AttentionConfig] switch (k = q).
	SharedQK bool
}

// Block is ViT's encoder layer (paper Eq. 2–3), pre-norm:
//
//	x = x + DropPath(MSA(LN(x)))
//	x = x + DropPath(MLP(LN(x)))
//
// over tokens x [B, N, C]. Scopes: "norm1", "attn", "norm2", "mlp" (and "ls1", "ls2").
func Block(scope *model.Scope, x *graph.Node, cfg BlockConfig) *graph.Node {
	out, _ := BlockWithMaps(scope, x, cfg)
	return out
}

// BlockWithMaps is [Block] that also returns the attention probabilities [B, heads, N, N].
func BlockWithMaps(scope *model.Scope, x *graph.Node, cfg BlockConfig) (out, attn *graph.Node) {
	c := channels(x)
	eps := epsOr(cfg.NormEps, 1e-6)
	y, attn := AttentionWithMaps(scope.In("attn"), LayerNorm(scope.In("norm1"), x, eps), AttentionConfig{
		NumHeads: cfg.NumHeads, QKVBias: cfg.QKVBias, AttnDrop: cfg.AttnDrop, ProjDrop: cfg.ProjDrop, SharedQK: cfg.SharedQK,
	})
	if cfg.InitValues > 0 {
		y = LayerScale(scope.In("ls1"), y, cfg.InitValues)
	}
	x = residual(x, DropPath(scope, y, cfg.DropPath), cfg.NoSkip)
	if cfg.NoMLP {
		return x, attn
	}

	y = Mlp(scope.In("mlp"), LayerNorm(scope.In("norm2"), x, eps), MlpConfig{
		Hidden: int(float64(c) * ratioOr(cfg.MLPRatio)), Drop: cfg.ProjDrop,
	})
	if cfg.InitValues > 0 {
		y = LayerScale(scope.In("ls2"), y, cfg.InitValues)
	}
	return residual(x, DropPath(scope, y, cfg.DropPath), cfg.NoSkip), attn
}

// residual is x + branch, or the branch alone without the skip connection.
func residual(x, branch *graph.Node, noSkip bool) *graph.Node {
	if noSkip {
		return branch
	}
	return graph.Add(x, branch)
}

func epsOr(eps, def float64) float64 {
	if eps == 0 {
		return def
	}
	return eps
}

func ratioOr(r float64) float64 {
	if r == 0 {
		return 4
	}
	return r
}

// normalInit draws N(0, std²) from the Store's RNG (timm's trunc_normal_(std=.02) truncates at
// ±2 absolute, which never binds at that std, so it is a plain normal).
func normalInit(scope *model.Scope, std float64) model.VariableInitializer {
	return func(g *graph.Graph, shape shapes.Shape) *graph.Node {
		return graph.MulScalar(scope.RandomNormal(g, shape), std)
	}
}
