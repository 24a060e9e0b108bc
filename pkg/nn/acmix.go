package nn

import (
	"math"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// This file: ACmix (Pan et al., "On the Integration of Self-Attention and Convolution",
// CVPR 2022). Variable names follow the authors' code: conv1/conv2/conv3 (the shared 1×1
// q/k/v projections), conv_p (position encoding), fc (the light fully connected layer that
// turns 3·heads feature maps into k² shifted maps), dep_conv (the group conv that performs
// the shifts) and rate1/rate2 (α, β).

// ConvAsShifted1x1 computes a k×k convolution (stride 1, zero padding p, groups 1) of x
// [B, H, W, Cin] with weight [Out, Cin, k, k] as a sum of k² 1×1 convolutions, one per kernel
// position (i, j), each applied to x shifted by (i−p, j−p) — the paper's Eq. 2–4: "a k×k
// conv = k² 1×1 convs + shifts + sum". The shifts are slices of the zero-padded input.
func ConvAsShifted1x1(x, weight *graph.Node, padding int) *graph.Node {
	dims := x.Shape().Dimensions
	wd := weight.Shape().Dimensions
	k := wd[2]
	if wd[1] != dims[3] || wd[3] != k {
		exceptions.Panicf("nn.ConvAsShifted1x1: weight %s does not fit x %s (groups must be 1)", weight.Shape(), x.Shape())
	}
	xp := PadHW(x, 0, padding, padding, padding, padding)
	ho, wo := dims[1]+2*padding-k+1, dims[2]+2*padding-k+1
	var sum *graph.Node
	for i := range k {
		for j := range k {
			// 1×1 conv with the kernel's (i, j) tap, then shift by reading a window of the
			// padded input: y_ij[h, w] = W[:, :, i, j] · x[h+i−p, w+j−p].
			tap := graph.Slice(weight, graph.AxisRange(), graph.AxisRange(), graph.AxisElem(i), graph.AxisElem(j)) // [Out, Cin, 1, 1]
			shifted := graph.Slice(xp, graph.AxisRange(), graph.AxisRange(i, i+ho), graph.AxisRange(j, j+wo), graph.AxisRange())
			y := Conv2dApply(shifted, tap, nil, Conv2dConfig{})
			if sum == nil {
				sum = y
			} else {
				sum = graph.Add(sum, y)
			}
		}
	}
	return sum
}

// ACmixConfig configures an ACmix module. Zero values mean the paper's defaults.
type ACmixConfig struct {
	Out        int // output channels (also the width of q, k, v); must divide by Heads
	Heads      int // attention heads N; 0 means 4
	KernelAtt  int // attention window (odd); 0 means 7
	KernelConv int // convolution kernel of the conv path (odd); 0 means 3
	// Paths keeps both paths ("" or ACmixBoth), only the attention path (ACmixAttentionOnly,
	// output rate1·attention) or only the conv path (ACmixConvOnly, rate2·conv); a path left out
	// creates no variables.
	Paths string
	// FigureFC builds the conv path as the paper's Fig. 2 draws it rather than as the authors'
	// code does: the light fully connected layer maps the 3N head maps to k² maps per head (k²·N
	// maps, fc weight [k²N, 3N] instead of [k², 3N]) and each output channel's group conv reads
	// its own head's k² maps (groups = Out). The code shares k² maps across the heads.
	FigureFC bool
}

// ACmix path selections (ACmixConfig.Paths).
const (
	ACmixBoth          = "both"
	ACmixAttentionOnly = "attention"
	ACmixConvOnly      = "conv"
)

func (c ACmixConfig) withDefaults() ACmixConfig {
	if c.Heads == 0 {
		c.Heads = 4
	}
	if c.KernelAtt == 0 {
		c.KernelAtt = 7
	}
	if c.KernelConv == 0 {
		c.KernelConv = 3
	}
	return c
}

// ACmixOutputs holds the two paths of ACmix before mixing, for lessons that plot them.
type ACmixOutputs struct {
	Attention, Conv *graph.Node // [B, H, W, Out] each
	Alpha, Beta     *graph.Node // the learned scalars (rate1, rate2)
}

// ACmix is α·attention + β·conv over shared projections (stride 1):
//
// Stage I: three 1×1 convs give q, k, v [B, H, W, Out], split into N heads of d = Out/N
// channels; both paths reuse them, which is where ACmix saves work.
//
// Attention path: for each pixel i and each position j of its KernelAtt² window (reflection
// padded, as the authors do), the logit is q_i·(k_j + p_i − p_j)/√d, where p = conv_p(coords)
// is a learned encoding of the pixel's (x, y) ∈ [−1, 1]²; a softmax over the window weighs the
// v_j.
//
// Conv path: the light layer fc maps the 3N feature maps (q, k, v of every head, at each of
// the d channel positions) to k² maps, and dep_conv — a group conv with d groups, initialized
// as pure shifts — shifts and sums them: the k×k convolution rebuilt from 1×1 convs plus
// shifts, with learnable shifts.
//
// The output is rate1·attention + rate2·conv (both start at 0.5).
func ACmix(scope *model.Scope, x *graph.Node, cfg ACmixConfig) *graph.Node {
	o := ACmixPaths(scope, x, cfg)
	switch {
	case o.Conv == nil:
		return graph.Mul(o.Alpha, o.Attention)
	case o.Attention == nil:
		return graph.Mul(o.Beta, o.Conv)
	}
	return graph.Add(graph.Mul(o.Alpha, o.Attention), graph.Mul(o.Beta, o.Conv))
}

// ACmixPaths computes ACmix's two paths and mixing weights without mixing them. A path left out
// by cfg.Paths is nil, with its rate.
func ACmixPaths(scope *model.Scope, x *graph.Node, cfg ACmixConfig) ACmixOutputs {
	cfg = cfg.withDefaults()
	if cfg.Paths != "" && cfg.Paths != ACmixBoth && cfg.Paths != ACmixAttentionOnly && cfg.Paths != ACmixConvOnly {
		exceptions.Panicf("nn.ACmix(%s): Paths %q: want %q, %q or %q", scope.Scope(), cfg.Paths, ACmixBoth, ACmixAttentionOnly, ACmixConvOnly)
	}
	withAtt, withConv := cfg.Paths != ACmixConvOnly, cfg.Paths != ACmixAttentionOnly
	g := x.Graph()
	dims := x.Shape().Dimensions
	h, w := dims[1], dims[2]
	c, n := cfg.Out, cfg.Heads
	if c%n != 0 {
		exceptions.Panicf("nn.ACmix(%s): Out=%d not divisible by Heads=%d", scope.Scope(), c, n)
	}
	pad := cfg.KernelAtt / 2
	if withAtt && (h <= pad || w <= pad) {
		exceptions.Panicf("nn.ACmix(%s): %d×%d map too small for reflection padding %d", scope.Scope(), h, w, pad)
	}

	// Stage I: shared projections.
	q := Conv2d(scope.In("conv1"), x, Conv2dConfig{Out: c, Kernel: 1, Bias: true})
	k := Conv2d(scope.In("conv2"), x, Conv2dConfig{Out: c, Kernel: 1, Bias: true})
	v := Conv2d(scope.In("conv3"), x, Conv2dConfig{Out: c, Kernel: 1, Bias: true})

	var out ACmixOutputs
	if withAtt {
		out.Attention = acmixAttention(scope, q, k, v, cfg)
	}
	if withConv {
		out.Conv = acmixConv(scope, q, k, v, cfg)
	}
	// rate1 and rate2 are created in this order, after the paths, as in the authors' module.
	if withAtt {
		alpha := scope.WithInitializer(constInit(0.5)).VariableWithShape("rate1", shapeOf(1)).NodeValue(g)
		out.Alpha = perChannel(alpha, 4)
	}
	if withConv {
		beta := scope.WithInitializer(constInit(0.5)).VariableWithShape("rate2", shapeOf(1)).NodeValue(g)
		out.Beta = perChannel(beta, 4)
	}
	return out
}

// acmixAttention is ACmix's attention path on the shared projections q, k, v [B, H, W, Out].
func acmixAttention(scope *model.Scope, q, k, v *graph.Node, cfg ACmixConfig) *graph.Node {
	g := q.Graph()
	dims := q.Shape().Dimensions
	b, h, w := dims[0], dims[1], dims[2]
	c, n := cfg.Out, cfg.Heads
	d := c / n
	ka := cfg.KernelAtt
	pad := ka / 2

	// Position encoding p = conv_p(coords): coords are (x, y) in [−1, 1], x along width.
	coords := make([]float32, h*w*2)
	for i := range h {
		for j := range w {
			coords[(i*w+j)*2] = linspace(j, w)
			coords[(i*w+j)*2+1] = linspace(i, h)
		}
	}
	pe := Conv2d(scope.In("conv_p"), graph.Const(g, tensors.FromFlatDataAndDimensions(coords, 1, h, w, 2)),
		Conv2dConfig{Out: d, Kernel: 1, Bias: true}) // [1, H, W, d]

	// Attention path.
	scaling := 1 / math.Sqrt(float64(d))
	qh := graph.Reshape(graph.MulScalar(q, scaling), b, h, w, 1, n, d)
	kWin := graph.Reshape(windows(reflectPad(k, pad), ka, h, w), b, h, w, ka*ka, n, d)
	vWin := graph.Reshape(windows(reflectPad(v, pad), ka, h, w), b, h, w, ka*ka, n, d)
	peWin := graph.Reshape(windows(reflectPad(pe, pad), ka, h, w), 1, h, w, ka*ka, 1, d)
	rel := graph.Sub(graph.Reshape(pe, 1, h, w, 1, 1, d), peWin)      // p_i − p_j
	logits := graph.ReduceSum(graph.Mul(qh, graph.Add(kWin, rel)), 5) // [B, H, W, ka², N]
	att := graph.Softmax(logits, 3)
	return graph.Reshape(graph.ReduceSum(graph.Mul(graph.InsertAxes(att, 5), vWin), 3), b, h, w, c)
}

// acmixConv is ACmix's conv path on the shared projections: the light fully connected layer fc
// over the 3N maps, then the shift group conv.
func acmixConv(scope *model.Scope, q, k, v *graph.Node, cfg ACmixConfig) *graph.Node {
	g := q.Graph()
	dims := q.Shape().Dimensions
	b, h, w := dims[0], dims[1], dims[2]
	c, n := cfg.Out, cfg.Heads
	d := c / n
	kc := cfg.KernelConv
	feats := graph.Reshape(graph.Stack([]*graph.Node{graph.Reshape(q, b, h, w, n, d), graph.Reshape(k, b, h, w, n, d), graph.Reshape(v, b, h, w, n, d)}, 3),
		b, h, w, 3*n, d)
	maps, groups := kc*kc, d // the code: k² maps shared by the heads, one group per channel position
	if cfg.FigureFC {
		maps, groups = kc*kc*n, c // the figure: k² maps per head, one group per output channel
	}
	fcWeight := scope.In("fc").WithInitializer(uniformInit(scope, 1/math.Sqrt(float64(3*n)))).
		VariableWithShape("weight", shapeOf(maps, 3*n, 1, 1)).NodeValue(g)
	f := graph.DotGeneral(feats, []int{3}, nil, graph.Reshape(fcWeight, maps, 3*n), []int{1}, nil) // [B, H, W, d, maps]
	if cfg.FigureFC {
		// [B, H, W, d, N, k²] → [B, H, W, N, d, k²]: output channel n·d + c (heads concatenated,
		// as the attention path's) reads its head's k² maps at position c.
		f = graph.TransposeAllDims(graph.Reshape(f, b, h, w, d, n, kc*kc), 0, 1, 2, 4, 3, 5)
	}
	f = graph.Reshape(f, b, h, w, c/n*maps)
	dep := scope.In("dep_conv")
	depW := dep.WithInitializer(shiftInit(kc)).VariableWithShape("weight", shapeOf(c, kc*kc, kc, kc)).NodeValue(g)
	depB := dep.WithInitializer(constInit(0)).VariableWithShape("bias", shapeOf(c)).NodeValue(g)
	return Conv2dApply(f, depW, depB, Conv2dConfig{Padding: kc / 2, Groups: groups})
}

// linspace returns the i-th of n points evenly spaced in [−1, 1] (torch.linspace(-1, 1, n)).
func linspace(i, n int) float32 {
	if n == 1 {
		return -1
	}
	return float32(-1 + 2*float64(i)/float64(n-1))
}

// shiftInit makes dep_conv a pure shift: output channel o reads input map t (of its group)
// at kernel position (t/k, t%k), so the conv path starts as "shift the k² maps and add".
func shiftInit(k int) func(g *graph.Graph, s shapes.Shape) *graph.Node {
	return func(g *graph.Graph, s shapes.Shape) *graph.Node {
		out := s.Dimensions[0]
		data := make([]float32, s.Size())
		for o := range out {
			for t := range k * k {
				data[((o*k*k+t)*k+t/k)*k+t%k] = 1
			}
		}
		return graph.Const(g, tensors.FromFlatDataAndDimensions(data, s.Dimensions...))
	}
}

// reflectPad pads H and W of [B, H, W, C] by p on each side, mirroring without repeating the
// edge (PyTorch's ReflectionPad2d).
func reflectPad(x *graph.Node, p int) *graph.Node {
	if p == 0 {
		return x
	}
	// Built from single-row slices rather than Reverse, which has no gradient in GoMLX v0.28.
	for _, axis := range []int{1, 2} {
		size := x.Shape().Dimensions[axis]
		parts := make([]*graph.Node, 0, size+2*p)
		for i := p; i >= 1; i-- {
			parts = append(parts, graph.SliceAxis(x, axis, graph.AxisElem(i)))
		}
		parts = append(parts, x)
		for i := size - 2; i >= size-1-p; i-- {
			parts = append(parts, graph.SliceAxis(x, axis, graph.AxisElem(i)))
		}
		x = graph.Concatenate(parts, axis)
	}
	return x
}

// windows gathers, for every output pixel of an already padded [B, H+2p, W+2p, C] map, its
// k×k neighbourhood: [B, H, W, k², C], window position t = i·k + j (PyTorch's Unfold order).
// It is one Gather over the padded pixels rather than k² slices stacked: the same numbers, but
// XLA compiles the slices' gradient (k² pads summed) several times slower, which made
// ResNet-ACmix's training step take minutes to compile on a CPU. (A depthwise conv with one-hot
// kernels would do too, but nn.CountMACs would count its copies as multiply-accumulates.)
func windows(xp *graph.Node, k, h, w int) *graph.Node {
	dims := xp.Shape().Dimensions
	b, hp, wp, c := dims[0], dims[1], dims[2], dims[3]
	if hp != h+k-1 || wp != w+k-1 {
		exceptions.Panicf("nn.ACmix windows: padded map %d×%d is not %d×%d plus a %d×%d window", hp, wp, h, w, k, k)
	}
	idx := make([]int32, 0, h*w*k*k)
	for y := range h {
		for x := range w {
			for i := range k {
				for j := range k {
					idx = append(idx, int32((y+i)*wp+x+j))
				}
			}
		}
	}
	pixels := graph.TransposeAllDims(graph.Reshape(xp, b, hp*wp, c), 1, 0, 2) // [Hp·Wp, B, C]
	indices := graph.Const(xp.Graph(), tensors.FromFlatDataAndDimensions(idx, h, w, k*k, 1))
	return graph.TransposeAllDims(graph.Gather(pixels, indices), 3, 0, 1, 2, 4) // [H, W, k², B, C] → [B, H, W, k², C]
}

// ACmixBottleneck is ResNet's bottleneck with the 3×3 conv replaced by ACmix (the authors'
// ResNet-ACmix); Heads etc. come from acfg, Out is set to the bottleneck width. ACmix here
// has stride 1, so a stride s > 1 is applied after it as an s×s average pool (ceil mode,
// padding excluded), keeping the block's output size equal to Bottleneck's.
func ACmixBottleneck(scope *model.Scope, x *graph.Node, cfg BottleneckConfig, acfg ACmixConfig) *graph.Node {
	cfg = cfg.withDefaults()
	width, out := cfg.Width(), cfg.Planes*BottleneckExpansion
	shortcut := resNetShortcut(scope, x, out, cfg.Stride)
	y := Conv2d(scope.In("conv1"), x, Conv2dConfig{Out: width, Kernel: 1})
	y = ReLU(BatchNorm2d(scope.In("bn1"), y, BatchNormConfig{}))
	acfg.Out = width
	y = ACmix(scope.In("conv2"), y, acfg)
	if cfg.Stride > 1 {
		// A 3×3 stride-s conv gives ceil(H/s); so does a ceil-mode s×s pool.
		y = avgPoolCeil(y, cfg.Stride, cfg.Stride)
	}
	y = ReLU(BatchNorm2d(scope.In("bn2"), y, BatchNormConfig{}))
	y = Conv2d(scope.In("conv3"), y, Conv2dConfig{Out: out, Kernel: 1})
	y = BatchNorm2d(scope.In("bn3"), y, BatchNormConfig{})
	return ReLU(graph.Add(y, shortcut))
}
