package nn

import (
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
)

func TestFixtureResNetBlocks(t *testing.T) {
	cases := []struct {
		config string
		fn     ModelFn
	}{
		{"basic_s1", func(s *model.Scope, x *graph.Node) *graph.Node { return BasicBlock(s, x, BasicBlockConfig{Planes: 8}) }},
		{"basic_s2", func(s *model.Scope, x *graph.Node) *graph.Node {
			return BasicBlock(s, x, BasicBlockConfig{Planes: 16, Stride: 2})
		}},
		{"bottleneck_s1", func(s *model.Scope, x *graph.Node) *graph.Node { return Bottleneck(s, x, BottleneckConfig{Planes: 4}) }},
		{"bottleneck_s2", func(s *model.Scope, x *graph.Node) *graph.Node {
			return Bottleneck(s, x, BottleneckConfig{Planes: 4, Stride: 2})
		}},
		{"resnext_s1", func(s *model.Scope, x *graph.Node) *graph.Node {
			return Bottleneck(s, x, BottleneckConfig{Planes: 16, Cardinality: 4, BaseWidth: 16})
		}},
		{"resnext_s2", func(s *model.Scope, x *graph.Node) *graph.Node {
			return Bottleneck(s, x, BottleneckConfig{Planes: 16, Stride: 2, Cardinality: 4, BaseWidth: 16})
		}},
	}
	for _, c := range cases {
		t.Run(c.config, func(t *testing.T) { checkFixture(t, "resnet", c.config, c.fn, 1e-4) })
	}
}

// TestResNeXtFormsEqual asserts the paper's Fig. 3 equivalence with timm's weights: the sum
// of Cardinality full paths (3a), concatenated two-layer paths + one 1×1 (3b, the notes'
// variant 1) and the grouped convolution (3c, variant 2) give the same output.
func TestResNeXtFormsEqual(t *testing.T) {
	for _, config := range []string{"resnext_s1", "resnext_s2"} {
		f, x := fixtureInput(t, "resnet", config)
		cfg := BottleneckConfig{Planes: 16, Cardinality: 4, BaseWidth: 16}
		if config == "resnext_s2" {
			cfg.Stride = 2
		}
		nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
			store := model.NewStore()
			setVars(t, store, f.Tensors)
			out := runModel(t, b, store, func(s *model.Scope, x *graph.Node) []*graph.Node {
				return []*graph.Node{
					ResNeXtBranches(s.ResetVisited(), x, cfg, ResNeXtGrouped),
					ResNeXtBranches(s.ResetVisited(), x, cfg, ResNeXtSumOfPaths),
					ResNeXtBranches(s.ResetVisited(), x, cfg, ResNeXtConcat),
				}
			}, x)
			nntest.AssertClose(t, config+" fig3a vs fig3c", out[1], out[0], 1e-4)
			nntest.AssertClose(t, config+" fig3b vs fig3c", out[2], out[0], 1e-4)
			if nntest.MaxAbs(out[0]) < 0.1 {
				t.Errorf("outputs near zero (%g)", nntest.MaxAbs(out[0]))
			}
		})
	}
}
