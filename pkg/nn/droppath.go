package nn

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// DropPath is stochastic depth (Huang et al., 2016, "Deep Networks with Stochastic Depth"), as
// timm's DropPath applies it to residual branches: during training each sample of the batch
// (axis 0) keeps its whole branch output with probability 1−p, scaled by 1/(1−p), or has it
// zeroed entirely; the residual sum x + DropPath(f(x)) then skips the block for that sample.
// During evaluation it is the identity.
//
// Dropout drops single activations; DropPath drops a whole residual path for a sample, which is
// why Swin/ViT configs carry both a drop rate and a drop-path rate.
//
// GoMLX's layers.DropPath does not rescale by 1/(1−p); this one matches timm (scale_by_keep=True).
func DropPath(scope *model.Scope, x *graph.Node, p float64) *graph.Node {
	return dropPath(scope, x, p, true)
}

// DropPathNoRescale is [DropPath] without the 1/(1−p) factor (timm's scale_by_keep=False).
func DropPathNoRescale(scope *model.Scope, x *graph.Node, p float64) *graph.Node {
	return dropPath(scope, x, p, false)
}

func dropPath(scope *model.Scope, x *graph.Node, p float64, rescale bool) *graph.Node {
	checkDropProbability("DropPath", p)
	g := x.Graph()
	if p == 0 || !scope.IsTraining(g) {
		return x
	}
	// One draw per sample, broadcast over every other axis.
	dims := make([]int, x.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[0] = x.Shape().Dimensions[0]
	keep := keepMask(scope, x, dims, p)
	if rescale && p < 1 {
		keep = graph.DivScalar(keep, 1-p)
	}
	return graph.Mul(x, keep)
}

// DropPathRates returns timm's stochastic-depth schedule (calculate_drop_path_rates): the rate
// grows linearly from 0 at the first block to maxRate at the last block, counted over all stages,
// and is returned split per stage (one slice per entry of depths).
func DropPathRates(maxRate float64, depths ...int) [][]float64 {
	total := 0
	for _, d := range depths {
		total += d
	}
	rates := make([][]float64, len(depths))
	i := 0
	for s, d := range depths {
		rates[s] = make([]float64, d)
		for j := range d {
			if total > 1 {
				rates[s][j] = maxRate * float64(i) / float64(total-1)
			}
			i++
		}
	}
	return rates
}
