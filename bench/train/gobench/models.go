package main

import (
	"sort"
	"strings"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn"
)

// benchModel is one model of the benchmark; torch_bench.py defines the same names with
// the same layers, so each row compares like with like.
type benchModel struct {
	// Height, Width and Channels of the input images (NHWC), and the number of classes.
	H, W, C, Classes int
	// CPUBatch and GPUBatch are the default batch sizes on each kind of device.
	CPUBatch, GPUBatch int
	// Fn builds the logits.
	Fn nn.ModelFn
	// About says what the model is, for the results table.
	About string
}

// models lists every model the benchmark knows, by the name both sides use.
var models = map[string]benchModel{
	"cnn": {H: 28, W: 28, C: 1, Classes: 10, CPUBatch: 128, GPUBatch: 256, Fn: smallCNN(false),
		About: "conv32-maxpool-conv64-maxpool-dense10, 28×28×1"},
	"cnn-reducemax": {H: 28, W: 28, C: 1, Classes: 10, CPUBatch: 128, GPUBatch: 256, Fn: smallCNNReduceMax(),
		About: "the small CNN with each 2×2 max-pool written as reshape + ReduceMax (same function, same numbers)"},
	"cnn-strided": {H: 28, W: 28, C: 1, Classes: 10, CPUBatch: 128, GPUBatch: 256, Fn: smallCNN(true),
		About: "the small CNN with stride-2 convolutions instead of max-pooling (runs on the go backend)"},
	"resnext28": {H: 28, W: 28, C: 1, Classes: 10, CPUBatch: 128, GPUBatch: 256, Fn: nn.ResNet(nn.ResNeXtTiny28()),
		About: "nn.ResNeXtTiny28: 3×3 stem 16, bottlenecks [1,1,1] planes 16/32/64, cardinality 4, base width 16"},
	"swin28": {H: 28, W: 28, C: 1, Classes: 10, CPUBatch: 128, GPUBatch: 256, Fn: nn.Swin(nn.SwinTiny28()),
		About: "nn.SwinTiny28: 2×2 patches, C=32, depths [2,2], heads [2,4], M=7"},
	"resnet50": {H: 224, W: 224, C: 3, Classes: 1000, CPUBatch: 8, GPUBatch: 128, Fn: resNet50(),
		About: "ResNet-50 (timm resnet50 layout) from nn.Bottleneck, 224×224×3"},
	"swin-t": {H: 224, W: 224, C: 3, Classes: 1000, CPUBatch: 8, GPUBatch: 128, Fn: nn.Swin(nn.SwinTiny224()),
		About: "Swin-T (timm swin_tiny_patch4_window7_224) from nn.Swin, 224×224×3"},
}

// modelNames lists the registered names, sorted, for help messages.
func modelNames() string {
	names := make([]string, 0, len(models))
	for n := range models {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// smallCNN is the lessons' MNIST CNN written with GoMLX's own layers:
// conv3×3(32, same) → ReLU → maxpool 2 → conv3×3(64, same) → ReLU → maxpool 2 → dense 10.
// With strided the two max-pools become stride-2 convolutions, a formulation the pure-Go
// backend can train (it has no max-pool gradient).
func smallCNN(strided bool) nn.ModelFn {
	return func(scope *model.Scope, x *graph.Node) *graph.Node {
		stride := 1
		if strided {
			stride = 2
		}
		for i, filters := range []int{32, 64} {
			x = layers.Convolution(scope.In("conv%d", i+1), x).
				Filters(filters).KernelSize(3).PadSame().Strides(stride).Done()
			x = activation.Relu(x)
			if !strided {
				x = graph.MaxPool(x).Window(2).Done()
			}
		}
		x = graph.Reshape(x, x.Shape().Dimensions[0], -1)
		return layers.DenseWithBias(scope.In("fc"), x, 10)
	}
}

// resNet50 assembles ResNet-50 as timm's resnet50 does (He et al. 2015, Table 1, 50-layer
// column): a 7×7/2 stem conv + BN + ReLU + 3×3/2 max-pool, four stages of [3, 4, 6, 3]
// bottlenecks of widths 64·2^i (the first of stages 2–4 with stride 2), global average
// pooling and a linear classifier.
func resNet50() nn.ModelFn {
	return func(scope *model.Scope, x *graph.Node) *graph.Node {
		x = nn.Conv2d(scope.In("conv1"), x, nn.Conv2dConfig{Out: 64, Kernel: 7, Stride: 2, Padding: 3})
		x = nn.ReLU(nn.BatchNorm2d(scope.In("bn1"), x, nn.BatchNormConfig{}))
		x = nn.MaxPool2d(x, 3, 2, 1)
		for i, depth := range []int{3, 4, 6, 3} {
			stage := scope.In("layer%d", i+1)
			for j := range depth {
				stride := 1
				if j == 0 && i > 0 {
					stride = 2
				}
				x = nn.Bottleneck(stage.In("%d", j), x, nn.BottleneckConfig{Planes: 64 << i, Stride: stride})
			}
		}
		x = nn.GlobalAvgPool2d(x)
		return nn.Linear(scope.In("fc"), x, 1000, true)
	}
}

// smallCNNReduceMax is smallCNN(false) with each 2×2/2 max-pool computed as a reshape to
// [B, H/2, 2, W/2, 2, C] and a ReduceMax over the two window axes: the same function (the
// training losses agree to the last bit), but its gradient is a mask multiplication instead
// of SelectAndScatterMax, which XLA CPU runs slowly and the pure-Go backend lacks. This is
// only valid for non-overlapping windows that tile the image exactly.
func smallCNNReduceMax() nn.ModelFn {
	return func(scope *model.Scope, x *graph.Node) *graph.Node {
		for i, filters := range []int{32, 64} {
			x = layers.Convolution(scope.In("conv%d", i+1), x).
				Filters(filters).KernelSize(3).PadSame().Done()
			x = activation.Relu(x)
			d := x.Shape().Dimensions
			x = graph.ReduceMax(graph.Reshape(x, d[0], d[1]/2, 2, d[2]/2, 2, d[3]), 2, 4)
		}
		x = graph.Reshape(x, x.Shape().Dimensions[0], -1)
		return layers.DenseWithBias(scope.In("fc"), x, 10)
	}
}
