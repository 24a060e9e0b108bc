package hygiene

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn"
)

// The three switches of [Net]. Lesson 03 compared a ResNet with a ConvNeXt, which differ in
// all three at once (and in more); here each one can be changed alone.
const (
	// StemConv is the ResNets' stem: a 3×3 stride-2 convolution, the norm, ReLU.
	StemConv = "conv"
	// StemPatch is ConvNeXt's "patchify" stem: a 2×2 stride-2 convolution (patches do not
	// overlap), then the norm.
	StemPatch = "patch"

	// BlockBasic is ResNet's BasicBlock: ReLU(x + N(conv3×3(ReLU(N(conv3×3(x)))))).
	BlockBasic = "basic"
	// BlockConvNeXt is ConvNeXt's block (Liu et al. 2022, Fig. 4) without LayerScale:
	// x + fc2(GELU(fc1(N(dwconv k×k(x))))), fc1 four times wider than the block (the
	// inverted bottleneck), fc1 and fc2 1×1 convolutions.
	BlockConvNeXt = "convnext"

	// NormBatch is BatchNorm (statistics over the batch and the map, per channel).
	NormBatch = "batch"
	// NormLayer is LayerNorm over the channels of each position, as ConvNeXt uses it.
	NormLayer = "layer"
)

// Net is the lesson's small image classifier for 28×28 digits: a stem to 14×14, a stage of
// Blocks blocks at Width channels, a 3×3 stride-2 convolution (+ the norm) to 7×7 and 2·Width
// channels, a second stage, global average pooling, the norm (LayerNorm nets only, as
// ConvNeXt's head) and a linear classifier. Stem, block and norm are independent switches, so
// a comparison can change one of them, or — the lesson's bad example — all three at once.
type Net struct {
	Stem   string `json:"stem" help:"stem: conv (3x3 stride 2 + norm + ReLU) or patch (2x2 stride 2 + norm)"`
	Block  string `json:"block" help:"block: basic (two 3x3 convs) or convnext (depthwise kxk, norm, 1x1 4x MLP with GELU)"`
	Norm   string `json:"norm" help:"normalization: batch or layer"`
	Width  int    `json:"width" help:"channels of the first stage (the second has twice as many)"`
	Blocks int    `json:"blocks" help:"blocks per stage"`
	// Kernel is the depthwise kernel of the ConvNeXt block. ConvNeXt's 7×7 is sized for 56×56
	// maps; the lesson uses 3×3 on its 14×14 and 7×7 maps, which trains about three times
	// faster on a CPU (compiling it costs the same).
	Kernel int `json:"kernel" help:"convnext block: depthwise kernel"`
}

// Validate reports a Net that cannot be built.
func (n Net) Validate() error {
	switch {
	case n.Stem != StemConv && n.Stem != StemPatch:
		return fmt.Errorf("stem %q: want %q or %q", n.Stem, StemConv, StemPatch)
	case n.Block != BlockBasic && n.Block != BlockConvNeXt:
		return fmt.Errorf("block %q: want %q or %q", n.Block, BlockBasic, BlockConvNeXt)
	case n.Norm != NormBatch && n.Norm != NormLayer:
		return fmt.Errorf("norm %q: want %q or %q", n.Norm, NormBatch, NormLayer)
	case n.Width <= 0 || n.Blocks <= 0:
		return fmt.Errorf("width %d and blocks %d must be positive", n.Width, n.Blocks)
	case n.Block == BlockConvNeXt && (n.Kernel <= 0 || n.Kernel%2 == 0):
		return fmt.Errorf("convnext kernel %d must be odd and positive", n.Kernel)
	}
	return nil
}

// Label is "conv stem, basic block, batch norm".
func (n Net) Label() string {
	return fmt.Sprintf("%s stem, %s block, %s norm", n.Stem, n.Block, n.Norm)
}

// norm applies the Net's normalization to a [B, H, W, C] map or a [B, C] vector.
func (n Net) norm(scope *model.Scope, x *graph.Node) *graph.Node {
	if n.Norm == NormLayer {
		return nn.LayerNorm(scope, x, 1e-6)
	}
	return nn.BatchNorm2d(scope, x, nn.BatchNormConfig{})
}

// block is one residual block of the Net's kind.
func (n Net) block(scope *model.Scope, x *graph.Node) *graph.Node {
	c := x.Shape().Dimensions[3]
	if n.Block == BlockBasic {
		y := nn.Conv2d(scope.In("conv1"), x, nn.Conv2dConfig{Out: c, Kernel: 3, Padding: 1})
		y = nn.ReLU(n.norm(scope.In("bn1"), y))
		y = nn.Conv2d(scope.In("conv2"), y, nn.Conv2dConfig{Out: c, Kernel: 3, Padding: 1})
		return nn.ReLU(graph.Add(x, n.norm(scope.In("bn2"), y)))
	}
	y := nn.Conv2d(scope.In("conv_dw"), x, nn.Conv2dConfig{Out: c, Kernel: n.Kernel, Padding: n.Kernel / 2, Groups: c, Bias: true})
	y = n.norm(scope.In("norm"), y)
	mlp := scope.In("mlp")
	y = nn.GELU(nn.Conv2d(mlp.In("fc1"), y, nn.Conv2dConfig{Out: 4 * c, Kernel: 1, Bias: true}))
	y = nn.Conv2d(mlp.In("fc2"), y, nn.Conv2dConfig{Out: c, Kernel: 1, Bias: true})
	return graph.Add(x, y)
}

// Logits maps images [B, 28, 28, 1] to logits [B, 10]. It panics (GoMLX's convention while a
// graph is built) on an invalid Net.
func (n Net) Logits(scope *model.Scope, x *graph.Node) *graph.Node {
	if err := n.Validate(); err != nil {
		panic(err)
	}
	stem := scope.In("stem")
	if n.Stem == StemConv {
		x = nn.ReLU(n.norm(stem.In("norm"), nn.Conv2d(stem.In("conv"), x, nn.Conv2dConfig{Out: n.Width, Kernel: 3, Stride: 2, Padding: 1})))
	} else {
		x = n.norm(stem.In("norm"), nn.Conv2d(stem.In("conv"), x, nn.Conv2dConfig{Out: n.Width, Kernel: 2, Stride: 2, Bias: true}))
	}
	stages := scope.In("stages")
	for s := range 2 {
		stage := stages.In("%d", s)
		if s > 0 {
			down := stage.In("downsample")
			x = n.norm(down.In("norm"), nn.Conv2d(down.In("conv"), x, nn.Conv2dConfig{Out: 2 * n.Width, Kernel: 3, Stride: 2, Padding: 1}))
		}
		blocks := stage.In("blocks")
		for i := range n.Blocks {
			x = n.block(blocks.In("%d", i), x)
		}
	}
	d := x.Shape().Dimensions
	x = graph.Reshape(x, d[0], d[1]*d[2]*d[3])
	head := scope.In("head")
	if n.Norm == NormLayer {
		x = nn.LayerNorm(head.In("norm"), x, 1e-6)
	}
	return nn.Linear(head.In("fc"), x, 10, true)
}
