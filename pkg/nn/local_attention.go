package nn

import (
	"math"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// This file: sliding-window self-attention (Ramaswami/Ramachandran et al. 2019, "Stand-Alone
// Self-Attention in Vision Models"; the "sliding window" approach the Swin paper, §3.2, compares
// its shifted windows with): every pixel attends to the M×M neighbourhood centred on it, so
// every query has its own key set — where W-MSA's queries of one window share one.

// SlidingWindowAttentionConfig configures SlidingWindowAttention.
type SlidingWindowAttentionConfig struct {
	NumHeads int
	Window   int // M, odd
	QKVBias  bool
}

// SlidingWindowAttention is multi-head self-attention of each pixel of x [B, H, W, C] over the
// M×M pixels around it: q, k, v from one linear layer ("qkv", [3C, C], as W-MSA), the keys and
// values of each neighbourhood gathered from the zero-padded map (padded positions masked out of
// the softmax), softmax(q·kᵀ/√d)·v per head, and the output projection ("proj"). It has W-MSA's
// parameters (without the relative position bias) and, per token, the same 2·M²·C
// multiply-accumulates for the attention itself; it differs in memory traffic: every query
// reads its own M² keys and values.
func SlidingWindowAttention(scope *model.Scope, x *graph.Node, cfg SlidingWindowAttentionConfig) *graph.Node {
	dims := x.Shape().Dimensions
	b, h, w, c := dims[0], dims[1], dims[2], dims[3]
	m, heads := cfg.Window, cfg.NumHeads
	if m%2 == 0 || heads <= 0 || c%heads != 0 {
		exceptions.Panicf("nn.SlidingWindowAttention(%s): window %d must be odd and %d channels divisible into %d heads", scope.Scope(), m, c, heads)
	}
	d, p := c/heads, m/2
	qkv := Linear(scope.In("qkv"), x, 3*c, cfg.QKVBias) // [B, H, W, 3C]
	pick := func(i int) *graph.Node {
		return graph.Slice(qkv, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(i*c, (i+1)*c))
	}
	q := graph.Reshape(graph.MulScalar(pick(0), 1/math.Sqrt(float64(d))), b, h, w, 1, heads, d)
	kWin := graph.Reshape(windows(PadHW(pick(1), 0, p, p, p, p), m, h, w), b, h, w, m*m, heads, d)
	vWin := graph.Reshape(windows(PadHW(pick(2), 0, p, p, p, p), m, h, w), b, h, w, m*m, heads, d)
	logits := graph.ReduceSum(graph.Mul(q, kWin), 5) // [B, H, W, M², heads]
	// −inf (a large negative number) where the window hangs over the border.
	inside := make([]float32, h*w*m*m)
	for i := range h {
		for j := range w {
			for t := range m * m {
				y, x := i+t/m-p, j+t%m-p
				if y < 0 || y >= h || x < 0 || x >= w {
					inside[(i*w+j)*m*m+t] = -1e9
				}
			}
		}
	}
	mask := graph.ConvertDType(graph.Const(x.Graph(), tensors.FromFlatDataAndDimensions(inside, 1, h, w, m*m, 1)), x.DType())
	att := graph.Softmax(graph.Add(logits, mask), 3)
	y := graph.Reshape(graph.ReduceSum(graph.Mul(graph.InsertAxes(att, 5), vWin), 3), b, h, w, c)
	return Linear(scope.In("proj"), y, c, true)
}
