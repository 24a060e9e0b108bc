package nn

import (
	"math"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
)

// runDrop executes fn over x once per call of the returned function, with the training flag set
// as asked; the Store's RNG is seeded so the test is reproducible, and it advances between calls.
func runDrop(t *testing.T, backend compute.Backend, training bool,
	fn func(scope *model.Scope, x *graph.Node) *graph.Node) func(x func() *tensors.Tensor) []float32 {
	t.Helper()
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(42); err != nil {
		t.Fatalf("seed: %v", err)
	}
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) *graph.Node {
		scope.Store().SetTraining(x.Graph(), training)
		return fn(scope, x)
	})
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	return func(x func() *tensors.Tensor) []float32 {
		out, err := exec.Call1(x())
		if err != nil {
			t.Fatalf("exec: %v", err)
		}
		return tensors.MustCopyFlatData[float32](out)
	}
}

func meanOf(v []float32) float64 {
	s := 0.0
	for _, x := range v {
		s += float64(x)
	}
	return s / float64(len(v))
}

func TestDropoutStatistics(t *testing.T) {
	const n = 200_000
	ones := make([]float32, n)
	for i := range ones {
		ones[i] = 1
	}
	// A fresh tensor per call: a tensor materialized on one backend can't be fed to another.
	x := func() *tensors.Tensor { return tensors.FromFlatDataAndDimensions(ones, n) }
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		{
			for _, p := range []float64{0.1, 0.5, 0.8} {
				run := runDrop(t, b.Backend, true, func(s *model.Scope, x *graph.Node) *graph.Node { return Dropout(s, x, p) })
				runNaive := runDrop(t, b.Backend, true, func(s *model.Scope, x *graph.Node) *graph.Node { return DropoutNoRescale(s, x, p) })
				// Std of the mean of n draws of {0, 1/(1-p)}: sqrt(p/((1-p)n)); allow 5 sigma.
				tol := 5 * math.Sqrt(p/((1-p)*n))
				first := run(x)
				var means []float64
				for draw := range 5 {
					y := first
					if draw > 0 {
						y = run(x)
					}
					zeros := 0
					for _, v := range y {
						switch {
						case v == 0:
							zeros++
						case math.Abs(float64(v)-1/(1-p)) > 1e-5:
							t.Fatalf("p=%g: kept value %g, want 1/(1-p)=%g", p, v, 1/(1-p))
						}
					}
					if frac := float64(zeros) / n; math.Abs(frac-p) > 5*math.Sqrt(p*(1-p)/n) {
						t.Errorf("p=%g: dropped fraction %.4f", p, frac)
					}
					means = append(means, meanOf(y))
				}
				for _, m := range means {
					if math.Abs(m-1) > tol {
						t.Errorf("p=%g: mean %.4f, want 1±%.4f", p, m, tol)
					}
				}
				// The RNG advances: a second call draws a different mask.
				second := run(x)
				same := 0
				for i := range first {
					if first[i] == second[i] {
						same++
					}
				}
				if same == n {
					t.Errorf("p=%g: two training calls drew the same mask", p)
				}
				// Without the rescale the mean shrinks to 1-p, which is what the lesson measures.
				if m := meanOf(runNaive(x)); math.Abs(m-(1-p)) > 5*math.Sqrt(p*(1-p)/n) {
					t.Errorf("p=%g: no-rescale mean %.4f, want %.4f", p, m, 1-p)
				}
			}
			// Eval: identity; p=0 and p=1 edge cases at train.
			evalOut := runDrop(t, b.Backend, false, func(s *model.Scope, x *graph.Node) *graph.Node { return Dropout(s, x, 0.5) })(x)
			if m := meanOf(evalOut); m != 1 {
				t.Errorf("eval mean %v, want exactly 1", m)
			}
			if m := meanOf(runDrop(t, b.Backend, true, func(s *model.Scope, x *graph.Node) *graph.Node { return Dropout(s, x, 1) })(x)); m != 0 {
				t.Errorf("p=1 mean %v, want 0", m)
			}
			if m := meanOf(runDrop(t, b.Backend, true, func(s *model.Scope, x *graph.Node) *graph.Node { return Dropout(s, x, 0) })(x)); m != 1 {
				t.Errorf("p=0 mean %v, want 1", m)
			}
		}
	})
}

func TestDropPathDropsWholeSamples(t *testing.T) {
	const batch, width = 20_000, 12
	data := make([]float32, batch*width)
	for i := range data {
		data[i] = 1 + float32(i%width) // varies along a sample so "whole sample" is meaningful
	}
	x := func() *tensors.Tensor { return tensors.FromFlatDataAndDimensions(data, batch, 3, width/3) }
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		{
			const p = 0.25
			y := runDrop(t, b.Backend, true, func(s *model.Scope, x *graph.Node) *graph.Node { return DropPath(s, x, p) })(x)
			dropped := 0
			ratioSum := 0.0
			for i := range batch {
				row, in := y[i*width:(i+1)*width], data[i*width:(i+1)*width]
				r := float64(row[0] / in[0])
				for j := range row {
					if math.Abs(float64(row[j]/in[j])-r) > 1e-5 {
						t.Fatalf("sample %d is partly dropped: %v", i, row)
					}
				}
				switch {
				case r == 0:
					dropped++
				case math.Abs(r-1/(1-p)) > 1e-5:
					t.Fatalf("sample %d kept with scale %g, want %g", i, r, 1/(1-p))
				}
				ratioSum += r
			}
			if frac := float64(dropped) / batch; math.Abs(frac-p) > 5*math.Sqrt(p*(1-p)/batch) {
				t.Errorf("dropped %.4f of samples, want %.2f", frac, p)
			}
			if m := ratioSum / batch; math.Abs(m-1) > 5*math.Sqrt(p/((1-p)*batch)) {
				t.Errorf("mean scale %.4f, want 1", m)
			}
			yEval := runDrop(t, b.Backend, false, func(s *model.Scope, x *graph.Node) *graph.Node { return DropPath(s, x, p) })(x)
			for i := range data {
				if yEval[i] != data[i] {
					t.Fatalf("eval DropPath is not the identity at %d: %g vs %g", i, yEval[i], data[i])
				}
			}
		}
	})
}

func TestDropPathRatesMatchTimm(t *testing.T) {
	// timm: calculate_drop_path_rates(0.1, [2, 2, 6, 2], stagewise=True) == torch.linspace(0, 0.1, 12).split(...)
	got := DropPathRates(0.1, 2, 2, 6, 2)
	if len(got) != 4 || len(got[2]) != 6 {
		t.Fatalf("shape %v", got)
	}
	if got[0][0] != 0 || math.Abs(got[3][1]-0.1) > 1e-12 || math.Abs(got[1][0]-0.2/11) > 1e-12 {
		t.Errorf("rates %v", got)
	}
}
