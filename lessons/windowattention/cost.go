package windowattention

import (
	"fmt"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn"
)

// CostPoint compares global multi-head self-attention (MSA) with window attention (W-MSA) on
// one h×w map of C channels with M×M windows, in multiply-adds: the paper's formulas (§3.2,
// Eq. 1–2, nn.MSACost / nn.WMSACost) and the multiply-adds nn.CountMACs counts in the graphs
// nn.Attention and nn.WindowAttention build.
type CostPoint struct {
	// Side is h = w in tokens, Tokens = h·w.
	Side   int `display:"side h = w"`
	Tokens int `display:"tokens hw"`
	C      int `display:"channels C"`
	M      int `display:"window M"`
	// The multiply-adds by the paper's formula and counted in the graph.
	MSAFormula  int64 `display:"MSA formula"`
	MSACounted  int64 `display:"MSA counted"`
	WMSAFormula int64 `display:"W-MSA formula"`
	WMSACounted int64 `display:"W-MSA counted"`
	// Ratio is MSA / W-MSA (formula); QuadraticShareMSA the share of 2(hw)²C in MSA's cost.
	Ratio             float64 `display:"MSA / W-MSA;format=%.1f"`
	QuadraticShareMSA float64 `display:"(hw)² share of MSA;format=%.2f"`
	// FormulaEqualsCount is true when both formulas equal the counted multiply-adds.
	FormulaEqualsCount bool `display:"formula = count"`
}

var (
	countOnce    sync.Once
	countBackend compute.Backend
	countErr     error
)

// graphBackend is the pure-Go backend, used only to build graphs for counting: it compiles
// nothing, so even a 112×112 global attention graph (12,544² logits) is built in milliseconds
// and never run.
func graphBackend() (compute.Backend, error) {
	countOnce.Do(func() { countBackend, countErr = gobackend.New("") })
	return countBackend, countErr
}

// MeasureCost builds the MSA and W-MSA graphs for each side (a multiple of m) with c channels
// and heads heads, counts their multiply-adds and compares them with the formulas.
func MeasureCost(sides []int, c, m, heads int) ([]CostPoint, error) {
	b, err := graphBackend()
	if err != nil {
		return nil, fmt.Errorf("cost: %w", err)
	}
	var out []CostPoint
	for _, s := range sides {
		if s%m != 0 {
			return nil, fmt.Errorf("cost: side %d is not a multiple of the window %d", s, m)
		}
		in := shapes.Make(nn.DType, 1, s, s, c)
		msa := func(scope *model.Scope, x *graph.Node) *graph.Node {
			return nn.Attention(scope, graph.Reshape(x, 1, s*s, c), nn.AttentionConfig{NumHeads: heads, QKVBias: true})
		}
		wmsa := func(scope *model.Scope, x *graph.Node) *graph.Node {
			return nn.WindowAttention(scope, nn.WindowPartition(x, [2]int{m, m}), nil,
				nn.WindowAttentionConfig{NumHeads: heads, WindowSize: [2]int{m, m}, QKVBias: true})
		}
		p := CostPoint{Side: s, Tokens: s * s, C: c, M: m,
			MSAFormula: nn.MSACost(s, s, c), WMSAFormula: nn.WMSACost(s, s, c, m)}
		if p.MSACounted, err = countMACs(b, msa, in); err != nil {
			return nil, err
		}
		if p.WMSACounted, err = countMACs(b, wmsa, in); err != nil {
			return nil, err
		}
		hw := float64(s * s)
		p.Ratio = float64(p.MSAFormula) / float64(p.WMSAFormula)
		p.QuadraticShareMSA = 2 * hw * hw * float64(c) / float64(p.MSAFormula)
		p.FormulaEqualsCount = p.MSAFormula == p.MSACounted && p.WMSAFormula == p.WMSACounted
		out = append(out, p)
	}
	return out, nil
}

func countMACs(b compute.Backend, fn nn.ModelFn, in shapes.Shape) (int64, error) {
	g, err := nn.Build(b, model.NewStore(), fn, in)
	if err != nil {
		return 0, err
	}
	return nn.CountMACs(g)
}

// ModelCost is the run's model's size and compute for one 28×28 image, from nn.Measure.
func ModelCost(c RunConfig) (nn.Cost, error) {
	b, err := graphBackend()
	if err != nil {
		return nn.Cost{}, err
	}
	return nn.Measure(b, nn.Swin(c.Swin()), shapes.Make(nn.DType, 1, 28, 28, 1))
}
