package nn

import (
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
)

// resNeXtFixtures are the grouped bottlenecks of the resnet fixtures. resnext_w6 has
// ⌊8·20/64⌋ = 2 channels per group (2.5 rounded down, as timm and the paper's Table 1 do).
var resNeXtFixtures = map[string]BottleneckConfig{
	"resnext_s1": {Planes: 16, Cardinality: 4, BaseWidth: 16},
	"resnext_s2": {Planes: 16, Stride: 2, Cardinality: 4, BaseWidth: 16},
	"resnext_w6": {Planes: 8, Cardinality: 3, BaseWidth: 20},
}

// TestResNeXtFormsEqual asserts the paper's Fig. 3 equivalence with timm's weights: the sum
// of Cardinality full paths (3a), concatenated two-layer paths + one 1×1 (3b, the notes'
// variant 1) and the grouped convolution (3c, variant 2) give the same output.
func TestResNeXtFormsEqual(t *testing.T) {
	for config, cfg := range resNeXtFixtures {
		f := loadFixture(t, "resnet/"+config)
		x := f.input(t, "")
		nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
			store := f.store(t)
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
