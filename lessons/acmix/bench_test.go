package acmix

import (
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/backend"
	"github.com/gostudy/gostudy/pkg/nn"
)

// BenchmarkWindowAttention times one forward pass of W-MSA (non-overlapping 7×7 windows) and of
// sliding-window attention (a 7×7 neighbourhood per pixel) on the lesson's timing batch (8 maps of
// 28×28×64, 2 heads), on the default backend: `go test -bench WindowAttention ./lessons/acmix/`
// prints the two side by side. They have the same multiply-accumulates per token.
func BenchmarkWindowAttention(b *testing.B) {
	be, err := backend.Default()
	if err != nil {
		b.Fatal(err)
	}
	c := ForBudget(lesson.Full)
	const heads, m = 2, 7
	data := make([]float32, c.TimeBatch*c.TimeSide*c.TimeSide*c.TimeChannels)
	for i := range data {
		data[i] = float32((i*7919)%211-105) / 105
	}
	x := tensors.FromFlatDataAndDimensions(data, c.TimeBatch, c.TimeSide, c.TimeSide, c.TimeChannels)
	for _, form := range []struct {
		name string
		fn   nn.ModelFn
	}{
		{"wmsa", func(s *model.Scope, x *graph.Node) *graph.Node {
			w := nn.WindowAttention(s, nn.WindowPartition(x, [2]int{m, m}), nil, nn.WindowAttentionConfig{NumHeads: heads, WindowSize: [2]int{m, m}, QKVBias: true})
			return nn.WindowReverse(w, [2]int{m, m}, c.TimeSide, c.TimeSide)
		}},
		{"sliding", func(s *model.Scope, x *graph.Node) *graph.Node {
			return nn.SlidingWindowAttention(s, x, nn.SlidingWindowAttentionConfig{NumHeads: heads, Window: m, QKVBias: true})
		}},
	} {
		b.Run(form.name, func(b *testing.B) {
			exec, err := model.NewExec(be, model.NewStore(), form.fn)
			if err != nil {
				b.Fatal(err)
			}
			defer exec.Finalize()
			if _, err := exec.Call1(x); err != nil { // compile outside the timing
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				out, err := exec.Call1(x)
				if err != nil {
					b.Fatal(err)
				}
				out.Value() // wait for the result
				out.FinalizeAll()
			}
		})
	}
}
