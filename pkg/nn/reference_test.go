package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
)

// This file holds plain-Go reference implementations (float64 loops, no GoMLX) that the
// primitive tests compare against, plus small helpers to run model functions in tests.

// randTensor returns a float32 tensor of the given dims with values in [-1, 1) from a seeded
// generator.
func randTensor(r *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(r.Float64()*2 - 1)
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

func flat(t *tensors.Tensor) []float64 {
	f := tensors.MustCopyFlatData[float32](t)
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out
}

func fromFlat64(data []float64, dims ...int) *tensors.Tensor {
	f := make([]float32, len(data))
	for i, v := range data {
		f[i] = float32(v)
	}
	return tensors.FromFlatDataAndDimensions(f, dims...)
}

// naiveConv2d is PyTorch's conv2d on x [B,H,W,Cin] (NHWC) with w [O, Cin/g, k, k].
func naiveConv2d(x []float64, xd [4]int, w []float64, wd [4]int, bias []float64, stride, pad, dil, groups int) ([]float64, [4]int) {
	B, H, W, C := xd[0], xd[1], xd[2], xd[3]
	O, Cg, K := wd[0], wd[1], wd[2]
	Og := O / groups
	Ho := (H+2*pad-dil*(K-1)-1)/stride + 1
	Wo := (W+2*pad-dil*(K-1)-1)/stride + 1
	out := make([]float64, B*Ho*Wo*O)
	for b := range B {
		for oy := range Ho {
			for ox := range Wo {
				for o := range O {
					grp := o / Og
					s := 0.0
					if bias != nil {
						s = bias[o]
					}
					for i := range Cg {
						c := grp*Cg + i
						for ky := range K {
							for kx := range K {
								iy := oy*stride - pad + ky*dil
								ix := ox*stride - pad + kx*dil
								if iy < 0 || iy >= H || ix < 0 || ix >= W {
									continue
								}
								s += x[((b*H+iy)*W+ix)*C+c] * w[((o*Cg+i)*K+ky)*K+kx]
							}
						}
					}
					out[((b*Ho+oy)*Wo+ox)*O+o] = s
				}
			}
		}
	}
	return out, [4]int{B, Ho, Wo, O}
}

// runModel builds and runs fn once on backend with the given store and inputs, returning all
// outputs.
func runModel[F model.ExecGraphFn](t *testing.T, b nntest.Backend, store *model.Store, fn F, inputs ...any) []*tensors.Tensor {
	t.Helper()
	exec, err := model.NewExec(b.Backend, store, fn)
	if err != nil {
		t.Fatalf("new exec: %v", err)
	}
	out, err := exec.Call(localClones(t, inputs...)...)
	if err != nil {
		t.Fatalf("call on %s: %v", b.Name, err)
	}
	return out
}

// setVars loads a state dict (non-strict: creating variables), failing the test on error.
func setVars(t *testing.T, store *model.Store, sd map[string]*tensors.Tensor) {
	t.Helper()
	if err := LoadStateDict(store, sd, false); err != nil {
		t.Fatal(err)
	}
}

func maxDiff(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		d := math.Abs(a[i] - b[i])
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = max(m, d)
	}
	return m
}

// localClones copies tensor arguments so the same test input can be fed to several backends
// (a tensor placed on one backend cannot be used by another).
func localClones(t *testing.T, inputs ...any) []any {
	t.Helper()
	out := make([]any, len(inputs))
	for i, in := range inputs {
		if tt, ok := in.(*tensors.Tensor); ok {
			c, err := tt.LocalClone()
			if err != nil {
				t.Fatal(err)
			}
			out[i] = c
			continue
		}
		out[i] = in
	}
	return out
}
