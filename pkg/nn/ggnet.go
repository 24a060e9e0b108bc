package nn

import (
	"math"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// This file: the modules of GG-Net (Xue et al., "Global guidance network for breast lesion
// segmentation in ultrasound images", Medical Image Analysis 2021), as the study notes
// describe them: the guidance map built from resized multi-level features, the spatial and
// channel Global Guidance Blocks (GGB), and the Boundary Detection (BD) module.

// GuidanceMap resizes every feature map in feats to h×w (the notes: the size of the second
// CNN level's output), concatenates them along channels and fuses them with a 1×1 conv → BN →
// ReLU to `out` channels (scope "fuse"). This integrated map is the guidance G.
func GuidanceMap(scope *model.Scope, feats []*graph.Node, h, w, out int) *graph.Node {
	resized := make([]*graph.Node, len(feats))
	for i, f := range feats {
		resized[i] = Resize(f, h, w)
	}
	fuse := scope.In("fuse")
	g := Conv2d(fuse.In("conv"), graph.Concatenate(resized, 3), Conv2dConfig{Out: out, Kernel: 1})
	return ReLU(BatchNorm2d(fuse.In("bn"), g, BatchNormConfig{}))
}

// SpatialGGB is the spatial Global Guidance Block. Ordinary self-attention over the H·W
// positions of x weighs values by W = Q Kᵀ; here a second affinity W' = Q' K'ᵀ is computed
// from the guidance map g (resized to x's size), and the weights are softmax(W ⊙ W') — the
// notes' "W'·W then softmax". Output: x + γ·(A V), with γ ("gamma", starting at 0) letting
// training decide how much global context to add. Q, K, Q', K' have C/8 channels (at least 1),
// V has C. Variables: query, key, value, g_query, g_key (1×1 convs with bias) and gamma.
func SpatialGGB(scope *model.Scope, x, g *graph.Node) *graph.Node {
	d := x.Shape().Dimensions
	b, h, w, c := d[0], d[1], d[2], d[3]
	ck := max(c/8, 1)
	g = Resize(g, h, w)
	proj := func(name string, in *graph.Node, out int) *graph.Node {
		y := Conv2d(scope.In("%s", name), in, Conv2dConfig{Out: out, Kernel: 1, Bias: true})
		return graph.Reshape(y, b, h*w, out)
	}
	q, k, v := proj("query", x, ck), proj("key", x, ck), proj("value", x, c)
	qg, kg := proj("g_query", g, ck), proj("g_key", g, ck)
	aff := graph.Einsum("bic,bjc->bij", q, k)
	affG := graph.Einsum("bic,bjc->bij", qg, kg)
	att := graph.Softmax(graph.Mul(aff, affG), 2)
	out := graph.Reshape(graph.Einsum("bij,bjc->bic", att, v), b, h, w, c)
	gamma := scope.WithInitializer(constInit(0)).VariableWithShape("gamma", shapeOf(1)).NodeValue(x.Graph())
	return graph.Add(x, graph.Mul(perChannel(gamma, 4), out))
}

// ChannelGGB is the channel Global Guidance Block: channel affinities W_c = XᵀX (C×C, from
// the flattened maps of x, symmetric as the notes observe) are multiplied by the affinities
// of the guidance map after a squeeze-and-excitation style update — g′ = g ⊙ σ(fc2(ReLU(fc1(
// GAP(g))))) — and softmax-normalized; the output is x + γ·(X A). g is resized to x's size and
// projected to C channels first (g_proj, 1×1 conv). Variables: g_proj, fc1 (C→C/4), fc2, gamma.
func ChannelGGB(scope *model.Scope, x, g *graph.Node) *graph.Node {
	d := x.Shape().Dimensions
	b, h, w, c := d[0], d[1], d[2], d[3]
	g = Conv2d(scope.In("g_proj"), Resize(g, h, w), Conv2dConfig{Out: c, Kernel: 1, Bias: true})
	ratio := Linear(scope.In("fc1"), GlobalAvgPool2d(g), max(c/4, 1), true)
	ratio = graph.Sigmoid(Linear(scope.In("fc2"), ReLU(ratio), c, true)) // [B, C]
	g = graph.Mul(g, graph.Reshape(ratio, b, 1, 1, c))
	xf, gf := graph.Reshape(x, b, h*w, c), graph.Reshape(g, b, h*w, c)
	// Scale the Gram matrices by 1/(H·W) so the softmax logits stay O(1) whatever the map size.
	scale := 1 / float64(h*w)
	aff := graph.MulScalar(graph.Einsum("bnc,bnd->bcd", xf, xf), scale)
	affG := graph.MulScalar(graph.Einsum("bnc,bnd->bcd", gf, gf), scale)
	att := graph.Softmax(graph.Mul(aff, affG), 2)                           // [B, C, C]
	out := graph.Reshape(graph.Einsum("bnd,bcd->bnc", xf, att), b, h, w, c) // out_c = Σ_d A_cd x_d
	gamma := scope.WithInitializer(constInit(0)).VariableWithShape("gamma", shapeOf(1)).NodeValue(x.Graph())
	return graph.Add(x, graph.Mul(perChannel(gamma, 4), out))
}

// MaxPool3x3Same is MaxPool2d(x, 3, 1, 1) built as the elementwise maximum of the nine shifted
// copies of x (padding never wins): the same numbers, but with a gradient on every backend
// (GoMLX's pure-Go backend has no gradient for the max-pool op).
func MaxPool3x3Same(x *graph.Node) *graph.Node {
	d := x.Shape().Dimensions
	xp := PadHW(x, -math.MaxFloat32, 1, 1, 1, 1)
	var m *graph.Node
	for i := range 3 {
		for j := range 3 {
			s := graph.Slice(xp, graph.AxisRange(), graph.AxisRange(i, i+d[1]), graph.AxisRange(j, j+d[2]), graph.AxisRange())
			if m == nil {
				m = s
			} else {
				m = graph.Max(m, s)
			}
		}
	}
	return m
}

// BDOrder selects the order of the subtraction in the Boundary Detection module, which the
// notes question.
type BDOrder int

const (
	// BDFMinusMax is the paper's E = F − maxpool(F). Since maxpool(F) ≥ F, E ≤ 0 everywhere:
	// it is zero where F is a local maximum and negative on the outer side of F's edges.
	BDFMinusMax BDOrder = iota
	// BDMaxMinusF is E = maxpool(F) − F ≥ 0, a morphological (dilation) gradient.
	BDMaxMinusF
)

// BoundaryOutputs are the two maps the BD module predicts.
type BoundaryOutputs struct {
	Seg  *graph.Node // F + E: the refined mask logits, [B, H, W, 1]
	Edge *graph.Node // E: the boundary map, [B, H, W, 1]
	F    *graph.Node // F: the 1×1 conv's single-channel map
}

// BoundaryDetection is GG-Net's BD module on a feature map x: F = conv1×1(x) (one channel,
// scope "conv"), E = F − maxpool3×3(F) (stride 1, padding 1, so E has F's size), output F + E.
// It is trained against the mask and edge ground truth downsampled to x's scale; its outputs
// supervise the encoder and do not feed the final mask (the notes' conclusion).
func BoundaryDetection(scope *model.Scope, x *graph.Node, order BDOrder) BoundaryOutputs {
	f := Conv2d(scope.In("conv"), x, Conv2dConfig{Out: 1, Kernel: 1, Bias: true})
	mp := MaxPool3x3Same(f)
	var e *graph.Node
	if order == BDMaxMinusF {
		e = graph.Sub(mp, f)
	} else {
		e = graph.Sub(f, mp)
	}
	return BoundaryOutputs{Seg: graph.Add(f, e), Edge: e, F: f}
}

// GGNetConfig configures a small GG-Net-style segmenter: a U-Net whose bottleneck is refined
// by the spatial then the channel GGB (guided by all encoder levels resized to the second
// level's size), with BD modules on the encoder levels after the first.
type GGNetConfig struct {
	UNet          UNetConfig
	GuidanceWidth int // channels of the guidance map; 0 means UNet.Base·2
	BDOrder       BDOrder
}

// GGNetSmall64 is GG-Net on UNetSmall64.
func GGNetSmall64() GGNetConfig { return GGNetConfig{UNet: UNetSmall64()} }

// GGNetOutputs holds the final mask logits and the BD outputs per encoder level (level 1 …).
type GGNetOutputs struct {
	Mask     *graph.Node
	Boundary []BoundaryOutputs
}

// GGNetForward runs the model. Variables: the U-Net's (enc, down, up, dec, head) plus
// guidance, ggb_spatial, ggb_channel and bd.<level>.
func GGNetForward(scope *model.Scope, x *graph.Node, cfg GGNetConfig) GGNetOutputs {
	u := cfg.UNet.withDefaults()
	gw := cfg.GuidanceWidth
	if gw == 0 {
		gw = 2 * u.Base
	}
	d := x.Shape().Dimensions
	enc, down, up, dec := scope.In("enc"), scope.In("down"), scope.In("up"), scope.In("dec")
	var feats []*graph.Node
	width := u.Base
	h := x
	for l := range u.Levels {
		if l > 0 {
			switch u.Downsample {
			case DownMaxPool:
				h = MaxPool2d(h, 2, 2, 0)
			case DownConv:
				h = Conv2d(down.In("%d", l), h, Conv2dConfig{Out: channels(h), Kernel: 2, Stride: 2})
			default:
				h = AvgPool2d(h, 2, 2, 0, true)
			}
		}
		h = DoubleConv(enc.In("%d", l), h, width)
		feats = append(feats, h)
		width *= 2
	}
	var out GGNetOutputs
	bd := scope.In("bd")
	for l := 1; l < len(feats); l++ {
		out.Boundary = append(out.Boundary, BoundaryDetection(bd.In("%d", l), feats[l], cfg.BDOrder))
	}
	g := GuidanceMap(scope.In("guidance"), feats, d[1]/2, d[2]/2, gw)
	h = SpatialGGB(scope.In("ggb_spatial"), h, g)
	h = ChannelGGB(scope.In("ggb_channel"), h, g)
	for l := u.Levels - 2; l >= 0; l-- {
		skip := feats[l]
		uu := Conv2d(up.In("%d", l), UpsampleNearest2x(h), Conv2dConfig{Out: channels(skip), Kernel: 3, Padding: 1})
		h = DoubleConv(dec.In("%d", l), graph.Concatenate([]*graph.Node{skip, uu}, 3), channels(skip))
	}
	out.Mask = Conv2d(scope.In("head"), h, Conv2dConfig{Out: u.NumClasses, Kernel: 1, Bias: true})
	return out
}
