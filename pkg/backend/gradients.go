package backend

import (
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
)

// GoMLX v0.28.2 defines no gradient (VJP) for Rsqrt, yet normalization layers compute
// 1/√(σ²+ε) with it: without one, training any model with BatchNorm, LayerNorm or
// GroupNorm fails while building the gradient ("Rsqrt ... no gradient is defined yet").
// Every gostudy program that trains reaches the backend through this package, so the
// missing rule is registered here, once, before any graph is built. A later GoMLX that
// defines its own keeps it.
func init() {
	if _, ok := graph.VJPRegistration[graph.NodeTypeRsqrt]; !ok {
		graph.VJPRegistration[graph.NodeTypeRsqrt] = rsqrtVJP
	}
}

// rsqrtVJP is the reverse-mode rule of y = x^(-1/2): dy/dx = -½·x^(-3/2) = -½·y³, so the
// incoming gradient v becomes -½·v·y³, computed from the op's own output.
func rsqrtVJP(node *graph.Node, vjpOutputs []*graph.Node, _ shapes.Shape) []*graph.Node {
	y := node
	return []*graph.Node{graph.Mul(vjpOutputs[0], graph.MulScalar(graph.Mul(y, graph.Square(y)), -0.5))}
}
