package nn

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// This file: a small U-Net (Ronneberger et al., "U-Net: Convolutional Networks for Biomedical
// Image Segmentation", 2015, Fig. 1) for 64×64 segmentation, plus resizing helpers shared with
// the GG-Net modules.

// DownsampleKind selects how the U-Net encoder halves the resolution.
type DownsampleKind string

const (
	// DownAvgPool is a 2×2 average pool: trainable on every backend.
	DownAvgPool DownsampleKind = "avgpool"
	// DownMaxPool is the paper's 2×2 max-pool; the pure-Go backend has no gradient for it.
	DownMaxPool DownsampleKind = "maxpool"
	// DownConv is a learned 2×2 stride-2 conv ("down.<level>").
	DownConv DownsampleKind = "conv"
)

// UNetConfig configures a U-Net. Zero values: Base 16, Levels 4, DownAvgPool.
type UNetConfig struct {
	InChannels int
	NumClasses int // output channels (1 for a binary mask's logits)
	Base       int // channels at the first level; doubled at each level down
	Levels     int // resolution levels (Levels−1 downsamplings); the input must divide by 2^(Levels−1)
	Downsample DownsampleKind
	// NoSkips drops the skip connections: each decoder level sees only the upsampled coarser
	// map (an encoder–decoder without U-Net's concatenations, for the ablation that measures
	// what the skips restore). The default keeps them.
	NoSkips bool
	// Hook, when set, maps the bottleneck (level Levels−1, after its DoubleConv) and each
	// decoder level's output (level l) before the network goes on: where a conditioning such
	// as a rater's latent is added ([AddLatent]). nil leaves the network as it is.
	Hook func(level int, x *graph.Node) *graph.Node
}

func (c UNetConfig) withDefaults() UNetConfig {
	if c.Base == 0 {
		c.Base = 16
	}
	if c.Levels == 0 {
		c.Levels = 4
	}
	if c.Downsample == "" {
		c.Downsample = DownAvgPool
	}
	return c
}

// UNetSmall64 is a U-Net for 64×64 one-channel images with a one-channel mask: 4 levels
// (64, 32, 16, 8) with 16…128 channels.
func UNetSmall64() UNetConfig {
	return UNetConfig{InChannels: 1, NumClasses: 1, Base: 16, Levels: 4}
}

// DoubleConv is U-Net's unit: (3×3 conv → BN → ReLU) twice, as conv1/bn1/conv2/bn2 in scope.
func DoubleConv(scope *model.Scope, x *graph.Node, out int) *graph.Node {
	x = Conv2d(scope.In("conv1"), x, Conv2dConfig{Out: out, Kernel: 3, Padding: 1})
	x = ReLU(BatchNorm2d(scope.In("bn1"), x, BatchNormConfig{}))
	x = Conv2d(scope.In("conv2"), x, Conv2dConfig{Out: out, Kernel: 3, Padding: 1})
	return ReLU(BatchNorm2d(scope.In("bn2"), x, BatchNormConfig{}))
}

// UpsampleNearest2x repeats every pixel of [B, H, W, C] into a 2×2 block ([B, 2H, 2W, C]);
// built from a broadcast, so it has a gradient on every backend.
func UpsampleNearest2x(x *graph.Node) *graph.Node {
	d := x.Shape().Dimensions
	y := graph.BroadcastToDims(graph.Reshape(x, d[0], d[1], 1, d[2], 1, d[3]), d[0], d[1], 2, d[2], 2, d[3])
	return graph.Reshape(y, d[0], 2*d[1], 2*d[2], d[3])
}

// Resize resizes [B, H, W, C] to [B, h, w, C] bilinearly with half-pixel centres, like
// F.interpolate(mode="bilinear", align_corners=False) without anti-aliasing. It applies one
// interpolation matrix per axis ([BilinearResizeMatrix]) by matrix products, as
// ResamplePosEmbedGraph does: that has a gradient on every backend at any size (GoMLX's
// bilinear Interpolate has none for inputs of 3 pixels or fewer) and uses only ops GoMLX's
// ONNX exporter has (Interpolate needs Clamp, which it lacks).
func Resize(x *graph.Node, h, w int) *graph.Node {
	d := x.Shape().Dimensions
	if d[1] == h && d[2] == w {
		return x
	}
	g := x.Graph()
	b, c := d[0], d[3]
	rh := graph.ConvertDType(graph.Const(g, matrixTensor(BilinearResizeMatrix(d[1], h), h, d[1])), x.DType())
	rw := graph.ConvertDType(graph.Const(g, matrixTensor(BilinearResizeMatrix(d[2], w), w, d[2])), x.DType())
	// Batched products with the batch axis first on both sides, so no transpose is needed
	// (GoMLX's ONNX exporter mislabels the shape of a product followed by one).
	y := graph.Einsum("bik,bkm->bim", graph.BroadcastToDims(graph.Reshape(rh, 1, h, d[1]), b, h, d[1]), graph.Reshape(x, b, d[1], d[2]*c))
	y = graph.Reshape(y, b*h, d[2], c)
	y = graph.Einsum("bjl,blc->bjc", graph.BroadcastToDims(graph.Reshape(rw, 1, w, d[2]), b*h, w, d[2]), y)
	return graph.Reshape(y, b, h, w, c)
}

// BilinearResizeMatrix is the [outSize, inSize] matrix (row-major) that resizes a line of
// inSize samples to outSize by linear interpolation with half-pixel centres: output i reads
// the input at (i + ½)·inSize/outSize − ½, clamped to the first and last sample.
func BilinearResizeMatrix(inSize, outSize int) []float64 {
	m := make([]float64, outSize*inSize)
	scale := float64(inSize) / float64(outSize)
	for i := range outSize {
		src := min(max((float64(i)+0.5)*scale-0.5, 0), float64(inSize-1))
		i0 := int(src)
		i1 := min(i0+1, inSize-1)
		t := src - float64(i0)
		m[i*inSize+i0] += 1 - t
		m[i*inSize+i1] += t
	}
	return m
}

func matrixTensor(m []float64, rows, cols int) *tensors.Tensor {
	f := make([]float32, len(m))
	for i, v := range m {
		f[i] = float32(v)
	}
	return tensors.FromFlatDataAndDimensions(f, rows, cols)
}

// UNetOutputs holds a U-Net's logits and its intermediate maps, for plots and for the GG-Net
// modules that tap the encoder.
type UNetOutputs struct {
	Logits   *graph.Node   // [B, H, W, NumClasses]
	Encoder  []*graph.Node // one map per level, full resolution first
	Decoder  []*graph.Node // one map per decoder level, coarsest first
	Baseline *graph.Node   // the bottleneck (deepest encoder map after its DoubleConv)
}

// UNetForward runs the U-Net and returns all its maps. Variables: enc.<l> (DoubleConv),
// down.<l> (with DownConv), up.<l> (3×3 conv after 2× nearest upsampling), dec.<l>
// (DoubleConv on [skip, up] concatenated) and head (1×1 conv).
func UNetForward(scope *model.Scope, x *graph.Node, cfg UNetConfig) UNetOutputs {
	cfg = cfg.withDefaults()
	d := x.Shape().Dimensions
	if f := 1 << (cfg.Levels - 1); d[1]%f != 0 || d[2]%f != 0 {
		exceptions.Panicf("nn.UNet: input %d×%d must divide by %d for %d levels", d[1], d[2], f, cfg.Levels)
	}
	enc, down, up, dec := scope.In("enc"), scope.In("down"), scope.In("up"), scope.In("dec")
	var out UNetOutputs
	width := cfg.Base
	for l := range cfg.Levels {
		if l > 0 {
			switch cfg.Downsample {
			case DownAvgPool:
				x = AvgPool2d(x, 2, 2, 0, true)
			case DownMaxPool:
				x = MaxPool2d(x, 2, 2, 0)
			case DownConv:
				x = Conv2d(down.In("%d", l), x, Conv2dConfig{Out: channels(x), Kernel: 2, Stride: 2})
			default:
				exceptions.Panicf("nn.UNet: unknown downsample %q", cfg.Downsample)
			}
		}
		x = DoubleConv(enc.In("%d", l), x, width)
		out.Encoder = append(out.Encoder, x)
		width *= 2
	}
	out.Baseline = x
	if cfg.Hook != nil {
		x = cfg.Hook(cfg.Levels-1, x)
	}
	for l := cfg.Levels - 2; l >= 0; l-- {
		width /= 2
		skip := out.Encoder[l]
		u := Conv2d(up.In("%d", l), UpsampleNearest2x(x), Conv2dConfig{Out: channels(skip), Kernel: 3, Padding: 1})
		in := graph.Concatenate([]*graph.Node{skip, u}, 3)
		if cfg.NoSkips {
			in = u
		}
		x = DoubleConv(dec.In("%d", l), in, channels(skip))
		if cfg.Hook != nil {
			x = cfg.Hook(l, x)
		}
		out.Decoder = append(out.Decoder, x)
	}
	out.Logits = Conv2d(scope.In("head"), x, Conv2dConfig{Out: cfg.NumClasses, Kernel: 1, Bias: true})
	return out
}

// UNet returns the segmentation model function for cfg: [B, H, W, InChannels] → logits
// [B, H, W, NumClasses].
func UNet(cfg UNetConfig) ModelFn {
	return func(scope *model.Scope, x *graph.Node) *graph.Node { return UNetForward(scope, x, cfg).Logits }
}
