package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
)

// TestConvEqualsShifted1x1 asserts the paper's decomposition: a k×k convolution equals the
// sum of k² 1×1 convolutions of shifted inputs.
func TestConvEqualsShifted1x1(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	x := randTensor(r, 2, 6, 7, 5)
	cases := []struct{ k, pad int }{{3, 1}, {5, 2}, {3, 0}}
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		for _, c := range cases {
			w := randTensor(r, 4, 5, c.k, c.k)
			exec, err := graph.NewExec(b.Backend, func(x, w *graph.Node) (*graph.Node, *graph.Node) {
				return Conv2dApply(x, w, nil, Conv2dConfig{Padding: c.pad}), ConvAsShifted1x1(x, w, c.pad)
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Call(localClones(t, x, w)...)
			if err != nil {
				t.Fatal(err)
			}
			nntest.AssertClose(t, "k×k conv vs Σ shifted 1×1", out[1], out[0], 1e-5)
		}
	})
}

// TestACmixShiftInit checks the initial state: α = β = 0.5 mixing, and dep_conv holding pure
// shift kernels (output channel o reads map t at kernel position t), so the conv path starts
// as "shift the k² maps and add".
func TestACmixShiftInit(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	x := randTensor(r, 1, 6, 6, 4)
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		store := model.NewStore()
		if err := store.SetRNGStateFromSeed(5); err != nil {
			t.Fatal(err)
		}
		cfg := ACmixConfig{Out: 8, Heads: 2, KernelAtt: 3, KernelConv: 3}
		out := runModel(t, b, store, func(s *model.Scope, x *graph.Node) []*graph.Node {
			o := ACmixPaths(s, x, cfg)
			mixed := graph.Add(graph.Mul(o.Alpha, o.Attention), graph.Mul(o.Beta, o.Conv))
			return []*graph.Node{mixed, o.Attention, o.Conv}
		}, x)
		att, conv, mixed := flat(out[1]), flat(out[2]), flat(out[0])
		want := make([]float64, len(att))
		for i := range att {
			want[i] = 0.5*att[i] + 0.5*conv[i]
		}
		if d := maxDiff(mixed, want); d > 1e-5 {
			t.Errorf("ACmix != 0.5·att + 0.5·conv at init: %g", d)
		}
		dep := flat(store.GetVariable("/dep_conv/weight").MustValue())
		for o := range 8 {
			for tap := range 9 {
				for pos := range 9 {
					want := 0.0
					if pos == tap {
						want = 1
					}
					if dep[(o*9+tap)*9+pos] != want {
						t.Fatalf("dep_conv[%d, %d, %d] = %g, want %g", o, tap, pos, dep[(o*9+tap)*9+pos], want)
					}
				}
			}
		}
	})
}
