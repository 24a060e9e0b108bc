package windowattention

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/nn"
)

// PermutationStats is the evidence that the relative position bias is the only thing that
// tells window attention where a token sits: Swin has no absolute position embedding, so
// without the bias, attention inside a window is permutation-equivariant — shuffling the
// window's tokens shuffles its outputs the same way and changes nothing else.
type PermutationStats struct {
	// Window is M; Tokens = M².
	Window, Tokens int
	// WithoutBias is max |attn(P·x) − P·attn(x)| for a token permutation P, with the bias
	// removed (nn's NoRelPosBias): float32 rounding only.
	WithoutBias float64
	// WithBias is the same with a bias table of unit scale (a trained table's order of
	// magnitude): the output now depends on where each token sits.
	WithBias float64
	// Scale is max |attn(x)|, what the differences compare with.
	Scale float64
}

// MeasurePermutation builds nn.WindowAttention for one m×m window of c channels and heads heads
// (random weights from a fixed seed, one random window of tokens), with and without the
// relative position bias, and measures [PermutationStats].
func MeasurePermutation(b compute.Backend, m, c, heads int) (PermutationStats, error) {
	return lesson.Catch("windowattention: permutation", func() (PermutationStats, error) {
		n := m * m
		st := PermutationStats{Window: m, Tokens: n}
		rng := rand.New(rand.NewPCG(4, 2))
		x := make([]float32, n*c)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		perm := rng.Perm(n)
		xp := make([]float32, n*c)
		for i, p := range perm { // token i of the permuted window is token perm[i] of the window
			copy(xp[i*c:(i+1)*c], x[p*c:(p+1)*c])
		}
		table := make([]float32, (2*m-1)*(2*m-1)*heads)
		for i := range table {
			table[i] = float32(rng.NormFloat64())
		}
		for _, noBias := range []bool{true, false} {
			store := model.NewStore()
			store.SetParam(model.ParamInitialSeed, int64(1))
			if !noBias {
				if _, err := store.CreateVariable("/attn/relative_position_bias_table",
					tensors.FromFlatDataAndDimensions(table, (2*m-1)*(2*m-1), heads)); err != nil {
					return st, err
				}
			}
			exec, err := model.NewExec(b, store, func(scope *model.Scope, tokens *graph.Node) *graph.Node {
				return nn.WindowAttention(scope.In("attn"), tokens, nil, nn.WindowAttentionConfig{
					NumHeads: heads, WindowSize: [2]int{m, m}, QKVBias: true, NoRelPosBias: noBias})
			})
			if err != nil {
				return st, err
			}
			outs := make([][]float32, 2)
			for k, in := range [][]float32{x, xp} {
				t, err := exec.Call1(tensors.FromFlatDataAndDimensions(in, 1, n, c))
				if err != nil {
					exec.Finalize()
					return st, err
				}
				if outs[k], err = tensors.CopyFlatData[float32](t); err != nil {
					exec.Finalize()
					return st, err
				}
			}
			exec.Finalize()
			store.Finalize()
			diff := 0.0
			for i, p := range perm {
				for ch := range c {
					diff = math.Max(diff, math.Abs(float64(outs[1][i*c+ch]-outs[0][p*c+ch])))
					st.Scale = math.Max(st.Scale, math.Abs(float64(outs[0][p*c+ch])))
				}
			}
			if noBias {
				st.WithoutBias = diff
			} else {
				st.WithBias = diff
			}
		}
		if st.Scale == 0 {
			return st, fmt.Errorf("the attention output is all zeros")
		}
		return st, nil
	})
}
