package windowattention

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/nn"
)

// MergingStats answers the notes' guess that patch merging "could also be a convolution"
// (后者自认为也可以用卷积).
type MergingStats struct {
	// In and Out are the shapes before and after nn.PatchMerging ([B, H, W, C] → [B, H/2, W/2, 2C]).
	In, Out []int
	// Concat is the width of the 2×2 concatenation (4C) the LayerNorm and the reduction see.
	Concat int
	// MaxDiff is the largest |difference| between nn.PatchMerging and the convolution form:
	// normalize each 2×2×C group, then a 2×2 stride-2 convolution whose kernel is the reduction
	// weight times the LayerNorm scale (and whose bias is the reduction of the LayerNorm shift).
	MaxDiff float64
}

// MergingAsConv builds nn.PatchMerging with fresh random weights on x [B, H, W, C] (H, W even)
// and computes the same thing as a convolution, returning both shapes and the difference.
func MergingAsConv(b compute.Backend, x *tensors.Tensor) (MergingStats, error) {
	return lesson.Catch("windowattention: merging as conv", func() (MergingStats, error) { return mergingAsConv(b, x) })
}

func mergingAsConv(b compute.Backend, x *tensors.Tensor) (st MergingStats, err error) {
	d := x.Shape().Dimensions
	if len(d) != 4 || d[1]%2 != 0 || d[2]%2 != 0 {
		return st, fmt.Errorf("needs [B, even H, even W, C], got %v", d)
	}
	c := d[3]
	fn := func(scope *model.Scope, x *graph.Node) []*graph.Node {
		g := x.Graph()
		// Give the LayerNorm a non-trivial affine (it starts at weight 1, bias 0), so that
		// folding it into the kernel is really tested.
		gv, bv := make([]float32, 4*c), make([]float32, 4*c)
		for i := range gv {
			gv[i], bv[i] = float32(1+0.5*math.Sin(float64(i))), float32(0.3*math.Cos(float64(i)))
		}
		norm := scope.At("merge").At("norm")
		norm.VariableWithValue("weight", gv)
		norm.VariableWithValue("bias", bv)
		merged := nn.PatchMerging(scope.In("merge"), x, 2*c, 0)
		at := scope.At("merge")
		w := at.At("reduction").GetVariable("weight").NodeValue(g) // [2C, 4C]
		gamma := at.At("norm").GetVariable("weight").NodeValue(g)  // [4C]
		beta := at.At("norm").GetVariable("bias").NodeValue(g)     // [4C]

		// Normalize each 2×2×C group (what the LayerNorm over the 4C concatenation does).
		bsz, h, wd := d[0], d[1], d[2]
		xr := graph.Reshape(x, bsz, h/2, 2, wd/2, 2, c)
		mean := graph.ReduceAndKeep(xr, graph.ReduceMean, 2, 4, 5)
		cent := graph.Sub(xr, mean)
		variance := graph.ReduceAndKeep(graph.Square(cent), graph.ReduceMean, 2, 4, 5)
		z := graph.Reshape(graph.Div(cent, graph.Sqrt(graph.AddScalar(variance, 1e-5))), bsz, h, wd, c)

		// The concatenation index is (col offset·2 + row offset)·C + channel (timm's x0, x1, x2,
		// x3 order), so the kernel [2C, C, row, col] is the scaled weight viewed as
		// [2C, col, row, C] and transposed.
		ws := graph.Mul(w, graph.ExpandLeftToRank(gamma, 2))
		kernel := graph.TransposeAllAxes(graph.Reshape(ws, 2*c, 2, 2, c), 0, 3, 2, 1)
		bias := graph.Einsum("oi,i->o", w, beta)
		conv := nn.Conv2dApply(z, kernel, bias, nn.Conv2dConfig{Stride: 2})
		return []*graph.Node{merged, conv}
	}
	out, err := model.CallOnceN(b, model.NewStore(), fn, x)
	if err != nil {
		return st, err
	}
	a, err := tensors.CopyFlatData[float32](out[0])
	if err != nil {
		return st, err
	}
	v, err := tensors.CopyFlatData[float32](out[1])
	if err != nil {
		return st, err
	}
	for i := range a {
		st.MaxDiff = math.Max(st.MaxDiff, math.Abs(float64(a[i]-v[i])))
	}
	st.In, st.Out, st.Concat = d, out[0].Shape().Dimensions, 4*c
	return st, nil
}
