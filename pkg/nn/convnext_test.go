package nn

import (
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

func TestFixtureConvNeXt(t *testing.T) {
	cases := []struct {
		config string
		fn     ModelFn
	}{
		{"block_s1", func(s *model.Scope, x *graph.Node) *graph.Node { return ConvNeXtBlock(s, x, ConvNeXtBlockConfig{}) }},
		{"block_s2", func(s *model.Scope, x *graph.Node) *graph.Node {
			return ConvNeXtBlock(s, x, ConvNeXtBlockConfig{Out: 16, Stride: 2})
		}},
		{"stage_s2", func(s *model.Scope, x *graph.Node) *graph.Node {
			return ConvNeXtStage(s, x, ConvNeXtStageConfig{Out: 16, Depth: 2, Stride: 2})
		}},
		{"model_32", ConvNeXt(ConvNeXtConfig{InChannels: 1, NumClasses: 10, PatchSize: 2,
			Depths: []int{1, 1, 2, 1}, Dims: []int{8, 16, 24, 32}})},
	}
	for _, c := range cases {
		t.Run(c.config, func(t *testing.T) { checkFixture(t, "convnext", c.config, c.fn, 1e-4) })
	}
}
