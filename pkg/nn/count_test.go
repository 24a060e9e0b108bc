package nn

import (
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// TestMeasureCountsByFormula checks params and MACs against hand-counted formulas for a
// model mixing a dense conv, a strided grouped conv, BN, and a linear layer on tokens.
func TestMeasureCountsByFormula(t *testing.T) {
	net := func(scope *model.Scope, x *graph.Node) *graph.Node {
		x = Conv2d(scope.In("c1"), x, Conv2dConfig{Out: 8, Kernel: 3, Padding: 1, Bias: true}) // 9×9
		x = BatchNorm2d(scope.In("bn"), x, BatchNormConfig{})
		x = Conv2d(scope.In("c2"), x, Conv2dConfig{Out: 16, Kernel: 3, Stride: 2, Padding: 1, Groups: 4}) // 5×5
		tokens := graph.Reshape(x, 2, 25, 16)
		return Linear(scope.In("fc"), tokens, 10, false)
	}
	c, err := Measure(goBackend(t), net, shapes.Make(dtypes.Float32, 2, 9, 9, 3))
	if err != nil {
		t.Fatal(err)
	}
	wantParams := int64(8*3*9 + 8 + 2*8 + 16*2*9 + 10*16)
	wantBuffers := int64(2 * 8)
	wantMACs := int64(2*9*9*8*(3*9) + 2*5*5*16*(8/4*9) + 2*25*10*16)
	if c.Params != wantParams || c.Buffers != wantBuffers {
		t.Errorf("params %d buffers %d, want %d and %d", c.Params, c.Buffers, wantParams, wantBuffers)
	}
	if c.MACs != wantMACs || c.FLOPs != 2*wantMACs {
		t.Errorf("MACs %d FLOPs %d, want %d and %d", c.MACs, c.FLOPs, wantMACs, 2*wantMACs)
	}
	t.Log(c)
}
