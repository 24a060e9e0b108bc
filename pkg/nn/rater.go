package nn

import (
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// This file: rater embeddings for multi-rater labels (the notes' auto-decoder approach: one
// learnable latent per rater, with no encoder — the latents are learned through the loss).

// RaterEmbedding adds a rater's learned latent to every position of x. The table "weight"
// [numRaters, dim] (scope's own variable, like nn.Embedding) holds one latent z_r per rater;
// z for each sample's rater (raterIDs, int32 [B]) is projected to x's channels by "proj" (a
// Linear, dim → C) and broadcast over all pixels or tokens of x ([B, ..., C]) before adding.
// The lookup is a one-hot matrix product, so gradients reach only the rows that were used.
func RaterEmbedding(scope *model.Scope, x, raterIDs *graph.Node, numRaters, dim int) *graph.Node {
	g := x.Graph()
	table := scope.WithInitializer(func(g *graph.Graph, s shapes.Shape) *graph.Node {
		return graph.MulScalar(scope.RandomNormal(g, s), 0.01)
	}).VariableWithShape("weight", shapeOf(numRaters, dim)).NodeValue(g)
	z := graph.MatMul(graph.OneHot(raterIDs, numRaters, DType), table) // [B, dim]
	bias := Linear(scope.In("proj"), z, channels(x), true)             // [B, C]
	dims := make([]int, x.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[0], dims[len(dims)-1] = x.Shape().Dimensions[0], channels(x)
	return graph.Add(x, graph.Reshape(bias, dims...))
}

// RaterLatentL2 is Σ_r ‖z_r‖², the regularizer the notes add to the task loss (weighted by a
// λ of the caller's choosing) so the latents stay small; scope is the one given to
// RaterEmbedding.
func RaterLatentL2(scope *model.Scope, g *graph.Graph, numRaters, dim int) *graph.Node {
	table := scope.GetVariable("weight")
	if table == nil {
		table = scope.VariableWithShape("weight", shapeOf(numRaters, dim))
	}
	return graph.ReduceAllSum(graph.Square(table.NodeValue(g)))
}
