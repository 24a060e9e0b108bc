package nn

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// This file: DenseNet's block (Huang et al. 2017, "Densely Connected Convolutional Networks",
// Fig. 2 and Sec. 3, DenseNet-B/C) with timm's names (timm.models.densenet): every layer's
// output is concatenated to everything before it, where ResNet adds.

// DenseBlockConfig configures a dense block.
type DenseBlockConfig struct {
	Layers int // dense layers in the block
	Growth int // k: channels each layer adds
	BNSize int // bottleneck width of a layer's 1×1 conv, in multiples of Growth; 0 means 4
}

// DenseLayer is one DenseNet-B layer on the concatenation x of everything before it:
// BN ("norm1") → ReLU → 1×1 conv to BNSize·k ("conv1") → BN ("norm2") → ReLU → 3×3 conv to k
// ("conv2"). It returns only its k new channels.
func DenseLayer(scope *model.Scope, x *graph.Node, growth, bnSize int) *graph.Node {
	if bnSize == 0 {
		bnSize = 4
	}
	y := ReLU(BatchNorm2d(scope.In("norm1"), x, BatchNormConfig{}))
	y = Conv2d(scope.In("conv1"), y, Conv2dConfig{Out: bnSize * growth, Kernel: 1})
	y = ReLU(BatchNorm2d(scope.In("norm2"), y, BatchNormConfig{}))
	return Conv2d(scope.In("conv2"), y, Conv2dConfig{Out: growth, Kernel: 3, Padding: 1})
}

// DenseBlock runs cfg.Layers dense layers ("denselayer1", …), each on the concatenation of the
// block's input and every earlier layer's output, and returns that concatenation: C + Layers·k
// channels whose first C are the input, unchanged — nothing a later layer computes overwrites
// an earlier feature, unlike a residual block's sum.
func DenseBlock(scope *model.Scope, x *graph.Node, cfg DenseBlockConfig) *graph.Node {
	for i := range cfg.Layers {
		y := DenseLayer(scope.In("denselayer%d", i+1), x, cfg.Growth, cfg.BNSize)
		x = graph.Concatenate([]*graph.Node{x, y}, 3)
	}
	return x
}

// DenseTransition is the layer between dense blocks: BN ("norm") → ReLU → 1×1 conv to out
// channels ("conv", DenseNet-C's compression) → 2×2 average pooling, stride 2 (floor, as timm).
func DenseTransition(scope *model.Scope, x *graph.Node, out int) *graph.Node {
	y := ReLU(BatchNorm2d(scope.In("norm"), x, BatchNormConfig{}))
	y = Conv2d(scope.In("conv"), y, Conv2dConfig{Out: out, Kernel: 1})
	return AvgPool2d(y, 2, 2, 0, false)
}
