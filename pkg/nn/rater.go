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
// It is [RaterLatents] (initial std 0.01) then [AddLatent] under "proj".
func RaterEmbedding(scope *model.Scope, x, raterIDs *graph.Node, numRaters, dim int) *graph.Node {
	z := RaterLatents(scope, raterIDs, RaterEmbeddingConfig{NumRaters: numRaters, Dim: dim, InitStd: 0.01})
	return AddLatent(scope.In("proj"), x, z)
}

// RaterEmbeddingConfig sizes the raters' latent table.
type RaterEmbeddingConfig struct {
	NumRaters, Dim int
	// InitStd is the standard deviation of the latents' Gaussian initialization (0: all zero,
	// every rater starting alike). The notes ask how to set it.
	InitStd float64
}

// RaterLatents returns each sample's rater latent z [B, Dim], a row of the table "weight"
// [NumRaters, Dim] under scope (initialized N(0, InitStd²)), looked up by a one-hot product.
// Several [AddLatent] calls may share it: one latent per rater, injected at several places.
func RaterLatents(scope *model.Scope, raterIDs *graph.Node, cfg RaterEmbeddingConfig) *graph.Node {
	g := raterIDs.Graph()
	std := cfg.InitStd
	table := scope.WithInitializer(func(g *graph.Graph, s shapes.Shape) *graph.Node {
		return graph.MulScalar(scope.RandomNormal(g, s), std)
	}).VariableWithShape("weight", shapeOf(cfg.NumRaters, cfg.Dim)).NodeValue(g)
	return graph.MatMul(graph.OneHot(raterIDs, cfg.NumRaters, DType), table)
}

// AddLatent projects z [B, D] to x's channels (a Linear with bias, under scope) and adds it at
// every position of x [B, ..., C]: the notes' "维度转化和复制" (transform and repeat), then add.
func AddLatent(scope *model.Scope, x, z *graph.Node) *graph.Node {
	bias := Linear(scope, z, channels(x), true) // [B, C]
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
