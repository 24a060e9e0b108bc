package nn

import (
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// This file: the BasicBlock variants of the residual-network papers that study what the
// shortcut does — He et al. 2016, "Identity Mappings in Deep Residual Networks" (pre-activation,
// Fig. 4e) and the plain (no-shortcut) networks of He et al. 2015 and Veit et al. 2016,
// "Residual Networks Behave Like Ensembles of Relatively Shallow Networks" — and the block's
// parts, so that a lesson can delete a block at test time by keeping only its shortcut.

// BasicBlockParts computes a BasicBlock's two summands without adding them: the residual
// branch and the shortcut (nil with cfg.NoShortcut). The block is their sum, followed by a ReLU
// in the original (post-activation) block and by nothing in the pre-activation one.
//
// Post-activation (2015): residual = BN(conv3×3(ReLU(BN(conv3×3_s(x))))), shortcut = x or the
// projection downsample.0/1 (1×1 stride-s conv + BN).
//
// Pre-activation (2016, timm's PreActBasic): p = ReLU(bn1(x)); residual =
// conv2(ReLU(bn2(conv1_s(p)))); shortcut = x, or downsample.0 (a 1×1 stride-s conv, no BN)
// applied to p. Nothing follows the addition, so the identity path from block to block is clean:
// x_L = x_l + Σ residuals.
func BasicBlockParts(scope *model.Scope, x *graph.Node, cfg BasicBlockConfig) (residual, shortcut *graph.Node) {
	stride := max(cfg.Stride, 1)
	conv1 := Conv2dConfig{Out: cfg.Planes, Kernel: 3, Stride: stride, Padding: 1}
	conv2 := Conv2dConfig{Out: cfg.Planes, Kernel: 3, Padding: 1}
	if !cfg.PreAct {
		if !cfg.NoShortcut {
			shortcut = resNetShortcut(scope, x, cfg.Planes, stride)
		}
		y := Conv2d(scope.In("conv1"), x, conv1)
		y = ReLU(BatchNorm2d(scope.In("bn1"), y, BatchNormConfig{}))
		y = Conv2d(scope.In("conv2"), y, conv2)
		return BatchNorm2d(scope.In("bn2"), y, BatchNormConfig{}), shortcut
	}
	p := ReLU(BatchNorm2d(scope.In("bn1"), x, BatchNormConfig{}))
	if !cfg.NoShortcut {
		shortcut = x
		if stride != 1 || channels(x) != cfg.Planes {
			shortcut = Conv2d(scope.In("downsample").In("0"), p, Conv2dConfig{Out: cfg.Planes, Kernel: 1, Stride: stride})
		}
	}
	y := Conv2d(scope.In("conv1"), p, conv1)
	y = ReLU(BatchNorm2d(scope.In("bn2"), y, BatchNormConfig{}))
	return Conv2d(scope.In("conv2"), y, conv2), shortcut
}

// basicBlockVariant is BasicBlock for the pre-activation and no-shortcut switches.
func basicBlockVariant(scope *model.Scope, x *graph.Node, cfg BasicBlockConfig) *graph.Node {
	y, shortcut := BasicBlockParts(scope, x, cfg)
	if shortcut != nil {
		y = graph.Add(y, shortcut)
	}
	if cfg.PreAct {
		return y
	}
	return ReLU(y)
}

// PreActFinalNorm is the BN + ReLU ("norm") a pre-activation network applies after its last
// block: its blocks end in an addition, so the features are not yet normalised or rectified.
func PreActFinalNorm(scope *model.Scope, x *graph.Node) *graph.Node {
	return ReLU(BatchNorm2d(scope.In("norm"), x, BatchNormConfig{}))
}

// ShortcutOptionA is the parameter-free shortcut of He et al. 2015 ("option A"): x subsampled
// with the stride (every other pixel, starting at the first, so an odd side rounds up as a
// padded stride-2 conv does) and zero-padded to out channels. It is the only way to keep a
// downsampling block's shape while learning nothing, which is what deleting that block from a
// network without shortcuts needs.
func ShortcutOptionA(x *graph.Node, out, stride int) *graph.Node {
	if stride > 1 {
		x = graph.Slice(x, graph.AxisRange(), graph.AxisRange().Stride(stride), graph.AxisRange().Stride(stride), graph.AxisRange())
	}
	if c := channels(x); c < out {
		d := x.Shape().Dimensions
		zeros := graph.Zeros(x.Graph(), shapes.Make(x.DType(), d[0], d[1], d[2], out-c))
		x = graph.Concatenate([]*graph.Node{x, zeros}, 3)
	}
	return x
}
