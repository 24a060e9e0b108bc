package lesson

import (
	"fmt"
	"iter"
	"sync"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/metric"
	"github.com/gostudy/gostudy/datasets/batching"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// MNIST is the data part of a run config for lessons that classify MNIST digits. Embed it in
// the lesson's RunConfig (after the model knobs): its json keys become ablate flags
// (`-set train_size=5000`) and part of the run's identity.
//
// Which images a run sees depends only on these sizes, never on the run's seed: the seed
// changes the initialisation, the batch order, the augmentation and the drop masks, so runs
// with different seeds or knobs are judged on the same images.
type MNIST struct {
	// TrainSize and ValSize images are drawn, disjoint, from MNIST's training split (one fixed
	// permutation, [SplitSeed]: the first TrainSize for training, the next ValSize for
	// validation, which picks the best checkpoint).
	TrainSize int `json:"train_size" help:"training images (from MNIST's training split)"`
	ValSize   int `json:"val_size" help:"validation images (from the training split, disjoint from the training images)"`
	// TestSize is the number of images of MNIST's test split, from its start, that give a
	// run's final accuracy; 0 means all 10,000.
	TestSize int `json:"test_size" help:"test images, the first of MNIST's test split (0: all 10000)"`
	// MaxShift is the training augmentation: a random shift of up to this many pixels.
	MaxShift int `json:"max_shift" help:"training augmentation: random shift in pixels"`
}

// SplitSeed fixes the permutation of MNIST's training split that [MNIST.Splits] cuts.
const SplitSeed = 20220214

// EvalBatch is the batch size of every evaluation (validation, test, [Accuracy]). Validation
// and test sizes are multiples of it, so one compiled graph serves every batch.
const EvalBatch = 250

// Tests returns the number of test images: TestSize, or 10,000 when it is 0.
func (m MNIST) Tests() int {
	if m.TestSize == 0 {
		return 10000
	}
	return m.TestSize
}

// Validate reports sizes that cannot be split or evaluated in whole batches.
func (m MNIST) Validate() error {
	switch {
	case m.TrainSize <= 0 || m.ValSize <= 0 || m.TestSize < 0:
		return fmt.Errorf("mnist sizes: train %d and val %d must be positive, test %d not negative", m.TrainSize, m.ValSize, m.TestSize)
	case m.TrainSize+m.ValSize > 60000 || m.TestSize > 10000:
		return fmt.Errorf("mnist sizes: train %d + val %d exceed the 60000 training images, or test %d the 10000 test images",
			m.TrainSize, m.ValSize, m.TestSize)
	case m.ValSize%EvalBatch != 0 || m.Tests()%EvalBatch != 0:
		return fmt.Errorf("mnist sizes: val %d and test %d must be multiples of the evaluation batch %d", m.ValSize, m.Tests(), EvalBatch)
	case m.MaxShift < 0 || m.MaxShift > 4:
		return fmt.Errorf("mnist max_shift %d outside [0, 4]", m.MaxShift)
	}
	return nil
}

// Steps is the number of training steps of a run: full batches per epoch × epochs.
func (m MNIST) Steps(batch, epochs int) int { return epochs * (m.TrainSize / max(batch, 1)) }

// ValidateRun is [MNIST.Validate] for a run that trains epochs × full batches of batch
// images: it also refuses a run with no full training batch at all.
func (m MNIST) ValidateRun(batch, epochs int) error {
	if err := checkRun(batch, epochs, m.Steps(batch, epochs)); err != nil {
		return err
	}
	return m.Validate()
}

// checkRun refuses a run that would train no full batch.
func checkRun(batch, epochs, steps int) error {
	if batch <= 0 || epochs <= 0 || steps == 0 {
		return fmt.Errorf("batch_size %d, epochs %d: need at least one full training batch", batch, epochs)
	}
	return nil
}

// splitCache keeps the splits of each size: building them copies pixels, and a sweep asks for
// the same ones many times.
var splitCache = struct {
	sync.Mutex
	m map[MNIST][3]*mnist.Set
}{m: map[MNIST][3]*mnist.Set{}}

// Splits returns the training, validation and test images (see [MNIST]).
func (m MNIST) Splits() (trainSet, valSet, testSet *mnist.Set, err error) {
	if err := m.Validate(); err != nil {
		return nil, nil, nil, err
	}
	key := m
	key.MaxShift = 0
	splitCache.Lock()
	defer splitCache.Unlock()
	if s, ok := splitCache.m[key]; ok {
		return s[0], s[1], s[2], nil
	}
	all, err := mnist.Load(mnist.Train)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("mnist splits: %w", err)
	}
	tests, err := mnist.Load(mnist.Test)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("mnist splits: %w", err)
	}
	perm := batching.RNG(SplitSeed, 1).Perm(all.Len())
	if trainSet, err = all.Select(perm[:m.TrainSize]); err != nil {
		return nil, nil, nil, fmt.Errorf("mnist training images: %w", err)
	}
	if valSet, err = all.Select(perm[m.TrainSize : m.TrainSize+m.ValSize]); err != nil {
		return nil, nil, nil, fmt.Errorf("mnist validation images: %w", err)
	}
	if testSet, err = tests.Select(firstN(m.Tests())); err != nil {
		return nil, nil, nil, fmt.Errorf("mnist test images: %w", err)
	}
	splitCache.m[key] = [3]*mnist.Set{trainSet, valSet, testSet}
	return trainSet, valSet, testSet, nil
}

// Data is a run's data (experiment.Experiment's Data): training batches of batch images,
// shuffled and shifted as a pure function of (seed, epoch) so a resumed run sees the same
// batches, full batches only; validation and test in order, [EvalBatch] at a time.
func (m MNIST) Data(batch int, seed int64) (*experiment.Data, error) {
	trainSet, valSet, testSet, err := m.Splits()
	if err != nil {
		return nil, err
	}
	return MNISTData(trainSet, valSet, testSet, batch, EvalBatch, m.MaxShift, seed)
}

// MNISTData is [MNIST.Data] over sets chosen some other way: training batches of batch images,
// shuffled and shifted by up to maxShift pixels as a pure function of (seed, epoch), full
// batches only; validation and test in order, evalBatch images at a time. Lessons 02 and 04
// still cut their own splits with it; new lessons embed [MNIST] instead.
func MNISTData(trainSet, valSet, testSet *mnist.Set, batch, evalBatch, maxShift int, seed int64) (*experiment.Data, error) {
	trainDS, err := mnist.TrainDataset(trainSet, batch, uint64(seed), maxShift)
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
	return epochData(trainDS, valDS, testDS)
}

// epochData is a run's data over three datasets: the training one yields the epochs (a pure
// function of the epoch, as batching.Dataset.EpochIter is), the others are evaluated.
func epochData(trainDS, valDS, testDS *batching.Dataset) (*experiment.Data, error) {
	steps, err := trainDS.BatchesPerEpoch(0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", trainDS.Name(), err)
	}
	return &experiment.Data{
		Train:         func(epoch int) iter.Seq2[train.Batch, error] { return trainDS.EpochIter(epoch) },
		StepsPerEpoch: steps,
		Val:           valDS,
		Test:          testDS,
	}, nil
}

// Metrics is the metric list of the lessons' classifiers, for experiment.Experiment's
// Metrics: sparse categorical accuracy over logits, reported as "acc".
func Metrics[C any](C) []metric.Interface {
	return []metric.Interface{metric.NewSparseCategoricalAccuracy("Accuracy", "acc")}
}

// BestAccuracy picks a run's checkpoint by the highest validation accuracy ("acc").
var BestAccuracy = experiment.Selection{Metric: "acc", Maximize: true}

// Digits returns images first, first+1, … first+n−1 of set, standardized as in training, as a
// [n, 28, 28, 1] tensor, with their labels: a batch to look at or to measure on.
func Digits(set *mnist.Set, first, n int) (*tensors.Tensor, []int32, error) {
	if first < 0 || n <= 0 || first+n > set.Len() {
		return nil, nil, fmt.Errorf("digits %d..%d of a set of %d", first, first+n-1, set.Len())
	}
	idx := firstN(n)
	for i := range idx {
		idx[i] += first
	}
	x, y, err := (&mnist.Source{Set: set}).Flat(idx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("digits: %w", err)
	}
	return tensors.FromFlatDataAndDimensions(x, n, mnist.Height, mnist.Width, 1), y, nil
}

func firstN(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}
