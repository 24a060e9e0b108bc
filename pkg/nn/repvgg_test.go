package nn

import (
	"strings"
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

// TestRepVGGPlainBlock checks the single-branch baseline: it reads only conv_kxk's variables
// of a trained (fixture) block, differs from the three-branch block, and fuses to one conv
// with the same output.
func TestRepVGGPlainBlock(t *testing.T) {
	f := loadFixture(t, "repvgg/id_s1")
	x := f.input(t, "")
	in := x.Shape().Dimensions[3]
	cfg := RepVGGBlockConfig{Out: 8, Plain: true}
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		store := f.store(t)
		if err := RepVGGReparameterize(b.Backend, store, "/", in, cfg); err != nil {
			t.Fatal(err)
		}
		fused, full := cfg, cfg
		fused.Fused = true
		full.Plain = false
		out := runModel(t, b, store, func(s *model.Scope, x *graph.Node) []*graph.Node {
			return []*graph.Node{RepVGGBlock(s.ResetVisited(), x, cfg), RepVGGBlock(s.ResetVisited(), x, fused),
				RepVGGBlock(s.ResetVisited(), x, full)}
		}, x)
		nntest.AssertClose(t, "plain fused vs unfused", out[1], out[0], 1e-4)
		if d := nntest.MaxAbsDiff(t, out[0], out[2]); d < 0.1 {
			t.Errorf("plain block equals the three-branch block (max diff %g): the 1×1 and identity branches are not left out", d)
		}
	})
	vars := map[string]bool{}
	store := model.NewStore()
	if _, err := Build(goBackend(t), store, func(s *model.Scope, x *graph.Node) *graph.Node {
		return RepVGGBlock(s, x, cfg)
	}, x.Shape()); err != nil {
		t.Fatal(err)
	}
	for v := range store.IterVariables() {
		vars[v.Path()] = true
	}
	for p := range vars {
		if !strings.HasPrefix(p, "/conv_kxk/") {
			t.Errorf("plain block has variable %s", p)
		}
	}
}
