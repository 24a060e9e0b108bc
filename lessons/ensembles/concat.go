package ensembles

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/nn"
)

// Combine is one way of joining a block's input with what it computes, measured on real feature
// maps: ResNet's addition or DenseNet's concatenation.
type Combine struct {
	Form string `display:"how the input is joined"`
	// Layers is the number of 3×3 convs; Params the trainable parameters.
	Layers int   `display:"3×3 convs"`
	Params int64 `display:"parameters"`
	// In and Out are the channels before and after.
	In  int `display:"channels in"`
	Out int `display:"channels out"`
	// InputKept is max |output's first In channels − input|: 0 when the input passes through
	// untouched. FirstLayerKept is the same for the first layer's own output.
	InputKept      float64 `display:"input changed by (max)"`
	FirstLayerKept float64 `display:"first layer's output changed by (max)"`
}

// ConcatVsAdd runs digits [B, 28, 28, 1] through a fixed 3×3 stride-2 stem (c channels), then
// through `layers` ResNet basic blocks at c channels (2·layers convs) and through a dense block of
// 2·layers dense layers of growth k (2·layers 3×3 convs too), at initialisation, on backend, and
// measures what each keeps of its input and of its first layer's output.
func ConcatVsAdd(backend compute.Backend, images *tensors.Tensor, c, layers, k int) ([]Combine, error) {
	return lesson.Catch("concatenation vs addition", func() ([]Combine, error) {
		res := Combine{Form: "ResNet: x + F(x)", Layers: 2 * layers, In: c, Out: c}
		den := Combine{Form: "DenseNet: concat(x, F(x))", Layers: 2 * layers, In: c, Out: c + 2*layers*k}
		store := model.NewStore()
		defer store.Finalize()
		exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
			x = nn.Conv2d(scope.In("stem"), x, nn.Conv2dConfig{Out: c, Kernel: 3, Stride: 2, Padding: 1, Bias: true})
			diff := func(a, b *graph.Node) *graph.Node { return graph.ReduceAllMax(graph.Abs(graph.Sub(a, b))) }
			// Addition: keep the first block's output to see what later blocks do to it.
			r := x
			var first *graph.Node
			resScope := scope.In("res")
			for i := range layers {
				r = nn.BasicBlock(resScope.In("%d", i), r, nn.BasicBlockConfig{Planes: c})
				if i == 0 {
					first = r
				}
			}
			// Concatenation.
			dense := scope.In("dense")
			d := x
			var firstD *graph.Node
			for i := range 2 * layers {
				y := nn.DenseLayer(dense.In("denselayer%d", i+1), d, k, 0)
				if i == 0 {
					firstD = y
				}
				d = graph.Concatenate([]*graph.Node{d, y}, 3)
			}
			inD := graph.Slice(d, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(0, c))
			firstInD := graph.Slice(d, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(c, c+k))
			if d.Shape().Dimensions[3] != den.Out || r.Shape().Dimensions[3] != res.Out {
				panic(fmt.Errorf("channels: dense %d, residual %d", d.Shape().Dimensions[3], r.Shape().Dimensions[3]))
			}
			// The first block's output has c channels; compare it with the final one.
			return []*graph.Node{diff(r, x), diff(r, first), diff(inD, x), diff(firstInD, firstD)}
		})
		if err != nil {
			return nil, err
		}
		defer exec.Finalize()
		out, err := exec.Call(images)
		if err != nil {
			return nil, err
		}
		v := func(i int) float64 { return shapes.ConvertTo[float64](out[i].Value()) }
		res.InputKept, res.FirstLayerKept, den.InputKept, den.FirstLayerKept = v(0), v(1), v(2), v(3)
		for v := range store.IterVariables() {
			if !v.Trainable {
				continue
			}
			switch p := v.Path(); {
			case len(p) > 5 && p[:5] == "/res/":
				res.Params += int64(v.Shape().Size())
			case len(p) > 7 && p[:7] == "/dense/":
				den.Params += int64(v.Shape().Size())
			}
		}
		return []Combine{res, den}, nil
	})
}

// countingBackend is the kit's pure-Go backend, for graphs that are only built and counted.
var countingBackend = lesson.CountingBackend

// CostOf is a network's parameters and multiply-accumulates on one 28×28 digit.
func CostOf(net Net) (nn.Cost, error) {
	if err := net.Validate(); err != nil {
		return nn.Cost{}, err
	}
	b, err := countingBackend()
	if err != nil {
		return nn.Cost{}, err
	}
	return nn.Measure(b, net.Logits, shapes.Make(dtypes.Float32, 1, 28, 28, 1))
}

// CostRow is one network's size and compute per digit.
type CostRow struct {
	Network string  `display:"network"`
	Params  int64   `display:"parameters"`
	MMACs   float64 `display:"MACs;unit=M;format=%.2f"`
}

// Costs counts each network on one 28×28 digit.
func Costs(nets []Net) ([]CostRow, error) {
	var out []CostRow
	for _, n := range nets {
		c, err := CostOf(n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Label(), err)
		}
		out = append(out, CostRow{Network: n.Label(), Params: c.Params, MMACs: float64(c.MACs) / 1e6})
	}
	return out, nil
}
