package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
)

// TestRaterLatents checks the lookup and the initial spread: InitStd 0 gives a zero table,
// InitStd s a table whose entries have std ≈ s; AddLatent adds W·z + b at every position.
func TestRaterLatents(t *testing.T) {
	b := goBackend(t)
	for _, std := range []float64{0, 0.1, 1} {
		store := model.NewStore()
		store.SetParam(model.ParamInitialSeed, int64(7))
		ids := tensors.FromFlatDataAndDimensions([]int32{0, 2, 2}, 3)
		out, err := model.MustNewExec(b, store, func(s *model.Scope, id *graph.Node) *graph.Node {
			return RaterLatents(s, id, RaterEmbeddingConfig{NumRaters: 400, Dim: 50, InitStd: std})
		}).Call(ids)
		if err != nil {
			t.Fatal(err)
		}
		table := flat(store.GetVariable("/weight").MustValue())
		var ss float64
		for _, v := range table {
			ss += v * v
		}
		got := math.Sqrt(ss / float64(len(table)))
		if math.Abs(got-std) > 0.05*std+1e-12 {
			t.Errorf("InitStd %g: table std %g", std, got)
		}
		z := flat(out[0])
		for d := range 50 {
			if z[d] != table[d] || z[50+d] != table[2*50+d] || z[100+d] != z[50+d] {
				t.Fatalf("InitStd %g: lookup does not return the raters' rows", std)
			}
		}
	}
	r := rand.New(rand.NewPCG(51, 52))
	x, z := randTensor(r, 2, 3, 4, 5), randTensor(r, 2, 6)
	nntest.ForEachBackend(t, func(t *testing.T, bk nntest.Backend) {
		store := model.NewStore()
		w, bias := randTensor(r, 5, 6), randTensor(r, 5)
		setVars(t, store, map[string]*tensors.Tensor{"proj.weight": w, "proj.bias": bias})
		out := runModel(t, bk, store, func(s *model.Scope, x, z *graph.Node) *graph.Node { return AddLatent(s.In("proj"), x, z) }, x, z)
		xf, zf, wf, bf := flat(x), flat(z), flat(w), flat(bias)
		want := make([]float64, len(xf))
		for i := range xf {
			smp, c := i/(3*4*5), i%5
			v := bf[c]
			for d := range 6 {
				v += wf[c*6+d] * zf[smp*6+d]
			}
			want[i] = xf[i] + v
		}
		if d := maxDiff(flat(out[0]), want); d > 1e-5 {
			t.Errorf("AddLatent: max |diff| %g", d)
		}
	})
}

// TestUNetHook checks the hook is called on the bottleneck and on every decoder level, in
// order, and that its result is what the network goes on with.
func TestUNetHook(t *testing.T) {
	b := goBackend(t)
	var levels []int
	cfg := UNetConfig{InChannels: 1, NumClasses: 1, Base: 4, Levels: 3}
	cfg.Hook = func(l int, x *graph.Node) *graph.Node {
		levels = append(levels, l)
		return graph.MulScalar(x, 0) // the decoder then sees zeros: the output is the head's bias
	}
	store := model.NewStore()
	out, err := model.MustNewExec(b, store, func(s *model.Scope, x *graph.Node) *graph.Node { return UNet(cfg)(s, x) }).
		Call(tensors.FromShape(shapes.Make(dtypes.Float32, 1, 8, 8, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(levels) != 3 || levels[0] != 2 || levels[1] != 1 || levels[2] != 0 {
		t.Errorf("hook called on levels %v, want [2 1 0]", levels)
	}
	bias := flat(store.GetVariable("/head/bias").MustValue())[0]
	for _, v := range flat(out[0]) {
		if v != bias {
			t.Fatalf("output %g, want the head's bias %g everywhere (the last hook zeroed the decoder)", v, bias)
		}
	}
}
