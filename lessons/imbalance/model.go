package imbalance

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn"
)

// Net is the lesson's classifier: one 3×3 stride-2 convolution + BatchNorm + ReLU per width
// (28 → 14 → 7 pixels for MNIST with two widths, 64 → 32 → 16 → 8 for phantoms with three),
// then a linear layer on the flattened map. Small on purpose: the lesson is about which
// samples it trains on, and each run compiles in seconds.
type Net struct {
	Widths []int `json:"widths" help:"channels of the stride-2 convolutions"`
}

// Validate reports a Net that cannot be built.
func (n Net) Validate() error {
	if len(n.Widths) == 0 {
		return fmt.Errorf("widths: want at least one convolution")
	}
	for _, w := range n.Widths {
		if w <= 0 {
			return fmt.Errorf("widths %v must be positive", n.Widths)
		}
	}
	return nil
}

// Logits maps images [B, H, W, C] to logits [B, classes].
func (n Net) Logits(scope *model.Scope, x *graph.Node, classes int) *graph.Node {
	for i, w := range n.Widths {
		s := scope.In("conv%d", i+1)
		x = nn.Conv2d(s.In("conv"), x, nn.Conv2dConfig{Out: w, Kernel: 3, Stride: 2, Padding: 1})
		x = nn.ReLU(nn.BatchNorm2d(s.In("bn"), x, nn.BatchNormConfig{}))
	}
	d := x.Shape().Dimensions
	return nn.Linear(scope.In("fc"), graph.Reshape(x, d[0], d[1]*d[2]*d[3]), classes, true)
}
