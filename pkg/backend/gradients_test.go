package backend

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// TestRsqrtGradient checks the registered rule against the analytic derivative
// d/dx Σ w·x^(-1/2) = -½·w·x^(-3/2), on xla:cpu and on go.
func TestRsqrtGradient(t *testing.T) {
	cpu := realCPUPlugin(t)
	reset(t, noGPU)
	t.Setenv(EnvPlugins, filepath.Dir(cpu))
	xs := []float32{0.25, 1, 4, 9, 0.01}
	ws := []float32{1, 2, -1, 0.5, 3}
	for _, name := range []string{CPU, Go} {
		if err := Use(name); err != nil {
			t.Fatal(err)
		}
		exec, err := graph.NewExec(MustDefault(), func(x, w *graph.Node) *graph.Node {
			return graph.Gradient(graph.ReduceAllSum(graph.Mul(w, graph.Rsqrt(x))), x)[0]
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Call1(tensors.FromFlatDataAndDimensions(xs, len(xs)), tensors.FromFlatDataAndDimensions(ws, len(ws)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := tensors.MustCopyFlatData[float32](out)
		for i, x := range xs {
			want := -0.5 * float64(ws[i]) * math.Pow(float64(x), -1.5)
			if math.Abs(float64(got[i])-want) > 1e-5*math.Max(1, math.Abs(want)) {
				t.Errorf("%s: d/dx at x=%g, w=%g: got %g, want %g", name, x, ws[i], got[i], want)
			}
		}
	}
}
