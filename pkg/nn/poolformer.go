package nn

import (
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// This file holds PoolFormer (Yu et al., 2022, "MetaFormer is Actually What You Need for
// Vision"), named and laid out as timm.models.metaformer with poolformer_s12's settings
// (GroupNorm(1, C) norms, GELU MLP with bias, LayerScale, no norm in the stem/downsampling).
// The paper's point: keep the transformer block's structure (norm → token mixer → residual,
// norm → MLP → residual) and replace attention by the simplest mixer, pooling.

// PoolFormerBlockConfig configures [PoolFormerBlock], timm's MetaFormerBlock with the Pooling
// token mixer.
type PoolFormerBlockConfig struct {
	PoolSize int     // average-pooling window; 0 means 3
	MLPRatio float64 // MLP hidden = MLPRatio·C; 0 means 4
	// LayerScaleInit > 0 adds "layer_scale1/scale" and "layer_scale2/scale" [C] initialized
	// to it (poolformer_s12 uses 1e-5); 0 means no layer scale.
	LayerScaleInit float64
	DropPath       float64
	ProjDrop       float64 // dropout inside the MLP
	NormEps        float64 // GroupNorm epsilon; 0 means 1e-5 (nn.GroupNorm's default)
	// TokenMixer is the MetaFormer token mixer (TokenMixers; "" means pooling, PoolFormer).
	TokenMixer string
}

// PoolingMixer is PoolFormer's token mixer (paper Eq. 4): pool(x) − x, with pool a k×k average
// pooling, stride 1, padding k/2, that leaves the padded zeros out of each average (PyTorch's
// count_include_pad=False). The subtraction is there because the block adds x back through its
// residual connection. x is [B, H, W, C].
func PoolingMixer(x *graph.Node, poolSize int) *graph.Node {
	if poolSize == 0 {
		poolSize = 3
	}
	return graph.Sub(avgPoolSameExcludePad(x, poolSize), x)
}

// avgPoolSameExcludePad is AvgPool2d(k, stride 1, padding k/2, count_include_pad=False) on
// [B, H, W, C] (odd k), written as explicit zero padding + an unpadded sum pool + division by
// the number of real pixels under each window. It computes the same as AvgPool2d(x, k, 1, k/2,
// false), but the padded pooling's gradient needs a negative Pad, which the pure-Go backend
// (compute v0.1.2) mis-executes (slice out of range), while this form's gradient only needs
// slices of the zero-padding concatenation (see padZeros); it trains on every backend.
func avgPoolSameExcludePad(x *graph.Node, k int) *graph.Node {
	g := x.Graph()
	dims := x.Shape().Dimensions
	h, w, p := dims[1], dims[2], k/2
	padded := padZeros(padZeros(x, 1, p, p), 2, p, p)
	sum := graph.SumPool(padded).Window(k).Strides(1).NoPadding().Done()
	// Real pixels under the window centred at (i, j): rows in range times columns in range.
	inRange := func(i, n int) float32 { return float32(min(i+p, n-1) - max(i-p, 0) + 1) }
	count := make([]float32, h*w)
	for i := range h {
		for j := range w {
			count[i*w+j] = inRange(i, h) * inRange(j, w)
		}
	}
	c := graph.ConvertDType(graph.Const(g, tensors.FromFlatDataAndDimensions(count, 1, h, w, 1)), x.DType())
	return graph.Div(sum, c)
}

// PoolFormerBlock is one PoolFormer block (paper Eq. 1–2 with the pooling mixer) on x
// [B, H, W, C]:
//
//	x = x + DropPath(LayerScale1(PoolingMixer(GroupNorm(1, C)(x))))
//	x = x + DropPath(LayerScale2(MLP(GroupNorm(1, C)(x))))
//
// where the MLP is two 1×1 convolutions (hidden 4C, GELU), i.e. a per-position linear layer.
// Scopes: "norm1", "norm2", "mlp/fc1", "mlp/fc2" (conv weights [out, in, 1, 1], as timm),
// "layer_scale1", "layer_scale2".
func PoolFormerBlock(scope *model.Scope, x *graph.Node, cfg PoolFormerBlockConfig) *graph.Node {
	if x.Rank() != 4 {
		exceptions.Panicf("nn.PoolFormerBlock(%s): x must be [B, H, W, C], got %s", scope.Scope(), x.Shape())
	}
	c := channels(x)
	eps := epsOr(cfg.NormEps, 1e-5)
	y := TokenMixer(scope.In("token_mixer"), GroupNorm(scope.In("norm1"), x, 1, eps), cfg.TokenMixer, cfg.PoolSize)
	y = poolFormerScale(scope.In("layer_scale1"), y, cfg.LayerScaleInit)
	x = graph.Add(x, DropPath(scope, y, cfg.DropPath))

	y = GroupNorm(scope.In("norm2"), x, 1, eps)
	mlp := scope.In("mlp")
	hidden := int(float64(c) * ratioOr(cfg.MLPRatio))
	y = Conv2d(mlp.In("fc1"), y, Conv2dConfig{Out: hidden, Kernel: 1, Bias: true})
	y = Dropout(mlp, GELU(y), cfg.ProjDrop)
	y = Conv2d(mlp.In("fc2"), y, Conv2dConfig{Out: c, Kernel: 1, Bias: true})
	y = Dropout(mlp, y, cfg.ProjDrop)
	y = poolFormerScale(scope.In("layer_scale2"), y, cfg.LayerScaleInit)
	return graph.Add(x, DropPath(scope, y, cfg.DropPath))
}

// poolFormerScale is timm's metaformer Scale: a learned per-channel "scale" vector; a no-op
// (and no variable) when init is 0.
func poolFormerScale(scope *model.Scope, x *graph.Node, init float64) *graph.Node {
	if init == 0 {
		return x
	}
	s := scope.WithInitializer(constInit(init)).
		VariableWithShape("scale", shapes.Make(DType, channels(x))).NodeValue(x.Graph())
	return graph.Mul(x, perChannel(s, x.Rank()))
}
