package nn

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// This file: ConvNeXt (Liu et al., "A ConvNet for the 2020s", 2022, Fig. 4) with timm's names
// (timm.models.convnext): the block (conv_dw, norm, mlp.fc1, mlp.fc2, gamma, shortcut.conv),
// the patchify stem (stem.0 conv, stem.1 LayerNorm), the downsampling layer between stages
// (downsample.0 LayerNorm, downsample.1 2×2 stride-2 conv) and the whole model.

// convNeXtLNEps is the LayerNorm epsilon timm's ConvNeXt uses everywhere.
const convNeXtLNEps = 1e-6

// ConvNeXtBlockConfig configures one ConvNeXt block. Zero values mean timm's defaults.
type ConvNeXtBlockConfig struct {
	Out          int     // output channels; 0 means the input's
	Kernel       int     // depthwise kernel; 0 means 7
	Stride       int     // depthwise stride; 0 means 1
	MLPRatio     float64 // hidden width of the inverted bottleneck MLP over channels; 0 means 4
	NoLayerScale bool    // drop the learned per-channel scale γ (timm: ls_init_value=None)
	LayerScale   float64 // initial γ; 0 means 1e-6, the paper's value
	DropPath     float64 // stochastic depth rate of the residual branch (training only)
}

// ConvNeXtBlock is x + γ ⊙ fc2(GELU(fc1(LN(dwconv7×7(x))))), the paper's Fig. 4 block:
// a depthwise conv (groups = channels, ResNeXt's grouping taken to the extreme) mixes space,
// then an inverted bottleneck MLP (hidden 4× wider than the ends, like a Transformer's FFN)
// mixes channels, with one LayerNorm and one GELU per block. The residual branch is scaled
// by the learned γ and dropped per sample with DropPath during training.
//
// When the block changes resolution or width, timm's shortcut is a 2×2 average pool
// (ceil mode, padding left out of the average) and a 1×1 conv "shortcut.conv"; in the
// standard model blocks keep both, and the downsampling is done between stages instead.
func ConvNeXtBlock(scope *model.Scope, x *graph.Node, cfg ConvNeXtBlockConfig) *graph.Node {
	in := channels(x)
	out := cfg.Out
	if out == 0 {
		out = in
	}
	k := cfg.Kernel
	if k == 0 {
		k = 7
	}
	stride := max(cfg.Stride, 1)
	ratio := cfg.MLPRatio
	if ratio == 0 {
		ratio = 4
	}
	g := x.Graph()

	y := Conv2d(scope.In("conv_dw"), x, Conv2dConfig{Out: out, Kernel: k, Stride: stride,
		Padding: TimmPadding(k, stride, 1), Groups: in, Bias: true})
	y = LayerNorm(scope.In("norm"), y, convNeXtLNEps)
	mlp := scope.In("mlp")
	y = Linear(mlp.In("fc1"), y, int(ratio*float64(out)), true)
	y = GELU(y)
	y = Linear(mlp.In("fc2"), y, out, true)
	if !cfg.NoLayerScale {
		init := cfg.LayerScale
		if init == 0 {
			init = 1e-6
		}
		gamma := scope.WithInitializer(constInit(init)).VariableWithShape("gamma", shapeOf(out)).NodeValue(g)
		y = graph.Mul(y, perChannel(gamma, 4))
	}
	y = DropPath(scope, y, cfg.DropPath)

	shortcut := x
	if stride > 1 {
		shortcut = avgPoolCeil(shortcut, 2, stride)
	}
	if in != out {
		shortcut = Conv2d(scope.In("shortcut").In("conv"), shortcut, Conv2dConfig{Out: out, Kernel: 1})
	}
	return graph.Add(y, shortcut)
}

// avgPoolCeil is PyTorch's AvgPool2d(k, stride, ceil_mode=True, count_include_pad=False):
// windows that hang over the bottom/right edge are kept and average only the real pixels.
func avgPoolCeil(x *graph.Node, k, stride int) *graph.Node {
	dims := x.Shape().Dimensions
	var pads [][2]int
	for _, size := range dims[1:3] {
		outSize := (size-k+stride-1)/stride + 1 // ceil((size-k)/stride) + 1
		pads = append(pads, [2]int{0, max((outSize-1)*stride+k-size, 0)})
	}
	return graph.MeanPool(x).Window(k).Strides(stride).PaddingPerDim(pads).Done()
}

// ConvNeXtStem is the "patchify" stem: a Patch×Patch conv with stride Patch (non-overlapping
// patches, as in ViT/Swin, instead of ResNet's 7×7 stride-2 conv + max-pool) followed by a
// LayerNorm; timm names them stem.0 and stem.1 (scope should be "stem").
func ConvNeXtStem(scope *model.Scope, x *graph.Node, out, patch int) *graph.Node {
	y := Conv2d(scope.In("0"), x, Conv2dConfig{Out: out, Kernel: patch, Stride: patch, Bias: true})
	return LayerNorm(scope.In("1"), y, convNeXtLNEps)
}

// ConvNeXtDownsample is the separate downsampling layer between stages: LayerNorm then a 2×2
// stride-2 conv (downsample.0, downsample.1). The paper adds the LayerNorm because training
// diverged without a norm where the resolution changes.
func ConvNeXtDownsample(scope *model.Scope, x *graph.Node, out, stride int) *graph.Node {
	y := LayerNorm(scope.In("0"), x, convNeXtLNEps)
	k := 1
	if stride > 1 {
		k = 2
	}
	return Conv2d(scope.In("1"), y, Conv2dConfig{Out: out, Kernel: k, Stride: stride, Bias: true})
}

// ConvNeXtStageConfig configures one stage: an optional downsampling layer and Depth blocks.
type ConvNeXtStageConfig struct {
	Out       int       // channels of the stage
	Depth     int       // number of blocks
	Stride    int       // stride of the downsampling layer; 0 or 1 means none unless channels change
	Kernel    int       // depthwise kernel; 0 means 7
	DropPaths []float64 // per-block drop-path rates (nil for none); see DropPathRates
	// LayerScale is the initial γ; 0 means 1.0, the value timm's ConvNeXtStage passes when
	// used standalone (the model passes 1e-6).
	LayerScale float64
}

// ConvNeXtStage is timm's ConvNeXtStage: downsample (when the stride or width changes) then
// blocks.0 … blocks.Depth-1.
func ConvNeXtStage(scope *model.Scope, x *graph.Node, cfg ConvNeXtStageConfig) *graph.Node {
	stride := max(cfg.Stride, 1)
	if stride > 1 || channels(x) != cfg.Out {
		x = ConvNeXtDownsample(scope.In("downsample"), x, cfg.Out, stride)
	}
	ls := cfg.LayerScale
	if ls == 0 {
		ls = 1
	}
	blocks := scope.In("blocks")
	for i := range cfg.Depth {
		dp := 0.0
		if i < len(cfg.DropPaths) {
			dp = cfg.DropPaths[i]
		}
		x = ConvNeXtBlock(blocks.In("%d", i), x, ConvNeXtBlockConfig{Kernel: cfg.Kernel, DropPath: dp, LayerScale: ls})
	}
	return x
}

// ConvNeXtConfig configures a whole ConvNeXt classifier (timm's ConvNeXt with the patch stem
// and the default head).
type ConvNeXtConfig struct {
	InChannels   int
	NumClasses   int
	PatchSize    int     // stem patch size (4 in the paper)
	Depths       []int   // blocks per stage (paper's ConvNeXt-T: 3, 3, 9, 3, the 1:1:3:1 ratio)
	Dims         []int   // channels per stage (ConvNeXt-T: 96, 192, 384, 768)
	Kernel       int     // depthwise kernel; 0 means 7
	DropPathRate float64 // maximum stochastic-depth rate, reached at the last block
	// Strides are the per-stage downsampling strides. Nil means timm's rule: stage 0 keeps
	// the resolution unless the stem's stride is 2 (then it halves it, so the total stride
	// before stage 1 is 4, as with the paper's patch 4), later stages halve it.
	Strides []int
}

// stageStrides returns cfg.Strides or timm's default.
func (cfg ConvNeXtConfig) stageStrides() []int {
	if cfg.Strides != nil {
		return cfg.Strides
	}
	strides := make([]int, len(cfg.Depths))
	cur := cfg.PatchSize
	for i := range strides {
		strides[i] = 1
		if cur == 2 || i > 0 {
			strides[i] = 2
		}
		cur *= strides[i]
	}
	return strides
}

// ConvNeXtTiny28 is a small ConvNeXt for 28×28 one-channel images (MNIST): patch 2 gives a
// 14×14 map, then three stages at 14, 7 and 3 (a fourth would be 1×1, too small to
// downsample), keeping the paper's heavy third stage. Its explicit strides (1, 2, 2) differ
// from timm's rule, which would halve the map again in stage 0 after a stride-2 stem.
func ConvNeXtTiny28() ConvNeXtConfig {
	return ConvNeXtConfig{InChannels: 1, NumClasses: 10, PatchSize: 2, Depths: []int{1, 1, 3}, Dims: []int{16, 32, 64},
		Strides: []int{1, 2, 2}}
}

// ConvNeXtTiny64 is a small ConvNeXt for 64×64 three-channel images: patch 4 gives 16×16,
// then stages at 16, 8, 4 and 2, with the paper's 1:1:3:1 stage ratio.
func ConvNeXtTiny64() ConvNeXtConfig {
	return ConvNeXtConfig{InChannels: 3, NumClasses: 10, PatchSize: 4, Depths: []int{1, 1, 3, 1}, Dims: []int{16, 32, 64, 128}}
}

// ConvNeXt returns the model function for cfg: stem, stages.i, then the head (global average
// pool, head.norm LayerNorm, head.fc), giving logits [B, NumClasses]; input is
// [B, H, W, InChannels].
func ConvNeXt(cfg ConvNeXtConfig) ModelFn {
	return func(scope *model.Scope, x *graph.Node) *graph.Node {
		x = ConvNeXtStem(scope.In("stem"), x, cfg.Dims[0], cfg.PatchSize)
		rates := DropPathRates(cfg.DropPathRate, cfg.Depths...)
		stages := scope.In("stages")
		strides := cfg.stageStrides()
		for i, depth := range cfg.Depths {
			x = ConvNeXtStage(stages.In("%d", i), x, ConvNeXtStageConfig{
				Out: cfg.Dims[i], Depth: depth, Stride: strides[i], Kernel: cfg.Kernel,
				DropPaths: rates[i], LayerScale: 1e-6,
			})
		}
		head := scope.In("head")
		x = LayerNorm(head.In("norm"), GlobalAvgPool2d(x), convNeXtLNEps)
		return Linear(head.In("fc"), x, cfg.NumClasses, true)
	}
}
