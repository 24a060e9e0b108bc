package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
)

// sgdLosses trains fn with plain SGD on one fixed batch (train mode, fresh seeded store) and
// returns the loss before each step, then after the last one: a model whose gradients flow
// to its parameters memorizes the batch, so the sequence goes down. It fails the test if a
// trainable variable gets an all-zero (or non-finite) gradient at the first step.
func sgdLosses(t *testing.T, b nntest.Backend, fn ModelFn, x []float32, dims []int, labels []int32, numClasses, steps int, lr float64) []float64 {
	t.Helper()
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(11); err != nil {
		t.Fatal(err)
	}
	var names []string
	step := func(scope *model.Scope, x, labels *graph.Node) []*graph.Node {
		g := x.Graph()
		scope.Store().SetTraining(g, true)
		logits := fn(scope, x)
		onehot := graph.OneHot(labels, numClasses, logits.DType())
		loss := graph.Neg(graph.ReduceAllMean(graph.ReduceSum(graph.Mul(onehot, graph.LogSoftmax(logits)), -1)))
		var vars []*model.Variable
		var nodes []*graph.Node
		for v := range scope.IterVariables() {
			if v.Trainable && v.InUseByGraph(g) {
				vars = append(vars, v)
				nodes = append(nodes, v.NodeValue(g))
			}
		}
		if len(vars) == 0 {
			t.Fatal("no trainable variables")
		}
		outs := []*graph.Node{loss}
		names = names[:0]
		for i, grad := range graph.Gradient(loss, nodes...) {
			vars[i].SetNodeValue(graph.Sub(nodes[i], graph.MulScalar(grad, lr)))
			names = append(names, vars[i].Path())
			outs = append(outs, graph.ReduceAllSum(graph.Square(grad)))
		}
		return outs
	}
	exec, err := model.NewExec(b.Backend, store, step)
	if err != nil {
		t.Fatal(err)
	}
	var losses []float64
	for i := range steps + 1 {
		outs, err := exec.Call(tensors.FromFlatDataAndDimensions(x, dims...), tensors.FromFlatDataAndDimensions(labels, len(labels)))
		if err != nil {
			t.Fatalf("train step on %s: %v", b.Name, err)
		}
		losses = append(losses, float64(tensors.ToScalar[float32](outs[0])))
		if i > 0 {
			continue
		}
		for j, o := range outs[1:] {
			if sq := float64(tensors.ToScalar[float32](o)); !(sq > 0) || math.IsInf(sq, 0) {
				t.Errorf("%s: gradient of %s has squared norm %g: the gradient does not flow there", b.Name, names[j], sq)
			}
		}
	}
	return losses
}

// TestTransformerModelsTrain runs a few SGD steps of each small model on both backends and
// requires the loss on the batch to fall by a clear margin (10%; measured drops are 15–98%).
func TestTransformerModelsTrain(t *testing.T) {
	const batch, classes = 8, 10
	r := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, batch*28*28)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	labels := make([]int32, batch)
	for i := range labels {
		labels[i] = int32(i % classes)
	}
	// The presets' layouts, narrowed so that XLA compiles the training graphs quickly.
	vit := ViTTiny28()
	vit.EmbedDim, vit.Depth = 32, 2
	swin := SwinTiny28()
	swin.EmbedDim = 16
	pool := PoolFormerTiny28()
	pool.Dims = []int{8, 16, 24}
	models := []struct {
		name string
		fn   ModelFn
		lr   float64
	}{
		{"ViT", ViT(vit), 0.02},
		{"Swin", Swin(swin), 0.15},
		{"PoolFormer", PoolFormer(pool), 0.05},
	}
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		for _, m := range models {
			losses := sgdLosses(t, b, m.fn, x, []int{batch, 28, 28, 1}, labels, classes, 6, m.lr)
			first, last := losses[0], losses[len(losses)-1]
			t.Logf("%s: loss %.4f → %.4f over %d SGD steps", m.name, first, last, len(losses)-1)
			if !(last < 0.9*first) {
				t.Errorf("%s: loss went %.4f → %.4f (%v), want a drop of at least 10%%", m.name, first, last, losses)
			}
		}
	})
}
