package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
)

// bnEvalRelu is BatchNorm2d in evaluation mode with fresh statistics (mean 0, variance 1,
// γ 1, β 0), then ReLU, in float64.
func bnEvalRelu(v []float64) []float64 {
	out := make([]float64, len(v))
	s := 1 / math.Sqrt(1+1e-5) // BatchNorm2d's default ε
	for i, x := range v {
		out[i] = math.Max(0, x*s)
	}
	return out
}

// TestASPP compares ASPP with loops over its definition (DeepLabv3 §3.3): a 1×1 branch, one
// dilated 3×3 branch per rate, image pooling, concatenation and a 1×1 projection, each
// followed by BN (evaluation mode) and ReLU.
func TestASPP(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	const B, H, W, C, O = 2, 7, 6, 3, 4
	rates := []int{1, 2, 3}
	x := randTensor(r, B, H, W, C)
	vars := map[string]*tensors.Tensor{"aspp.convs.0.conv.weight": randTensor(r, O, C, 1, 1), "aspp.pool.conv.weight": randTensor(r, O, C, 1, 1),
		"aspp.project.conv.weight": randTensor(r, O, O*(len(rates)+2), 1, 1)}
	for i := range rates {
		vars["aspp.convs."+string(rune('1'+i))+".conv.weight"] = randTensor(r, O, C, 3, 3)
	}
	xd := [4]int{B, H, W, C}
	xf := flat(x)
	var branches [][]float64
	b0, _ := naiveConv2d(xf, xd, flat(vars["aspp.convs.0.conv.weight"]), [4]int{O, C, 1, 1}, nil, 1, 0, 1, 1)
	branches = append(branches, bnEvalRelu(b0))
	for i, rate := range rates {
		w := vars["aspp.convs."+string(rune('1'+i))+".conv.weight"]
		y, _ := naiveConv2d(xf, xd, flat(w), [4]int{O, C, 3, 3}, nil, 1, rate, rate, 1)
		branches = append(branches, bnEvalRelu(y))
	}
	gap := make([]float64, B*C)
	for b := range B {
		for p := range H * W {
			for c := range C {
				gap[b*C+c] += xf[(b*H*W+p)*C+c] / float64(H*W)
			}
		}
	}
	pooled, _ := naiveConv2d(gap, [4]int{B, 1, 1, C}, flat(vars["aspp.pool.conv.weight"]), [4]int{O, C, 1, 1}, nil, 1, 0, 1, 1)
	pooled = bnEvalRelu(pooled)
	pb := make([]float64, B*H*W*O)
	for b := range B {
		for p := range H * W {
			copy(pb[(b*H*W+p)*O:], pooled[b*O:(b+1)*O])
		}
	}
	branches = append(branches, pb)
	nb := len(branches)
	cat := make([]float64, B*H*W*O*nb)
	for p := range B * H * W {
		for k, br := range branches {
			copy(cat[p*O*nb+k*O:], br[p*O:(p+1)*O])
		}
	}
	want, _ := naiveConv2d(cat, [4]int{B, H, W, O * nb}, flat(vars["aspp.project.conv.weight"]), [4]int{O, O * nb, 1, 1}, nil, 1, 0, 1, 1)
	want = bnEvalRelu(want)
	nntest.ForEachBackend(t, func(t *testing.T, bk nntest.Backend) {
		store := model.NewStore()
		setVars(t, store, vars)
		out := runModel(t, bk, store, func(s *model.Scope, x *graph.Node) *graph.Node {
			return ASPP(s.In("aspp"), x, ASPPConfig{Out: O, Rates: rates})
		}, x)
		if d := maxDiff(flat(out[0]), want); d > 1e-4 {
			t.Errorf("ASPP vs loops: max |diff| %g", d)
		}
	})
}

// TestBilinear4xHead checks the head's shapes and wiring against the same steps written out,
// and that it refuses maps that are not 4× apart.
func TestBilinear4xHead(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	deep, low := randTensor(r, 2, 4, 4, 8), randTensor(r, 2, 16, 16, 4)
	nntest.ForEachBackend(t, func(t *testing.T, bk nntest.Backend) {
		out := runModel(t, bk, model.NewStore(), func(s *model.Scope, d, l *graph.Node) (*graph.Node, *graph.Node) {
			lib := Bilinear4xHead(s.In("h"), d, l, 3, 5, 1, 32, 32)
			h := s.At("h")
			lowS := h.In("low")
			lw := ReLU(BatchNorm2d(lowS.In("bn"), Conv2d(lowS.In("conv"), l, Conv2dConfig{Out: 3, Kernel: 1}), BatchNormConfig{}))
			y := DoubleConv(h.In("fuse"), graph.Concatenate([]*graph.Node{Resize(d, 16, 16), lw}, 3), 5)
			hand := Resize(Conv2d(h.In("head"), y, Conv2dConfig{Out: 1, Kernel: 1, Bias: true}), 32, 32)
			return lib, hand
		}, deep, low)
		if got := out[0].Shape().Dimensions; got[1] != 32 || got[3] != 1 {
			t.Errorf("output %v, want [2 32 32 1]", got)
		}
		nntest.AssertClose(t, "head = its steps", out[0], out[1], 0)
	})
	_, err := Build(goBackend(t), model.NewStore(), func(s *model.Scope, x *graph.Node) *graph.Node {
		return Bilinear4xHead(s, x, x, 3, 5, 1, 32, 32)
	}, shapes.Make(dtypes.Float32, 1, 8, 8, 2))
	if err == nil || !strings.Contains(err.Error(), "not 4×") {
		t.Errorf("maps of the same size: %v", err)
	}
}

// softmaxRows is a row softmax of an n×n matrix.
func softmaxRows(m []float64, n int) []float64 {
	out := make([]float64, len(m))
	for i := range n {
		mx := math.Inf(-1)
		for j := range n {
			mx = math.Max(mx, m[i*n+j])
		}
		var s float64
		for j := range n {
			out[i*n+j] = math.Exp(m[i*n+j] - mx)
			s += out[i*n+j]
		}
		for j := range n {
			out[i*n+j] /= s
		}
	}
	return out
}

// TestGuidanceModes checks each mode of the spatial and channel GGB against loops with γ = 1:
// the weights are softmax(W ⊙ W′), softmax(W) or softmax(W′), and off returns x; each mode
// creates only the variables it uses.
func TestGuidanceModes(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	const H, W, C = 3, 4, 8
	n := H * W
	x := randTensor(r, 1, H, W, C)
	g := randTensor(r, 1, H, W, 8) // the guidance at x's size: no resizing in the reference
	xf, gf := flat(x), flat(g)
	conv := func(in []float64, cin int, w, b []float64, out int) []float64 { // 1×1 conv, [n, cin] → [n, out]
		y := make([]float64, n*out)
		for p := range n {
			for o := range out {
				v := b[o]
				for i := range cin {
					v += w[o*cin+i] * in[p*cin+i]
				}
				y[p*out+o] = v
			}
		}
		return y
	}
	vars := map[string]*tensors.Tensor{"gamma": tensors.FromValue([]float32{1})}
	get := func(name string, dims ...int) []float64 {
		if _, ok := vars[name]; !ok {
			vars[name] = randTensor(r, dims...)
		}
		return flat(vars[name])
	}
	ck := C / 8
	gram := func(a, b []float64, d int) []float64 { // a·bᵀ over positions: [n, d]·[n, d]ᵀ
		m := make([]float64, n*n)
		for i := range n {
			for j := range n {
				for k := range d {
					m[i*n+j] += a[i*d+k] * b[j*d+k]
				}
			}
		}
		return m
	}
	q := conv(xf, C, get("query.weight", ck, C, 1, 1), get("query.bias", ck), ck)
	k := conv(xf, C, get("key.weight", ck, C, 1, 1), get("key.bias", ck), ck)
	v := conv(xf, C, get("value.weight", C, C, 1, 1), get("value.bias", C), C)
	qg := conv(gf, 8, get("g_query.weight", ck, 8, 1, 1), get("g_query.bias", ck), ck)
	kg := conv(gf, 8, get("g_key.weight", ck, 8, 1, 1), get("g_key.bias", ck), ck)
	wSelf, wGuide := gram(q, k, ck), gram(qg, kg, ck)
	logits := map[GuidanceMode][]float64{GuideSelf: wSelf, GuideOnly: wGuide, GuideBoth: make([]float64, n*n)}
	for i := range wSelf {
		logits[GuideBoth][i] = wSelf[i] * wGuide[i]
	}
	for _, mode := range GuidanceModes {
		want := append([]float64(nil), xf...)
		if mode != GuideOff {
			a := softmaxRows(logits[mode], n)
			for i := range n {
				for c := range C {
					for j := range n {
						want[i*C+c] += a[i*n+j] * v[j*C+c]
					}
				}
			}
		}
		nntest.ForEachBackend(t, func(t *testing.T, bk nntest.Backend) {
			store := model.NewStore()
			setVars(t, store, vars)
			// g's sum is a second output: the pure-Go backend (compute v0.1.2) fails to run
			// GuideOff's graph otherwise, which returns x as it is and leaves g unused.
			fn := func(s *model.Scope, x, g *graph.Node) (*graph.Node, *graph.Node) {
				return SpatialGGBWith(s, x, g, mode), graph.ReduceAllSum(g)
			}
			out := runModel(t, bk, store, fn, x, g)
			if d := maxDiff(flat(out[0]), want); d > 1e-4 {
				t.Errorf("spatial %s: max |diff| %g", mode, d)
			}
			// A fresh store shows which variables the mode creates.
			fresh := model.NewStore()
			runModel(t, bk, fresh, fn, x, g)
			hasQ, hasG := fresh.GetVariable("/query/weight") != nil, fresh.GetVariable("/g_query/weight") != nil
			if hasQ != (mode == GuideBoth || mode == GuideSelf) || hasG != (mode == GuideBoth || mode == GuideOnly) {
				t.Errorf("spatial %s: query variables %v, guidance variables %v", mode, hasQ, hasG)
			}
		})
	}
	// The channel block without guidance: softmax over channels of XᵀX/N, out = x + X·Aᵀ.
	wc := make([]float64, C*C)
	for c := range C {
		for d := range C {
			for p := range n {
				wc[c*C+d] += xf[p*C+c] * xf[p*C+d] / float64(n)
			}
		}
	}
	a := softmaxRows(wc, C)
	want := append([]float64(nil), xf...)
	for p := range n {
		for c := range C {
			for d := range C {
				want[p*C+c] += a[c*C+d] * xf[p*C+d]
			}
		}
	}
	nntest.ForEachBackend(t, func(t *testing.T, bk nntest.Backend) {
		store := model.NewStore()
		setVars(t, store, map[string]*tensors.Tensor{"gamma": tensors.FromValue([]float32{1})})
		out := runModel(t, bk, store, func(s *model.Scope, x *graph.Node) *graph.Node { return ChannelGGBWith(s, x, nil, GuideSelf) }, x)
		if d := maxDiff(flat(out[0]), want); d > 1e-4 {
			t.Errorf("channel self: max |diff| %g", d)
		}
		if store.GetVariable("/g_proj/weight") != nil {
			t.Error("channel self created guidance variables")
		}
		off := runModel(t, bk, model.NewStore(), func(s *model.Scope, x *graph.Node) *graph.Node { return ChannelGGBWith(s, x, nil, GuideOff) }, x)
		nntest.AssertClose(t, "channel off is the identity", off[0], x, 0)
	})
}

// TestResize compares the matrix resize with GoMLX's bilinear Interpolate (half-pixel
// centres) on sizes where that has a gradient, and with loops over PyTorch's formula on a
// 3-pixel input, up and down.
func TestResize(t *testing.T) {
	r := rand.New(rand.NewPCG(47, 48))
	x := randTensor(r, 2, 8, 6, 3)
	nntest.ForEachBackend(t, func(t *testing.T, bk nntest.Backend) {
		for _, size := range [][2]int{{16, 12}, {4, 3}, {5, 9}, {32, 24}} {
			out := runModel(t, bk, model.NewStore(), func(_ *model.Scope, x *graph.Node) (*graph.Node, *graph.Node) {
				return Resize(x, size[0], size[1]), graph.Interpolate(x, -1, size[0], size[1], -1).Done()
			}, x)
			nntest.AssertClose(t, "Resize = Interpolate (bilinear, half-pixel)", out[0], out[1], 1e-5)
		}
	})
	// A 1×3 line up to 1×7, by PyTorch's formula: src = (i + ½)·3/7 − ½, clamped to [0, 2].
	line := fromFlat64([]float64{1, 4, 2}, 1, 1, 3, 1)
	out := runModel(t, nntest.Backends(t)[0], model.NewStore(), func(_ *model.Scope, x *graph.Node) *graph.Node { return Resize(x, 1, 7) }, line)
	vals := []float64{1, 4, 2}
	want := make([]float64, 7)
	for i := range want {
		src := math.Min(math.Max((float64(i)+0.5)*3/7-0.5, 0), 2)
		i0 := int(src)
		i1 := min(i0+1, 2)
		want[i] = vals[i0]*(1-(src-float64(i0))) + vals[i1]*(src-float64(i0))
	}
	if d := maxDiff(flat(out[0]), want); d > 1e-6 {
		t.Errorf("3 → 7 pixels: %v, want %v", flat(out[0]), want)
	}
}
