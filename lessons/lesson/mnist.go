package lesson

import (
	"fmt"
	"iter"

	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/metric"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// MNISTData is the experiment data of a lesson that classifies MNIST digits: training
// batches of batch images, shuffled and shifted by up to maxShift pixels as a pure function
// of (seed, epoch) so that a resumed run sees the same batches, full batches only; the
// validation and test sets in order, evalBatch images at a time.
func MNISTData(trainSet, valSet, testSet *mnist.Set, batch, evalBatch, maxShift int, seed int64) (*experiment.Data, error) {
	trainDS, err := mnist.TrainDataset(trainSet, batch, uint64(seed), maxShift)
	if err != nil {
		return nil, fmt.Errorf("mnist training batches: %w", err)
	}
	steps, err := trainDS.BatchesPerEpoch(0)
	if err != nil {
		return nil, fmt.Errorf("mnist training batches: %w", err)
	}
	valDS, err := mnist.EvalDataset(valSet, evalBatch)
	if err != nil {
		return nil, fmt.Errorf("mnist validation set: %w", err)
	}
	testDS, err := mnist.EvalDataset(testSet, evalBatch)
	if err != nil {
		return nil, fmt.Errorf("mnist test set: %w", err)
	}
	return &experiment.Data{
		Train:         func(epoch int) iter.Seq2[train.Batch, error] { return trainDS.EpochIter(epoch) },
		StepsPerEpoch: steps,
		Val:           valDS,
		Test:          testDS,
	}, nil
}

// Accuracy is the metric list of the lessons' classifiers, for experiment.Experiment's
// Metrics: sparse categorical accuracy over logits, reported as "acc".
func Accuracy[C any](C) []metric.Interface {
	return []metric.Interface{metric.NewSparseCategoricalAccuracy("Accuracy", "acc")}
}

// BestAccuracy picks a run's checkpoint by the highest validation accuracy ("acc").
var BestAccuracy = experiment.Selection{Metric: "acc", Maximize: true}
