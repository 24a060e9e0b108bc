package dropout

import (
	"fmt"
	"sync"

	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// ExperimentName is the name the lesson's experiment is registered under:
// `gostudy ablate dropout -grid dropout=0,0.2,0.5 -seeds 3`.
const ExperimentName = "dropout"

// dataSeed picks the training/validation images; it is fixed so that every run (any seed, any
// p) trains and is judged on the same images and only the initialisation, the data order and
// the drop masks change with the run seed.
const dataSeed = 20140601 // Srivastava et al., JMLR, June 2014

// DefaultNet is the network and training setup of the full budget; [ForBudget] shrinks it for
// the test budget.
func DefaultNet() NetConfig {
	return NetConfig{
		Train:     experiment.Train{Epochs: 3, BatchSize: 64, LearningRate: 2e-3, LogEvery: 10},
		Width:     16,
		Depths:    []int{2, 2},
		Hidden:    128,
		Dropout:   0.5,
		TrainSize: 20000,
		ValSize:   2000,
		TestSize:  10000,
		EvalBatch: 500,
		MaxShift:  2,
	}
}

// splits caches the MNIST splits of a config: building them copies pixels, and a p-sweep asks
// for the same ones many times.
var splits = struct {
	sync.Mutex
	m map[[3]int]*[3]*mnist.Set
}{m: map[[3]int]*[3]*mnist.Set{}}

// Splits returns the training, validation and test images of cfg: TrainSize + ValSize images
// drawn (with a fixed seed) from MNIST's training split and cut in two, and TestSize images
// of the test split (all 10000 when TestSize is 10000).
func Splits(cfg NetConfig) (trainSet, valSet, testSet *mnist.Set, err error) {
	key := [3]int{cfg.TrainSize, cfg.ValSize, cfg.TestSize}
	splits.Lock()
	defer splits.Unlock()
	if s, ok := splits.m[key]; ok {
		return s[0], s[1], s[2], nil
	}
	tr, err := mnist.Load(mnist.Train)
	if err != nil {
		return nil, nil, nil, err
	}
	te, err := mnist.Load(mnist.Test)
	if err != nil {
		return nil, nil, nil, err
	}
	pool, err := tr.Subset(cfg.TrainSize+cfg.ValSize, dataSeed)
	if err != nil {
		return nil, nil, nil, err
	}
	// Subset keeps the original order, so cut a seeded permutation instead of the prefix.
	perm := experiment.Shuffled(pool.Len(), dataSeed, 0)
	if trainSet, err = pool.Select(perm[:cfg.TrainSize]); err != nil {
		return nil, nil, nil, err
	}
	if valSet, err = pool.Select(perm[cfg.TrainSize:]); err != nil {
		return nil, nil, nil, err
	}
	if testSet, err = te.Subset(cfg.TestSize, dataSeed); err != nil {
		return nil, nil, nil, err
	}
	splits.m[key] = &[3]*mnist.Set{trainSet, valSet, testSet}
	return trainSet, valSet, testSet, nil
}

// Data builds the experiment's data: shuffled, shift-augmented training batches whose order
// depends only on (seed, epoch), and the validation and test sets in order.
func Data(cfg NetConfig, seed int64) (*experiment.Data, error) {
	trainSet, valSet, testSet, err := Splits(cfg)
	if err != nil {
		return nil, fmt.Errorf("dropout data: %w", err)
	}
	return lesson.MNISTData(trainSet, valSet, testSet, cfg.BatchSize, cfg.EvalBatch, cfg.MaxShift, seed)
}

// Exp is the lesson's registered experiment: the residual network of [NetConfig] trained on
// MNIST with Adam, the best checkpoint chosen by validation accuracy and scored on the test
// images. The model has timm-style names but no timm twin (its stem is a stride-2 3×3 conv),
// so it exports as safetensors or ONNX without a timm_model entry.
var Exp = &experiment.Experiment[NetConfig]{
	Name:        ExperimentName,
	Description: "lesson 01: residual CNN on MNIST with element-wise Dropout and DropPath (stochastic depth)",
	Defaults:    DefaultNet,
	Model:       Model,
	Loss:        loss.SparseCategoricalCrossEntropyLogits,
	Metrics:     lesson.Accuracy[NetConfig],
	Data:        Data,
	Select:      lesson.BestAccuracy,
}

func init() { experiment.MustRegister(Exp) }
