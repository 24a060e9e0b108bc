package nn

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// This file: ResNet's BasicBlock and Bottleneck (He et al., "Deep Residual Learning for Image
// Recognition", 2015, Fig. 5) and ResNeXt's grouped bottleneck (Xie et al., "Aggregated
// Residual Transformations for Deep Neural Networks", 2017, Fig. 3), with timm's module names
// (timm.models.resnet): conv1/bn1, conv2/bn2, conv3/bn3, downsample.0 (1×1 conv) and
// downsample.1 (BN).

// BasicBlockConfig configures ResNet's two-3×3 residual block.
type BasicBlockConfig struct {
	Planes int // output channels
	Stride int // stride of the first 3×3 (and of the projection shortcut); 0 means 1
	// PreAct builds He et al.'s 2016 pre-activation block (BN and ReLU before each conv, nothing
	// after the addition); NoShortcut leaves the shortcut out (a plain, VGG-style pair of
	// convs). See BasicBlockParts.
	PreAct, NoShortcut bool
}

// BasicBlock is y = ReLU(BN(conv3×3(ReLU(BN(conv3×3_stride(x))))) + shortcut(x)), where the
// shortcut is the identity, or a 1×1 stride-s conv + BN when the stride or channel count
// changes ("projection shortcut", option B of the paper).
func BasicBlock(scope *model.Scope, x *graph.Node, cfg BasicBlockConfig) *graph.Node {
	if cfg.PreAct || cfg.NoShortcut {
		return basicBlockVariant(scope, x, cfg)
	}
	stride := max(cfg.Stride, 1)
	shortcut := resNetShortcut(scope, x, cfg.Planes, stride)
	y := Conv2d(scope.In("conv1"), x, Conv2dConfig{Out: cfg.Planes, Kernel: 3, Stride: stride, Padding: 1})
	y = ReLU(BatchNorm2d(scope.In("bn1"), y, BatchNormConfig{}))
	y = Conv2d(scope.In("conv2"), y, Conv2dConfig{Out: cfg.Planes, Kernel: 3, Padding: 1})
	y = BatchNorm2d(scope.In("bn2"), y, BatchNormConfig{})
	return ReLU(graph.Add(y, shortcut))
}

// resNetShortcut returns x, or the projection downsample.0 (1×1 conv, stride) +
// downsample.1 (BN) when the block changes the resolution or the channel count. The 1×1
// conv with stride 2 samples every other pixel: the notes' "skip connection 1×1, stride 2".
func resNetShortcut(scope *model.Scope, x *graph.Node, out, stride int) *graph.Node {
	if stride == 1 && channels(x) == out {
		return x
	}
	ds := scope.In("downsample")
	s := Conv2d(ds.In("0"), x, Conv2dConfig{Out: out, Kernel: 1, Stride: stride})
	return BatchNorm2d(ds.In("1"), s, BatchNormConfig{})
}

// BottleneckConfig configures ResNet's bottleneck block and ResNeXt's grouped version.
type BottleneckConfig struct {
	Planes      int // output channels are 4·Planes (the expansion)
	Stride      int // stride of the 3×3 and of the projection; 0 means 1
	Cardinality int // number of groups (paths) of the 3×3; 0 or 1 is plain ResNet
	BaseWidth   int // width per group at Planes=64; 0 means 64 (plain ResNet)
}

// BottleneckExpansion is the ratio of a bottleneck's output channels to its Planes.
const BottleneckExpansion = 4

func (c BottleneckConfig) withDefaults() BottleneckConfig {
	c.Stride = max(c.Stride, 1)
	c.Cardinality = max(c.Cardinality, 1)
	if c.BaseWidth == 0 {
		c.BaseWidth = 64
	}
	return c
}

// Width is the channel count of the narrow middle of the bottleneck:
// ⌊Planes·BaseWidth/64⌋·Cardinality, as in timm (ResNeXt-50 32×4d at Planes 64: 4·32 = 128).
func (c BottleneckConfig) Width() int {
	c = c.withDefaults()
	return int(math.Floor(float64(c.Planes)*float64(c.BaseWidth)/64)) * c.Cardinality
}

// Bottleneck is 1×1 reduce → 3×3 (stride, Cardinality groups) → 1×1 expand to 4·Planes, each
// followed by BN (and ReLU, except the last, which is added to the shortcut first). "Two ends
// wide, middle narrow": the 3×3 runs on Width channels, which cuts its cost. With
// Cardinality > 1 the 3×3 is a grouped convolution, which is ResNeXt's block (Fig. 3c); see
// ResNeXtBranches for the equivalent multi-branch forms (Fig. 3a, 3b).
func Bottleneck(scope *model.Scope, x *graph.Node, cfg BottleneckConfig) *graph.Node {
	cfg = cfg.withDefaults()
	width, out := cfg.Width(), cfg.Planes*BottleneckExpansion
	shortcut := resNetShortcut(scope, x, out, cfg.Stride)
	y := Conv2d(scope.In("conv1"), x, Conv2dConfig{Out: width, Kernel: 1})
	y = ReLU(BatchNorm2d(scope.In("bn1"), y, BatchNormConfig{}))
	y = Conv2d(scope.In("conv2"), y, Conv2dConfig{Out: width, Kernel: 3, Stride: cfg.Stride, Padding: 1, Groups: cfg.Cardinality})
	y = ReLU(BatchNorm2d(scope.In("bn2"), y, BatchNormConfig{}))
	y = Conv2d(scope.In("conv3"), y, Conv2dConfig{Out: out, Kernel: 1})
	y = BatchNorm2d(scope.In("bn3"), y, BatchNormConfig{})
	return ReLU(graph.Add(y, shortcut))
}

// ResNeXtForm selects one of the equivalent ResNeXt block forms of the paper's Fig. 3.
type ResNeXtForm int

const (
	// ResNeXtSumOfPaths is Fig. 3a: Cardinality paths, each 1×1 → 3×3 → 1×1 to the full
	// output width, summed.
	ResNeXtSumOfPaths ResNeXtForm = iota
	// ResNeXtConcat is Fig. 3b (the notes' variant 1): each path does only the first two
	// layers, the paths are concatenated along channels, and one 1×1 conv follows.
	ResNeXtConcat
	// ResNeXtGrouped is Fig. 3c (the notes' variant 2): the paths become one grouped 3×3
	// convolution; it is exactly Bottleneck.
	ResNeXtGrouped
)

// String names the form as the paper's figure does.
func (f ResNeXtForm) String() string {
	switch f {
	case ResNeXtSumOfPaths:
		return "fig3a-sum-of-paths"
	case ResNeXtConcat:
		return "fig3b-concat"
	case ResNeXtGrouped:
		return "fig3c-grouped"
	}
	return fmt.Sprintf("ResNeXtForm(%d)", int(f))
}

// bnParams reads (creating if needed) a BatchNorm2d's four vectors under scope, with the same
// names and initial values as BatchNorm2d.
type bnParams struct{ gamma, beta, mean, variance *graph.Node }

func getBN(scope *model.Scope, g *graph.Graph, c int) bnParams {
	vs := []int{c}
	get := func(name string, init float64, trainable bool) *graph.Node {
		v := scope.WithInitializer(constInit(init)).VariableWithShape(name, shapeOf(vs...))
		if !trainable {
			v.SetTrainable(false)
		}
		return v.NodeValue(g)
	}
	return bnParams{get("weight", 1, true), get("bias", 0, true), get("running_mean", 0, false), get("running_var", 1, false)}
}

// applySlice normalizes x, which holds channels [lo, hi) of the BN's input, with those
// channels' parameters. In training mode it uses x's batch statistics (exact, since BN is per
// channel) but, unlike BatchNorm2d, does not update the running statistics.
func (p bnParams) applySlice(scope *model.Scope, x *graph.Node, lo, hi int) *graph.Node {
	sl := func(v *graph.Node) *graph.Node { return graph.Slice(v, graph.AxisRange(lo, hi)) }
	mean, variance := sl(p.mean), sl(p.variance)
	if scope.IsTraining(x.Graph()) {
		axes := []int{0, 1, 2}
		mean = graph.ReduceMean(x, axes...)
		variance = graph.ReduceMean(graph.Square(graph.Sub(x, perChannel(mean, 4))), axes...)
	}
	return BatchNormApply(x, sl(p.gamma), sl(p.beta), mean, variance, 1e-5)
}

// ResNeXtBranches computes the ResNeXt bottleneck in the chosen form of Fig. 3, reading the
// very same variables as Bottleneck (conv1, conv2 grouped, conv3 and their BNs), sliced per
// path. All three forms give the same output — that is the paper's point, and the test
// asserts it numerically. Path i owns channels [i·d, (i+1)·d) of the middle, d =
// Width/Cardinality; its 1×1 reduce is rows i·d..(i+1)·d of conv1, its 3×3 is group i of
// conv2, and in Fig. 3a its 1×1 expand is the matching input columns of conv3.
func ResNeXtBranches(scope *model.Scope, x *graph.Node, cfg BottleneckConfig, form ResNeXtForm) *graph.Node {
	if form == ResNeXtGrouped {
		return Bottleneck(scope, x, cfg)
	}
	cfg = cfg.withDefaults()
	g := x.Graph()
	in, width, out, card := channels(x), cfg.Width(), cfg.Planes*BottleneckExpansion, cfg.Cardinality
	d := width / card
	shortcut := resNetShortcut(scope, x, out, cfg.Stride)
	w1 := convWeight(scope.In("conv1"), g, width, in, 1)
	w2 := convWeight(scope.In("conv2"), g, width, d, 3)
	w3 := convWeight(scope.In("conv3"), g, out, width, 1)
	bn1, bn2, bn3 := getBN(scope.In("bn1"), g, width), getBN(scope.In("bn2"), g, width), getBN(scope.In("bn3"), g, out)

	var sum *graph.Node
	var mids []*graph.Node
	for i := range card {
		lo, hi := i*d, (i+1)*d
		rows := func(w *graph.Node) *graph.Node { return graph.Slice(w, graph.AxisRange(lo, hi)) }
		p := Conv2dApply(x, rows(w1), nil, Conv2dConfig{})
		p = ReLU(bn1.applySlice(scope, p, lo, hi))
		p = Conv2dApply(p, rows(w2), nil, Conv2dConfig{Stride: cfg.Stride, Padding: 1})
		p = ReLU(bn2.applySlice(scope, p, lo, hi))
		if form == ResNeXtConcat {
			mids = append(mids, p)
			continue
		}
		// Fig. 3a: this path's own 1×1 expand, conv3's input columns [lo, hi).
		e := Conv2dApply(p, graph.Slice(w3, graph.AxisRange(), graph.AxisRange(lo, hi)), nil, Conv2dConfig{})
		if sum == nil {
			sum = e
		} else {
			sum = graph.Add(sum, e)
		}
	}
	if form == ResNeXtConcat {
		sum = Conv2dApply(graph.Concatenate(mids, 3), w3, nil, Conv2dConfig{})
	} else if form != ResNeXtSumOfPaths {
		exceptions.Panicf("nn.ResNeXtBranches: unknown form %d", int(form))
	}
	y := bn3.applySlice(scope, sum, 0, out)
	return ReLU(graph.Add(y, shortcut))
}

// convWeight reads (creating if needed) a bias-free conv "weight" [out, inPerGroup, k, k] with
// Conv2d's initializer.
func convWeight(scope *model.Scope, g *graph.Graph, out, inPerGroup, k int) *graph.Node {
	return scope.WithInitializer(heNormal(scope, inPerGroup*k*k)).
		VariableWithShape("weight", shapeOf(out, inPerGroup, k, k)).NodeValue(g)
}
