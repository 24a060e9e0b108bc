package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
)

// TestConv2dMatchesNaive checks Conv2d (NHWC activations, OIHW weights) against a loop
// implementation for strides, padding, dilation, groups and depthwise kernels, on odd sizes.
func TestConv2dMatchesNaive(t *testing.T) {
	cases := []Conv2dConfig{
		{Out: 4, Kernel: 3, Padding: 1},
		{Out: 6, Kernel: 3, Stride: 2, Padding: 1, Groups: 3, Bias: true},
		{Out: 8, Kernel: 1, Stride: 2},
		{Out: 6, Kernel: 3, Dilation: 2, Padding: 2, Groups: 6},
		{Out: 6, Kernel: 7, Padding: 3, Groups: 6, Bias: true},
		{Out: 5, Kernel: 2, Stride: 2}, // patchify-style, drops the odd last row/column
	}
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		for ci, cfg := range cases {
			r := rand.New(rand.NewPCG(1, uint64(ci)))
			xd := [4]int{2, 7, 9, 6}
			x := randTensor(r, xd[:]...)
			c := cfg.withDefaults()
			wd := [4]int{c.Out, 6 / c.Groups, c.Kernel, c.Kernel}
			w := randTensor(r, wd[:]...)
			sd := map[string]*tensors.Tensor{"conv.weight": w}
			var bias []float64
			if cfg.Bias {
				bt := randTensor(r, c.Out)
				sd["conv.bias"] = bt
				bias = flat(bt)
			}
			store := model.NewStore()
			setVars(t, store, sd)
			got := runModel(t, b, store, func(scope *model.Scope, x *graph.Node) *graph.Node {
				return Conv2d(scope.In("conv"), x, cfg)
			}, x)[0]
			want, od := naiveConv2d(flat(x), xd, flat(w), wd, bias, c.Stride, c.Padding, c.Dilation, c.Groups)
			if fmt.Sprint(got.Shape().Dimensions) != fmt.Sprint(od[:]) {
				t.Fatalf("case %d: shape %v, want %v", ci, got.Shape().Dimensions, od)
			}
			if d := maxDiff(flat(got), want); d > 1e-5 {
				t.Errorf("case %d %+v: max diff %g", ci, cfg, d)
			}
		}
	})
}

// TestConv2dGradients checks the gradients GoMLX derives for a grouped, strided conv in the
// NHWC/OIHW axis layout. The loss Σ r·conv(x, w) is linear in x and in w, so its exact
// gradient is the naive conv of unit perturbations.
func TestConv2dGradients(t *testing.T) {
	cfg := Conv2dConfig{Out: 4, Kernel: 3, Stride: 2, Padding: 1, Groups: 2}
	xd := [4]int{1, 5, 6, 4}
	wd := [4]int{4, 2, 3, 3}
	r := rand.New(rand.NewPCG(3, 4))
	x, w := randTensor(r, xd[:]...), randTensor(r, wd[:]...)
	_, od := naiveConv2d(flat(x), xd, flat(w), wd, nil, 2, 1, 1, 2)
	rw := randTensor(r, od[:]...)
	loss := func(xf, wf []float64) float64 {
		y, _ := naiveConv2d(xf, xd, wf, wd, nil, 2, 1, 1, 2)
		s := 0.0
		for i, v := range flat(rw) {
			s += v * y[i]
		}
		return s
	}
	grad := func(base []float64, f func([]float64) float64) []float64 {
		g := make([]float64, len(base))
		for i := range base {
			p := append([]float64{}, base...)
			p[i]++
			g[i] = f(p) - f(base)
		}
		return g
	}
	xf, wf := flat(x), flat(w)
	wantGX := grad(xf, func(v []float64) float64 { return loss(v, wf) })
	wantGW := grad(wf, func(v []float64) float64 { return loss(xf, v) })

	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		exec, err := graph.NewExec(b.Backend, func(x, w, rw *graph.Node) (*graph.Node, *graph.Node) {
			l := graph.ReduceAllSum(graph.Mul(Conv2dApply(x, w, nil, cfg), rw))
			gs := graph.Gradient(l, x, w)
			return gs[0], gs[1]
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Call(localClones(t, x, w, rw)...)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(flat(out[0]), wantGX); d > 1e-4 {
			t.Errorf("dL/dx max diff %g", d)
		}
		if d := maxDiff(flat(out[1]), wantGW); d > 1e-4 {
			t.Errorf("dL/dw max diff %g", d)
		}
	})
}

// TestLinear checks Linear on a rank-3 token tensor against loops.
func TestLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := randTensor(r, 2, 3, 5)
	w := randTensor(r, 4, 5)
	bias := randTensor(r, 4)
	xf, wf, bf := flat(x), flat(w), flat(bias)
	want := make([]float64, 2*3*4)
	for n := range 6 {
		for o := range 4 {
			s := bf[o]
			for i := range 5 {
				s += xf[n*5+i] * wf[o*5+i]
			}
			want[n*4+o] = s
		}
	}
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		store := model.NewStore()
		setVars(t, store, map[string]*tensors.Tensor{"fc.weight": w, "fc.bias": bias})
		got := runModel(t, b, store, func(scope *model.Scope, x *graph.Node) *graph.Node {
			return Linear(scope.In("fc"), x, 4, true)
		}, x)[0]
		if d := maxDiff(flat(got), want); d > 1e-5 {
			t.Errorf("max diff %g", d)
		}
	})
}

// TestBatchNorm2d checks eval mode (running statistics), train mode (batch statistics,
// biased variance) and the running-statistics update (unbiased variance, momentum 0.1),
// all as PyTorch defines them.
func TestBatchNorm2d(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	x := randTensor(r, 2, 3, 5, 4)
	gamma, beta := randTensor(r, 4), randTensor(r, 4)
	rm := randTensor(r, 4)
	rvData := tensors.MustCopyFlatData[float32](randTensor(r, 4))
	for i := range rvData {
		rvData[i] = float32(math.Abs(float64(rvData[i]))) + 0.5
	}
	rv := tensors.FromFlatDataAndDimensions(rvData, 4)
	xf, gf, bf, rmf, rvf := flat(x), flat(gamma), flat(beta), flat(rm), flat(rv)
	n := 2 * 3 * 5
	mean, varB := make([]float64, 4), make([]float64, 4)
	for i, v := range xf {
		mean[i%4] += v / float64(n)
	}
	for i, v := range xf {
		varB[i%4] += (v - mean[i%4]) * (v - mean[i%4]) / float64(n)
	}
	norm := func(m, v []float64) []float64 {
		out := make([]float64, len(xf))
		for i, xv := range xf {
			c := i % 4
			out[i] = (xv-m[c])/math.Sqrt(v[c]+1e-5)*gf[c] + bf[c]
		}
		return out
	}
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		for _, training := range []bool{false, true} {
			store := model.NewStore()
			setVars(t, store, map[string]*tensors.Tensor{
				"bn.weight": gamma, "bn.bias": beta, "bn.running_mean": rm, "bn.running_var": rv,
			})
			got := runModel(t, b, store, func(scope *model.Scope, x *graph.Node) *graph.Node {
				scope.Store().SetTraining(x.Graph(), training)
				return BatchNorm2d(scope.In("bn"), x, BatchNormConfig{})
			}, x)[0]
			if !training {
				if d := maxDiff(flat(got), norm(rmf, rvf)); d > 1e-5 {
					t.Errorf("eval: max diff %g", d)
				}
				continue
			}
			if d := maxDiff(flat(got), norm(mean, varB)); d > 1e-5 {
				t.Errorf("train: max diff %g", d)
			}
			wantRM, wantRV := make([]float64, 4), make([]float64, 4)
			for c := range 4 {
				wantRM[c] = 0.9*rmf[c] + 0.1*mean[c]
				wantRV[c] = 0.9*rvf[c] + 0.1*varB[c]*float64(n)/float64(n-1)
			}
			gotRM := flat(store.GetVariable("/bn/running_mean").MustValue())
			gotRV := flat(store.GetVariable("/bn/running_var").MustValue())
			if d := max(maxDiff(gotRM, wantRM), maxDiff(gotRV, wantRV)); d > 1e-6 {
				t.Errorf("running stats: max diff %g (mean %v want %v; var %v want %v)", d, gotRM, wantRM, gotRV, wantRV)
			}
			if store.GetVariable("/bn/running_mean").Trainable {
				t.Error("running_mean must not be trainable")
			}
		}
	})
}

// TestLayerAndGroupNorm checks LayerNorm over channels and GroupNorm over (H, W, C/groups).
func TestLayerAndGroupNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	x := randTensor(r, 2, 3, 5, 6)
	gamma, beta := randTensor(r, 6), randTensor(r, 6)
	xf, gf, bf := flat(x), flat(gamma), flat(beta)
	// groups: number of channel groups; positions: 15 per image.
	ref := func(groups int, perPosition bool, eps float64) []float64 {
		out := make([]float64, len(xf))
		cg := 6 / groups
		for bi := range 2 {
			for gi := range groups {
				var sets [][]int
				if perPosition {
					for p := range 15 {
						var idx []int
						for c := gi * cg; c < (gi+1)*cg; c++ {
							idx = append(idx, (bi*15+p)*6+c)
						}
						sets = append(sets, idx)
					}
				} else {
					var idx []int
					for p := range 15 {
						for c := gi * cg; c < (gi+1)*cg; c++ {
							idx = append(idx, (bi*15+p)*6+c)
						}
					}
					sets = append(sets, idx)
				}
				for _, idx := range sets {
					m, v := 0.0, 0.0
					for _, i := range idx {
						m += xf[i]
					}
					m /= float64(len(idx))
					for _, i := range idx {
						v += (xf[i] - m) * (xf[i] - m)
					}
					v /= float64(len(idx))
					for _, i := range idx {
						c := i % 6
						out[i] = (xf[i]-m)/math.Sqrt(v+eps)*gf[c] + bf[c]
					}
				}
			}
		}
		return out
	}
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		store := model.NewStore()
		setVars(t, store, map[string]*tensors.Tensor{
			"ln.weight": gamma, "ln.bias": beta, "gn1.weight": gamma, "gn1.bias": beta, "gn3.weight": gamma, "gn3.bias": beta,
		})
		out := runModel(t, b, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
			return []*graph.Node{
				LayerNorm(scope.In("ln"), x, 1e-6),
				GroupNorm(scope.In("gn1"), x, 1, 1e-5),
				GroupNorm(scope.In("gn3"), x, 3, 1e-5),
			}
		}, x)
		if d := maxDiff(flat(out[0]), ref(1, true, 1e-6)); d > 1e-5 {
			t.Errorf("LayerNorm max diff %g", d)
		}
		if d := maxDiff(flat(out[1]), ref(1, false, 1e-5)); d > 1e-5 {
			t.Errorf("GroupNorm(1) max diff %g", d)
		}
		if d := maxDiff(flat(out[2]), ref(3, false, 1e-5)); d > 1e-5 {
			t.Errorf("GroupNorm(3) max diff %g", d)
		}
	})
}

// TestActivations compares GELU (exact and tanh), ReLU and SiLU with their formulas.
func TestActivations(t *testing.T) {
	xs := []float32{-4, -1.5, -0.3, 0, 0.2, 1, 3.7}
	x := tensors.FromValue(xs)
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		exec, err := graph.NewExec(b.Backend, func(x *graph.Node) []*graph.Node {
			return []*graph.Node{GELU(x), GELUTanh(x), ActReLU.Apply(x), ActSiLU.Apply(x)}
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Call(localClones(t, x)...)
		if err != nil {
			t.Fatal(err)
		}
		for i, xv := range xs {
			v := float64(xv)
			want := []float64{
				0.5 * v * (1 + math.Erf(v/math.Sqrt2)),
				0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v))),
				math.Max(v, 0),
				v / (1 + math.Exp(-v)),
			}
			for k, o := range out {
				if got := flat(o)[i]; math.Abs(got-want[k]) > 2e-6 {
					t.Errorf("activation %d at %g: got %g want %g", k, v, got, want[k])
				}
			}
		}
		// The tanh form really is an approximation: it differs from the exact GELU.
		if d := math.Abs(flat(out[0])[1] - flat(out[1])[1]); d < 1e-5 {
			t.Errorf("GELU and GELUTanh agree to %g at -1.5; expected a visible difference", d)
		}
	})
}

// TestPooling checks MaxPool2d ignores padding and both AvgPool2d padding conventions.
func TestPooling(t *testing.T) {
	// One 3×3 image, one channel, values 1..9, all negative to show padding never wins max.
	data := make([]float32, 9)
	for i := range data {
		data[i] = -float32(i + 1)
	}
	x := tensors.FromFlatDataAndDimensions(data, 1, 3, 3, 1)
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		exec, err := graph.NewExec(b.Backend, func(x *graph.Node) []*graph.Node {
			return []*graph.Node{
				MaxPool2d(x, 3, 1, 1),
				AvgPool2d(x, 3, 1, 1, false),
				AvgPool2d(x, 3, 1, 1, true),
				GlobalAvgPool2d(x),
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Call(localClones(t, x)...)
		if err != nil {
			t.Fatal(err)
		}
		// Top-left output: window holds -1, -2, -4, -5 and five padded cells.
		if got := flat(out[0])[0]; got != -1 {
			t.Errorf("max pool corner = %g, want -1", got)
		}
		if got := flat(out[1])[0]; math.Abs(got-(-12.0/4)) > 1e-6 {
			t.Errorf("avg pool (exclude pad) corner = %g, want -3", got)
		}
		if got := flat(out[2])[0]; math.Abs(got-(-12.0/9)) > 1e-6 {
			t.Errorf("avg pool (include pad) corner = %g, want %g", got, -12.0/9)
		}
		if got := flat(out[3])[0]; math.Abs(got-(-5)) > 1e-6 {
			t.Errorf("global avg = %g, want -5", got)
		}
	})
}
