package nn

import (
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
)

var repVGGFixtures = map[string]RepVGGBlockConfig{
	"id_s1":    {Out: 8},
	"s2":       {Out: 16, Stride: 2},
	"group_s1": {Out: 8, Groups: 2},
}

// TestRepVGGFusedEqualsUnfused fuses each fixture block in Go, checks the kernel and bias
// against timm's reparameterize(), and checks the single fused conv reproduces the
// three-branch block's output.
func TestRepVGGFusedEqualsUnfused(t *testing.T) {
	for config, cfg := range repVGGFixtures {
		f := loadFixture(t, "repvgg/"+config)
		x := f.input(t, "")
		in := x.Shape().Dimensions[3]
		nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
			store := f.store(t)
			if err := RepVGGReparameterize(b.Backend, store, "/blk", in, cfg); err == nil {
				t.Fatal("reparameterizing a scope without variables should fail")
			}
			if err := RepVGGReparameterize(b.Backend, store, "/", in, cfg); err != nil {
				t.Fatal(err)
			}
			nntest.AssertClose(t, config+" fused weight vs timm", store.GetVariable("/reparam_conv/weight").MustValue(), f.Tensors["__fused_weight__"], 1e-5)
			nntest.AssertClose(t, config+" fused bias vs timm", store.GetVariable("/reparam_conv/bias").MustValue(), f.Tensors["__fused_bias__"], 1e-5)
			fusedCfg := cfg
			fusedCfg.Fused = true
			out := runModel(t, b, store, func(s *model.Scope, x *graph.Node) []*graph.Node {
				return []*graph.Node{RepVGGBlock(s.ResetVisited(), x, cfg), RepVGGBlock(s.ResetVisited(), x, fusedCfg)}
			}, x)
			nntest.AssertClose(t, config+" fused vs unfused", out[1], out[0], 1e-4)
			if nntest.MaxAbs(out[0]) < 0.1 {
				t.Errorf("outputs near zero")
			}
		})
	}
}
