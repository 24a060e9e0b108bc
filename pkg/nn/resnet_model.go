package nn

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// ResNetConfig configures a small ResNet / ResNeXt classifier with timm's module names:
// conv1, bn1, layer1 … layerN (blocks "0", "1", …), fc. The stem is a 3×3 conv (stride
// StemStride) instead of ImageNet's 7×7 stride-2 conv + max-pool, which would shrink a 28×28
// image to 7×7 before the first block; the pure-Go backend also lacks max-pool's gradient.
type ResNetConfig struct {
	InChannels int
	NumClasses int
	StemWidth  int
	StemStride int   // 0 means 1
	Bottleneck bool  // Bottleneck blocks (output 4·planes) instead of BasicBlocks
	Layers     []int // blocks per stage
	Planes     []int // planes per stage; stages after the first start with stride 2
	// Cardinality and BaseWidth make bottleneck stages ResNeXt's (grouped 3×3 of
	// ⌊planes·BaseWidth/64⌋·Cardinality channels); zero values mean plain ResNet.
	Cardinality int
	BaseWidth   int
	// PreAct and NoShortcut build every BasicBlock as a pre-activation block (with a final
	// BN + ReLU, "norm", after the last stage) or without shortcuts (BasicBlockConfig);
	// BasicBlocks only.
	PreAct, NoShortcut bool
	// BaseWidths, when set, gives each stage its own base width (overriding BaseWidth). timm
	// has one base_width for all stages; per-stage widths let an ablation match a plain
	// bottleneck's parameters stage by stage (lessons/bottleneck). Variable names and shapes
	// stay timm's.
	BaseWidths []int
}

// ResNetTiny28 is a ResNet for 28×28 one-channel images (MNIST): BasicBlocks [2, 2, 2] at 16,
// 32, 64 channels on 28, 14 and 7 pixel maps.
func ResNetTiny28() ResNetConfig {
	return ResNetConfig{InChannels: 1, NumClasses: 10, StemWidth: 16, Layers: []int{2, 2, 2}, Planes: []int{16, 32, 64}}
}

// ResNetTiny64 is a ResNet for 64×64 three-channel images: a stride-2 stem to 32×32, then
// BasicBlocks [2, 2, 2, 2] at 16…128 channels on 32, 16, 8 and 4 pixel maps.
func ResNetTiny64() ResNetConfig {
	return ResNetConfig{InChannels: 3, NumClasses: 10, StemWidth: 16, StemStride: 2, Layers: []int{2, 2, 2, 2},
		Planes: []int{16, 32, 64, 128}}
}

// ResNeXtTiny28 is a ResNeXt for 28×28 one-channel images: bottlenecks [1, 1, 1] with planes
// 16, 32, 64 (outputs 64, 128, 256), cardinality 4 and base width 16, so the grouped middle
// is as wide as a plain ResNet bottleneck's (⌊16·16/64⌋·4 = 16) and costs a quarter of it;
// see BottleneckConfig.Width for other settings.
func ResNeXtTiny28() ResNetConfig {
	return ResNetConfig{InChannels: 1, NumClasses: 10, StemWidth: 16, Bottleneck: true, Layers: []int{1, 1, 1},
		Planes: []int{16, 32, 64}, Cardinality: 4, BaseWidth: 16}
}

// ResNeXtTiny64 is ResNeXtTiny28's block layout for 64×64 three-channel images (stride-2
// stem, four stages).
func ResNeXtTiny64() ResNetConfig {
	return ResNetConfig{InChannels: 3, NumClasses: 10, StemWidth: 16, StemStride: 2, Bottleneck: true,
		Layers: []int{1, 1, 1, 1}, Planes: []int{16, 32, 64, 128}, Cardinality: 4, BaseWidth: 16}
}

// ResNetFeatures returns a function computing the feature maps after the stem and after each
// stage (for plots and for the ensemble lesson), with the same variables as ResNet(cfg).
func ResNetFeatures(cfg ResNetConfig) func(scope *model.Scope, x *graph.Node) []*graph.Node {
	return func(scope *model.Scope, x *graph.Node) []*graph.Node {
		if cfg.Bottleneck && (cfg.PreAct || cfg.NoShortcut) {
			exceptions.Panicf("nn.ResNet: PreAct and NoShortcut are BasicBlock switches, not Bottleneck's")
		}
		x = Conv2d(scope.In("conv1"), x, Conv2dConfig{Out: cfg.StemWidth, Kernel: 3, Stride: max(cfg.StemStride, 1), Padding: 1})
		x = ReLU(BatchNorm2d(scope.In("bn1"), x, BatchNormConfig{}))
		feats := []*graph.Node{x}
		for s, n := range cfg.Layers {
			layer := scope.In("layer%d", s+1)
			for i := range n {
				stride := 1
				if i == 0 && s > 0 {
					stride = 2
				}
				blk := layer.In("%d", i)
				if cfg.Bottleneck {
					baseWidth := cfg.BaseWidth
					if s < len(cfg.BaseWidths) {
						baseWidth = cfg.BaseWidths[s]
					}
					x = Bottleneck(blk, x, BottleneckConfig{Planes: cfg.Planes[s], Stride: stride,
						Cardinality: cfg.Cardinality, BaseWidth: baseWidth})
				} else {
					x = BasicBlock(blk, x, BasicBlockConfig{Planes: cfg.Planes[s], Stride: stride, PreAct: cfg.PreAct, NoShortcut: cfg.NoShortcut})
				}
			}
			if cfg.PreAct && s == len(cfg.Layers)-1 {
				x = PreActFinalNorm(scope, x)
			}
			feats = append(feats, x)
		}
		return feats
	}
}

// ResNet returns the classifier for cfg: input [B, H, W, InChannels], logits [B, NumClasses]
// from global average pooling and fc.
func ResNet(cfg ResNetConfig) ModelFn {
	features := ResNetFeatures(cfg)
	return func(scope *model.Scope, x *graph.Node) *graph.Node {
		feats := features(scope, x)
		return Linear(scope.In("fc"), GlobalAvgPool2d(feats[len(feats)-1]), cfg.NumClasses, true)
	}
}
