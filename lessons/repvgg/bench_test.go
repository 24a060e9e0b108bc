package repvgg

import (
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/backend"
	"github.com/gostudy/gostudy/pkg/nn"
)

// BenchmarkInference times one batch of 64 digits through the lesson's RepVGG network as
// trained (three branches per layer) and as deployed (one fused 3×3 conv per layer), on the
// default backend: `go test -bench Inference ./lessons/repvgg/` prints the two side by side;
// their ratio is the speed-up of the fusion on this machine.
func BenchmarkInference(b *testing.B) {
	be, err := backend.Default()
	if err != nil {
		b.Fatal(err)
	}
	cfg := ForBudget(lesson.Test).Run
	store := trainedLike(b, be, cfg)
	if err := nn.RepVGGReparameterizeNet(be, store, cfg.RepVGGConfig(10, false)); err != nil {
		b.Fatal(err)
	}
	images, _, err := lesson.Digits(testSet(b), 0, 64)
	if err != nil {
		b.Fatal(err)
	}
	for _, form := range []struct {
		name  string
		fused bool
	}{{"trained", false}, {"fused", true}} {
		b.Run(form.name, func(b *testing.B) {
			fn := nn.RepVGGNet(cfg.RepVGGConfig(10, form.fused))
			exec, err := model.NewExec(be, store, func(s *model.Scope, x *graph.Node) *graph.Node { return fn(s, x) })
			if err != nil {
				b.Fatal(err)
			}
			defer exec.Finalize()
			if _, err := exec.Call1(images); err != nil { // compile outside the timing
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				out, err := exec.Call1(images)
				if err != nil {
					b.Fatal(err)
				}
				out.Value() // wait for the result
				out.FinalizeAll()
			}
		})
	}
}
