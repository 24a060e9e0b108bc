package nn

import (
	"github.com/gomlx/gomlx/core/graph"
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

// Resize resizes [B, H, W, C] to [B, h, w, C]: bilinear (half-pixel centres, like
// F.interpolate(align_corners=False)) when the input is larger than 3×3, nearest otherwise,
// because GoMLX's bilinear gradient fails on inputs of 3 pixels or fewer.
func Resize(x *graph.Node, h, w int) *graph.Node {
	d := x.Shape().Dimensions
	if d[1] == h && d[2] == w {
		return x
	}
	cfg := graph.Interpolate(x, -1, h, w, -1)
	if d[1] <= 3 || d[2] <= 3 {
		cfg = cfg.Nearest()
	}
	return cfg.Done()
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
	for l := cfg.Levels - 2; l >= 0; l-- {
		width /= 2
		skip := out.Encoder[l]
		u := Conv2d(up.In("%d", l), UpsampleNearest2x(x), Conv2dConfig{Out: channels(skip), Kernel: 3, Padding: 1})
		x = DoubleConv(dec.In("%d", l), graph.Concatenate([]*graph.Node{skip, u}, 3), channels(skip))
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
