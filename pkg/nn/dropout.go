package nn

import (
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Dropout is inverted dropout (Srivastava et al., 2014, as implemented by every modern framework):
// during training each element is kept with probability 1−p and the kept ones are divided by
// 1−p, so E[output] = input and nothing needs to change at evaluation time; during evaluation
// (scope.IsTraining(g) == false) it is the identity.
//
// GoMLX has layers.Dropout with the same semantics; this one exists so that the p = 0 and p = 1
// edge cases match PyTorch exactly (identity and all zeros) and so that [DropoutNoRescale] can sit
// next to it for the lesson that shows why the rescale is needed.
//
// It panics (GoMLX's graph-building convention) if p is outside [0, 1].
func Dropout(scope *model.Scope, x *graph.Node, p float64) *graph.Node {
	return dropout(scope, x, p, true)
}

// DropoutNoRescale zeroes each element with probability p during training but does not divide
// the survivors by 1−p, so E[output] = (1−p)·input: the "naive" dropout whose train/eval mismatch
// the lessons measure. At evaluation time it is the identity. Use [Dropout] in models.
func DropoutNoRescale(scope *model.Scope, x *graph.Node, p float64) *graph.Node {
	return dropout(scope, x, p, false)
}

func dropout(scope *model.Scope, x *graph.Node, p float64, rescale bool) *graph.Node {
	checkDropProbability("Dropout", p)
	g := x.Graph()
	if p == 0 || !scope.IsTraining(g) {
		return x
	}
	if p == 1 {
		return graph.ZerosLike(x)
	}
	keep := keepMask(scope, x, x.Shape().Dimensions, p)
	if rescale {
		keep = graph.DivScalar(keep, 1-p)
	}
	return graph.Mul(x, keep)
}

// keepMask returns a tensor of x's dtype shaped dims, holding 1 with probability 1−p and 0
// otherwise, drawn from the Store's random number generator (so it advances the RNG state and
// each training step gets a fresh mask).
func keepMask(scope *model.Scope, x *graph.Node, dims []int, p float64) *graph.Node {
	g := x.Graph()
	dtype := x.DType()
	if !dtype.IsFloat() {
		exceptions.Panicf("dropout needs a float tensor, got %s", x.Shape())
	}
	u := scope.RandomUniform(g, shapes.Make(dtype, dims...)) // u ∈ [0, 1)
	// Keep when u ≥ p: P(keep) = 1 − p exactly for a uniform u in [0, 1).
	return graph.ConvertDType(graph.GreaterOrEqual(u, graph.Scalar(g, dtype, p)), dtype)
}

func checkDropProbability(what string, p float64) {
	if p < 0 || p > 1 || p != p {
		exceptions.Panicf("%s: drop probability must be in [0, 1], got %g", what, p)
	}
}
