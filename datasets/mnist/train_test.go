package mnist

import (
	"testing"

	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// TestGoMLXLoopConsumesDataset trains a linear classifier with GoMLX's own
// train.Loop on the pure-Go backend: RunEpochs must take exactly one step per
// batch, and the evaluation loss must fall well below chance (ln 10 = 2.30).
func TestGoMLXLoopConsumesDataset(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	tr := mustLoad(t, Train)
	set, err := tr.Subset(1024, 7)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := TrainDataset(set, 64, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(42))
	modelFn := func(scope *model.Scope, _ any, inputs []*graph.Node) []*graph.Node {
		x := graph.Reshape(inputs[0], inputs[0].Shape().Dimensions[0], Pixels)
		return []*graph.Node{layers.DenseWithBias(scope.In("dense"), x, NumClasses)}
	}
	opt := optimizer.Adam().LearningRate(0.01).Done()
	trainer := train.NewTrainer(backend, store, modelFn, loss.SparseCategoricalCrossEntropyLogits, opt, nil, nil)
	loop := train.NewLoop(trainer)
	if _, err := loop.RunEpochs(ds, 2); err != nil {
		t.Fatal(err)
	}
	if loop.LoopStep != 2*16 {
		t.Errorf("2 epochs of 1024/64 batches took %d steps, want 32", loop.LoopStep)
	}
	if ds.Epoch() != 2 {
		t.Errorf("dataset epoch %d after RunEpochs(2)", ds.Epoch())
	}
	te := mustLoad(t, Test)
	evalSet, _ := te.Subset(512, 1)
	eval, err := EvalDataset(evalSet, 100)
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := trainer.Eval(eval)
	if err != nil {
		t.Fatal(err)
	}
	meanLoss := tensors.ToScalar[float32](metrics[0])
	t.Logf("eval mean loss after 32 steps: %.3f", meanLoss)
	if meanLoss > 1.0 {
		t.Errorf("eval loss %.3f, a linear model trained on 2k examples reaches well below 1", meanLoss)
	}
}
