package nn

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// This file: Atrous Spatial Pyramid Pooling (Chen et al., "Rethinking Atrous Convolution for
// Semantic Image Segmentation" (DeepLabv3), 2017, §3.3 and Fig. 5), which GG-Net puts before its
// Global Guidance Blocks ("让从ASPP提取的多层集成特征 指导 …" in the notes), and the
// DeepLabv3+-style decoder whose two 4× bilinear upsamplings the notes question (Chen et al.,
// "Encoder-Decoder with Atrous Separable Convolution", 2018, Fig. 2).

// ASPPConfig configures [ASPP]. torchvision's ASPP has the same branches and variable layout
// (its projection adds a dropout, left out here).
type ASPPConfig struct {
	// Out is the number of channels of every branch and of the output.
	Out int
	// Rates are the dilation rates of the 3×3 branches (DeepLabv3 uses 6, 12, 18 at output
	// stride 16; a small map needs small rates).
	Rates []int
}

// ASPP runs, in parallel on x: a 1×1 conv, one 3×3 conv per rate (dilated, padded to keep the
// size), and image pooling (global average → 1×1 conv → broadcast back); each followed by BN
// and ReLU. The branches are concatenated and projected by a 1×1 conv → BN → ReLU to Out
// channels. Variables: convs.<i>.conv/.bn (i = 0 the 1×1, then one per rate), pool.conv/.bn,
// project.conv/.bn.
func ASPP(scope *model.Scope, x *graph.Node, cfg ASPPConfig) *graph.Node {
	if cfg.Out <= 0 {
		exceptions.Panicf("nn.ASPP(%s): Out %d must be positive", scope.Scope(), cfg.Out)
	}
	convs := scope.In("convs")
	unit := func(s *model.Scope, in *graph.Node, c Conv2dConfig) *graph.Node {
		return ReLU(BatchNorm2d(s.In("bn"), Conv2d(s.In("conv"), in, c), BatchNormConfig{}))
	}
	branches := []*graph.Node{unit(convs.In("0"), x, Conv2dConfig{Out: cfg.Out, Kernel: 1})}
	for i, r := range cfg.Rates {
		if r <= 0 {
			exceptions.Panicf("nn.ASPP(%s): rate %d must be positive", scope.Scope(), r)
		}
		branches = append(branches, unit(convs.In("%d", i+1), x, Conv2dConfig{Out: cfg.Out, Kernel: 3, Padding: r, Dilation: r}))
	}
	d := x.Shape().Dimensions
	pooled := unit(scope.In("pool"), graph.Reshape(GlobalAvgPool2d(x), d[0], 1, 1, d[3]), Conv2dConfig{Out: cfg.Out, Kernel: 1})
	branches = append(branches, graph.BroadcastToDims(pooled, d[0], d[1], d[2], cfg.Out))
	return unit(scope.In("project"), graph.Concatenate(branches, 3), Conv2dConfig{Out: cfg.Out, Kernel: 1})
}

// Bilinear4xHead is the DeepLabv3+ decoder as GG-Net uses it: the deep map is upsampled 4×
// (bilinear) to the size of low, a finer encoder map, which is first reduced to lowChannels
// by a 1×1 conv → BN → ReLU ("low"); the two are concatenated and fused by a [DoubleConv] of
// width channels ("fuse"); a 1×1 conv ("head", with bias) gives classes logits, upsampled
// (bilinear) to outH×outW when that is larger still. low must be 4× the deep map's size.
func Bilinear4xHead(scope *model.Scope, deep, low *graph.Node, lowChannels, width, classes, outH, outW int) *graph.Node {
	dd, ld := deep.Shape().Dimensions, low.Shape().Dimensions
	if ld[1] != 4*dd[1] || ld[2] != 4*dd[2] {
		exceptions.Panicf("nn.Bilinear4xHead(%s): low map %d×%d is not 4× the deep map %d×%d", scope.Scope(), ld[1], ld[2], dd[1], dd[2])
	}
	lowS := scope.In("low")
	l := ReLU(BatchNorm2d(lowS.In("bn"), Conv2d(lowS.In("conv"), low, Conv2dConfig{Out: lowChannels, Kernel: 1}), BatchNormConfig{}))
	up := Resize(deep, ld[1], ld[2])
	y := DoubleConv(scope.In("fuse"), graph.Concatenate([]*graph.Node{up, l}, 3), width)
	y = Conv2d(scope.In("head"), y, Conv2dConfig{Out: classes, Kernel: 1, Bias: true})
	return Resize(y, outH, outW)
}

// GuidanceMode selects the attention weights of GG-Net's Global Guidance Blocks, for the notes'
// question whether the guidance map is needed ("不要这个引导图产生的权重行不行？").
type GuidanceMode string

const (
	// GuideBoth is the paper's softmax(W ⊙ W'): the block's own affinity times the guidance's.
	GuideBoth GuidanceMode = "both"
	// GuideSelf is softmax(W): ordinary self-attention (spatial) or the plain Gram matrix
	// (channel), no guidance.
	GuideSelf GuidanceMode = "self"
	// GuideOnly is softmax(W'): the guidance's affinity alone.
	GuideOnly GuidanceMode = "guide"
	// GuideOff leaves the two blocks out (a U-Net with BD modules).
	GuideOff GuidanceMode = "off"
)

// GuidanceModes lists the modes.
var GuidanceModes = []GuidanceMode{GuideBoth, GuideSelf, GuideOnly, GuideOff}

func (m GuidanceMode) orDefault() GuidanceMode {
	switch m {
	case "":
		return GuideBoth
	case GuideBoth, GuideSelf, GuideOnly, GuideOff:
		return m
	}
	exceptions.Panicf("nn: unknown guidance mode %q (want %v)", m, GuidanceModes)
	return m
}

// HeadKind selects GG-Net's decoder.
type HeadKind string

const (
	// HeadUNet is U-Net's decoder: 2× steps, each with the encoder's skip.
	HeadUNet HeadKind = "unet"
	// HeadBilinear4x is [Bilinear4xHead]: one 4× bilinear jump to a finer encoder map.
	HeadBilinear4x HeadKind = "bilinear4x"
)
