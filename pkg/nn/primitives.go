// Package nn holds gostudy's teaching model blocks — ResNet, ResNeXt, ConvNeXt, RepVGG,
// ACmix, U-Net, GG-Net modules, ViT, Swin, PoolFormer — written as small functions over
// GoMLX graph nodes, one per block of the paper, and checked against timm.
//
// Conventions shared by every block:
//
//   - Activations are channels-last: images are [B, H, W, C], token sequences [B, N, C].
//   - Parameters carry timm's names and PyTorch's layouts, in model.Scope paths named like
//     timm's module paths, so a model's variable tree is its timm state_dict: the variable
//     "weight" in scope "/blocks/0/attn/qkv" is timm's "blocks.0.attn.qkv.weight". A conv
//     weight is [out, in/groups, kh, kw], a linear weight [out, in]; BatchNorm has weight,
//     bias, running_mean and running_var. See StateDict and LoadStateDict.
//   - Graph code consumes those layouts directly through XLA's general convolution and
//     DotGeneral axis configuration, so no transposed copies are made.
//   - Train and eval mode follow GoMLX's flag on the graph (model.Store.SetTraining, read with
//     Scope.IsTraining), which the GoMLX trainer sets; one model function serves both.
//
// GoMLX's own layers.Dense and layers.Convolution name their variables "weights"/"biases" and
// store kernels as [kh, kw, in, out], which would break the one-to-one mapping with timm's
// state_dict; that is why this package has thin primitives of its own (this file).
package nn

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// DType is the dtype of every parameter this package creates; fixtures and lessons are float32.
const DType = dtypes.Float32

// nhwcOIHW reads activations as [B, H, W, C] and kernels in PyTorch's [O, I/groups, kh, kw].
var nhwcOIHW = compute.ConvolveAxesConfig{
	InputBatch:           0,
	InputSpatial:         []int{1, 2},
	InputChannels:        3,
	KernelOutputChannels: 0,
	KernelInputChannels:  1,
	KernelSpatial:        []int{2, 3},
	OutputBatch:          0,
	OutputSpatial:        []int{1, 2},
	OutputChannels:       3,
}

// Conv2dConfig configures a 2D convolution with PyTorch's nn.Conv2d semantics. Zero values of
// Stride, Dilation and Groups mean 1; Padding is symmetric zero padding on each spatial side,
// 0 by default as in PyTorch (see TimmPadding for timm's "same-ish" default).
type Conv2dConfig struct {
	Out      int  // output channels
	Kernel   int  // square kernel size k (k×k)
	Stride   int  // 0 means 1
	Padding  int  // zeros added on every spatial side
	Dilation int  // 0 means 1
	Groups   int  // 0 means 1; Groups == input channels is a depthwise conv
	Bias     bool // add a learned bias per output channel
}

func (c Conv2dConfig) withDefaults() Conv2dConfig {
	if c.Stride == 0 {
		c.Stride = 1
	}
	if c.Dilation == 0 {
		c.Dilation = 1
	}
	if c.Groups == 0 {
		c.Groups = 1
	}
	return c
}

// TimmPadding is timm's get_padding: the symmetric padding that keeps the spatial size for
// stride 1 and rounds it down to ceil(size/stride) for odd kernels.
func TimmPadding(kernel, stride, dilation int) int {
	if stride == 0 {
		stride = 1
	}
	if dilation == 0 {
		dilation = 1
	}
	return ((stride - 1) + dilation*(kernel-1)) / 2
}

// heNormal initializes conv weights with He (Kaiming) normal noise N(0, 2/fan_in), fan_in =
// (in/groups)·kh·kw — PyTorch's kaiming_normal_ default mode. (timm's ResNet uses fan_out,
// which gives a single-output head conv a standard deviation of √2 and made small
// segmentation heads diverge; weights loaded from timm do not depend on it.)
func heNormal(scope *model.Scope, fanIn int) model.VariableInitializer {
	std := math.Sqrt(2.0 / float64(max(fanIn, 1)))
	return func(g *graph.Graph, shape shapes.Shape) *graph.Node {
		return graph.MulScalar(scope.RandomNormal(g, shape), std)
	}
}

// uniformInit draws from U(-bound, bound), PyTorch's default for nn.Linear (bound = 1/sqrt(fan_in)).
func uniformInit(scope *model.Scope, bound float64) model.VariableInitializer {
	return func(g *graph.Graph, shape shapes.Shape) *graph.Node {
		u := scope.RandomUniform(g, shape) // [0, 1)
		return graph.AddScalar(graph.MulScalar(u, 2*bound), -bound)
	}
}

func constInit(v float64) model.VariableInitializer {
	return func(g *graph.Graph, shape shapes.Shape) *graph.Node {
		return graph.BroadcastToShape(graph.Scalar(g, shape.DType, v), shape)
	}
}

// perChannel reshapes a [C] vector to [1, ..., 1, C] so it broadcasts over the last axis of a
// rank-`rank` tensor (GoMLX broadcasts only between operands of equal rank).
func perChannel(v *graph.Node, rank int) *graph.Node {
	return graph.ExpandLeftToRank(v, rank)
}

// channels returns the size of x's last axis, the channel axis in this package.
func channels(x *graph.Node) int {
	return x.Shape().Dimensions[x.Rank()-1]
}

// Conv2d applies a 2D convolution to x [B, H, W, Cin], creating in scope the variables
// "weight" [Out, Cin/Groups, K, K] and, with Bias, "bias" [Out]. It returns [B, H', W', Out].
func Conv2d(scope *model.Scope, x *graph.Node, cfg Conv2dConfig) *graph.Node {
	cfg = cfg.withDefaults()
	if x.Rank() != 4 {
		exceptions.Panicf("nn.Conv2d(%s): x must be [B, H, W, C], got %s", scope.Scope(), x.Shape())
	}
	in := channels(x)
	if cfg.Out <= 0 || cfg.Kernel <= 0 || in%cfg.Groups != 0 || cfg.Out%cfg.Groups != 0 {
		exceptions.Panicf("nn.Conv2d(%s): invalid config %+v for %d input channels", scope.Scope(), cfg, in)
	}
	g := x.Graph()
	wShape := shapes.Make(DType, cfg.Out, in/cfg.Groups, cfg.Kernel, cfg.Kernel)
	w := scope.WithInitializer(heNormal(scope, in/cfg.Groups*cfg.Kernel*cfg.Kernel)).
		VariableWithShape("weight", wShape).NodeValue(g)
	var b *graph.Node
	if cfg.Bias {
		fanIn := in / cfg.Groups * cfg.Kernel * cfg.Kernel
		b = scope.WithInitializer(uniformInit(scope, 1/math.Sqrt(float64(fanIn)))).
			VariableWithShape("bias", shapes.Make(DType, cfg.Out)).NodeValue(g)
	}
	return Conv2dApply(x, w, b, cfg)
}

// Conv2dApply convolves x [B, H, W, Cin] with a given weight [Out, Cin/groups, kh, kw] and
// optional bias [Out] (nil for none), using cfg's Stride, Padding, Dilation and Groups (Out,
// Kernel and Bias are taken from the tensors). It is the parameter-free form used to run fused
// or hand-built kernels, e.g. RepVGG's re-parameterized 3×3.
func Conv2dApply(x, weight, bias *graph.Node, cfg Conv2dConfig) *graph.Node {
	cfg = cfg.withDefaults()
	p := cfg.Padding
	y := graph.ConvGeneral(x, weight, nhwcOIHW,
		[]int{cfg.Stride, cfg.Stride}, [][2]int{{p, p}, {p, p}}, nil,
		[]int{cfg.Dilation, cfg.Dilation}, cfg.Groups, 1)
	if bias != nil {
		y = graph.Add(y, perChannel(bias, 4))
	}
	return y
}

// Linear applies y = x Wᵀ + b over the last axis of x (any rank), creating "weight" [out, in]
// and, with bias, "bias" [out] in scope (PyTorch's nn.Linear layout and initialization).
func Linear(scope *model.Scope, x *graph.Node, out int, bias bool) *graph.Node {
	in := channels(x)
	g := x.Graph()
	bound := 1 / math.Sqrt(float64(in))
	w := scope.WithInitializer(uniformInit(scope, bound)).
		VariableWithShape("weight", shapes.Make(DType, out, in)).NodeValue(g)
	var b *graph.Node
	if bias {
		b = scope.WithInitializer(uniformInit(scope, bound)).
			VariableWithShape("bias", shapes.Make(DType, out)).NodeValue(g)
	}
	return LinearApply(x, w, b)
}

// LinearApply computes x Wᵀ + b for a given weight [out, in] and optional bias [out] (nil for
// none), contracting x's last axis with the weight's axis 1 so the [out, in] layout is used
// as stored.
func LinearApply(x, weight, bias *graph.Node) *graph.Node {
	y := graph.DotGeneral(x, []int{x.Rank() - 1}, nil, weight, []int{1}, nil)
	if bias != nil {
		y = graph.Add(y, perChannel(bias, y.Rank()))
	}
	return y
}

// BatchNormConfig holds PyTorch's BatchNorm2d hyperparameters; zero values mean PyTorch's
// defaults (eps 1e-5, momentum 0.1).
type BatchNormConfig struct {
	Eps      float64
	Momentum float64 // weight of the new batch in running = (1-m)·running + m·batch
}

// BatchNorm2d normalizes x over every axis but the last (channels), as PyTorch's BatchNorm2d
// does over N, H, W. It creates "weight" (γ, ones), "bias" (β, zeros) and the non-trainable
// "running_mean" (zeros) and "running_var" (ones), all [C].
//
// In training mode (Scope.IsTraining) it normalizes with the batch mean and biased variance,
// lets gradients flow through them, and updates the running statistics with the unbiased
// variance, exactly as PyTorch does; in eval mode it uses the running statistics. x may be
// any rank ≥ 2 with channels last.
func BatchNorm2d(scope *model.Scope, x *graph.Node, cfg BatchNormConfig) *graph.Node {
	if cfg.Eps == 0 {
		cfg.Eps = 1e-5
	}
	if cfg.Momentum == 0 {
		cfg.Momentum = 0.1
	}
	g := x.Graph()
	c := channels(x)
	vs := shapes.Make(DType, c)
	gamma := scope.WithInitializer(constInit(1)).VariableWithShape("weight", vs).NodeValue(g)
	beta := scope.WithInitializer(constInit(0)).VariableWithShape("bias", vs).NodeValue(g)
	meanVar := scope.WithInitializer(constInit(0)).VariableWithShape("running_mean", vs).SetTrainable(false)
	varVar := scope.WithInitializer(constInit(1)).VariableWithShape("running_var", vs).SetTrainable(false)

	var mean, variance *graph.Node
	if scope.IsTraining(g) {
		axes := make([]int, x.Rank()-1)
		n := 1
		for i := range axes {
			axes[i] = i
			n *= x.Shape().Dimensions[i]
		}
		mean = graph.ReduceMean(x, axes...)
		variance = graph.ReduceMean(graph.Square(graph.Sub(x, perChannel(mean, x.Rank()))), axes...)
		m := cfg.Momentum
		unbiased := variance
		if n > 1 {
			unbiased = graph.MulScalar(variance, float64(n)/float64(n-1))
		}
		meanVar.SetNodeValue(graph.StopGradient(graph.Add(graph.MulScalar(meanVar.NodeValue(g), 1-m), graph.MulScalar(mean, m))))
		varVar.SetNodeValue(graph.StopGradient(graph.Add(graph.MulScalar(varVar.NodeValue(g), 1-m), graph.MulScalar(unbiased, m))))
	} else {
		mean = meanVar.NodeValue(g)
		variance = varVar.NodeValue(g)
	}
	return BatchNormApply(x, gamma, beta, mean, variance, cfg.Eps)
}

// BatchNormApply computes γ·(x−μ)/√(σ²+eps)+β with per-channel [C] vectors broadcast over the
// last axis of x. It is also what RepVGG's fusion folds into a conv. (Division by Sqrt rather
// than GoMLX's Rsqrt, which has no gradient in v0.28.)
func BatchNormApply(x, gamma, beta, mean, variance *graph.Node, eps float64) *graph.Node {
	r := x.Rank()
	scale := perChannel(graph.Div(gamma, graph.Sqrt(graph.AddScalar(variance, eps))), r)
	return graph.Add(graph.Mul(graph.Sub(x, perChannel(mean, r)), scale), perChannel(beta, r))
}

// LayerNorm normalizes x over its last axis (biased variance), with learned "weight" (ones)
// and "bias" (zeros) [C]. On channels-last images this is also timm's LayerNorm2d, the
// channels-first LayerNorm ConvNeXt uses in its stem and downsampling layers.
func LayerNorm(scope *model.Scope, x *graph.Node, eps float64) *graph.Node {
	g := x.Graph()
	c := channels(x)
	vs := shapes.Make(DType, c)
	gamma := scope.WithInitializer(constInit(1)).VariableWithShape("weight", vs).NodeValue(g)
	beta := scope.WithInitializer(constInit(0)).VariableWithShape("bias", vs).NodeValue(g)
	last := x.Rank() - 1
	mean := graph.ReduceAndKeep(x, graph.ReduceMean, last)
	centered := graph.Sub(x, mean)
	variance := graph.ReduceAndKeep(graph.Square(centered), graph.ReduceMean, last)
	r := x.Rank()
	return graph.Add(graph.Mul(graph.Div(centered, graph.Sqrt(graph.AddScalar(variance, eps))), perChannel(gamma, r)), perChannel(beta, r))
}

// GroupNorm splits the channels (last axis) of x [B, ..., C] into groups and normalizes each
// group over all its positions and channels, as PyTorch's nn.GroupNorm; "weight" and "bias"
// are per channel [C]. GroupNorm(1, C) normalizes over C, H and W together (PoolFormer).
func GroupNorm(scope *model.Scope, x *graph.Node, groups int, eps float64) *graph.Node {
	g := x.Graph()
	dims := x.Shape().Dimensions
	c := dims[len(dims)-1]
	if groups <= 0 || c%groups != 0 {
		exceptions.Panicf("nn.GroupNorm(%s): %d channels not divisible into %d groups", scope.Scope(), c, groups)
	}
	vs := shapes.Make(DType, c)
	gamma := scope.WithInitializer(constInit(1)).VariableWithShape("weight", vs).NodeValue(g)
	beta := scope.WithInitializer(constInit(0)).VariableWithShape("bias", vs).NodeValue(g)
	// [B, positions..., groups, C/groups]: reduce everything but batch and group.
	gdims := append(append([]int{}, dims[:len(dims)-1]...), groups, c/groups)
	xg := graph.Reshape(x, gdims...)
	var axes []int
	for i := 1; i < len(gdims); i++ {
		if i != len(gdims)-2 {
			axes = append(axes, i)
		}
	}
	mean := graph.ReduceAndKeep(xg, graph.ReduceMean, axes...)
	centered := graph.Sub(xg, mean)
	variance := graph.ReduceAndKeep(graph.Square(centered), graph.ReduceMean, axes...)
	y := graph.Reshape(graph.Div(centered, graph.Sqrt(graph.AddScalar(variance, eps))), dims...)
	return graph.Add(graph.Mul(y, perChannel(gamma, len(dims))), perChannel(beta, len(dims)))
}

// GELU is the exact Gaussian error linear unit x·Φ(x) = x/2·(1+erf(x/√2)), the form timm
// uses (nn.GELU default).
func GELU(x *graph.Node) *graph.Node {
	return graph.Mul(graph.MulScalar(x, 0.5), graph.OnePlus(graph.Erf(graph.MulScalar(x, 1/math.Sqrt2))))
}

// GELUTanh is the tanh approximation of GELU (nn.GELU(approximate="tanh")), kept to show
// the difference from the exact form.
func GELUTanh(x *graph.Node) *graph.Node {
	inner := graph.MulScalar(graph.Add(x, graph.MulScalar(graph.Mul(graph.Square(x), x), 0.044715)), math.Sqrt(2/math.Pi))
	return graph.Mul(graph.MulScalar(x, 0.5), graph.OnePlus(graph.Tanh(inner)))
}

// ReLU is max(x, 0).
func ReLU(x *graph.Node) *graph.Node { return graph.Max(x, graph.ZerosLike(x)) }

// SiLU (swish) is x·σ(x).
func SiLU(x *graph.Node) *graph.Node { return graph.Mul(x, graph.Sigmoid(x)) }

// Activation names an elementwise nonlinearity so configs can choose one by name.
type Activation string

// Activations understood by Activation.Apply.
const (
	ActReLU     Activation = "relu"
	ActGELU     Activation = "gelu"
	ActGELUTanh Activation = "gelu_tanh"
	ActSiLU     Activation = "silu"
	ActSigmoid  Activation = "sigmoid"
	ActTanh     Activation = "tanh"
	ActIdentity Activation = "identity"
)

// Apply applies the named activation; it panics (GoMLX's graph-building convention) on an
// unknown name. The empty name is the identity.
func (a Activation) Apply(x *graph.Node) *graph.Node {
	switch a {
	case ActReLU:
		return ReLU(x)
	case ActGELU:
		return GELU(x)
	case ActGELUTanh:
		return GELUTanh(x)
	case ActSiLU:
		return SiLU(x)
	case ActSigmoid:
		return graph.Sigmoid(x)
	case ActTanh:
		return graph.Tanh(x)
	case ActIdentity, "":
		return x
	}
	panic(fmt.Errorf("nn: unknown activation %q", string(a)))
}

// MaxPool2d is PyTorch's MaxPool2d(kernel, stride, padding) on [B, H, W, C]; padded positions
// never win (they count as -inf). The pure-Go backend has no gradient for it.
func MaxPool2d(x *graph.Node, kernel, stride, padding int) *graph.Node {
	return graph.MaxPool(x).Window(kernel).Strides(stride).
		PaddingPerDim([][2]int{{padding, padding}, {padding, padding}}).Done()
}

// AvgPool2d is PyTorch's AvgPool2d(kernel, stride, padding) on [B, H, W, C]. With
// countIncludePad false the padded zeros are left out of each average (what PoolFormer uses);
// with true they count, PyTorch's default.
func AvgPool2d(x *graph.Node, kernel, stride, padding int, countIncludePad bool) *graph.Node {
	if padding == 0 {
		return graph.MeanPool(x).Window(kernel).Strides(stride).NoPadding().Done()
	}
	if !countIncludePad {
		return graph.MeanPool(x).Window(kernel).Strides(stride).
			PaddingPerDim([][2]int{{padding, padding}, {padding, padding}}).Done()
	}
	sum := graph.SumPool(x).Window(kernel).Strides(stride).
		PaddingPerDim([][2]int{{padding, padding}, {padding, padding}}).Done()
	return graph.DivScalar(sum, float64(kernel*kernel))
}

// GlobalAvgPool2d averages [B, H, W, C] over H and W, giving [B, C].
func GlobalAvgPool2d(x *graph.Node) *graph.Node {
	return graph.ReduceMean(x, 1, 2)
}

// shapeOf is a float32 shape of the given dimensions.
func shapeOf(dims ...int) shapes.Shape { return shapes.Make(DType, dims...) }

// PadHW pads the spatial axes 1 and 2 of [B, H, W, C] with `value`, by top/bottom rows and
// left/right columns. It concatenates constant blocks instead of using GoMLX's Pad op, which
// has no gradient in v0.28, so padding inside trained graphs works on every backend.
func PadHW(x *graph.Node, value float64, top, bottom, left, right int) *graph.Node {
	g := x.Graph()
	d := x.Shape().Dimensions
	block := func(h, w int) *graph.Node {
		return graph.BroadcastToDims(graph.Scalar(g, x.DType(), value), d[0], h, w, d[3])
	}
	if top > 0 || bottom > 0 {
		parts := []*graph.Node{}
		if top > 0 {
			parts = append(parts, block(top, d[2]))
		}
		parts = append(parts, x)
		if bottom > 0 {
			parts = append(parts, block(bottom, d[2]))
		}
		x = graph.Concatenate(parts, 1)
	}
	if left > 0 || right > 0 {
		h := x.Shape().Dimensions[1]
		parts := []*graph.Node{}
		if left > 0 {
			parts = append(parts, block(h, left))
		}
		parts = append(parts, x)
		if right > 0 {
			parts = append(parts, block(h, right))
		}
		x = graph.Concatenate(parts, 2)
	}
	return x
}
