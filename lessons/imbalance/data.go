package imbalance

import (
	"fmt"
	"math/rand/v2"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gostudy/gostudy/datasets/batching"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/datasets/phantom"
	"github.com/gostudy/gostudy/datasets/sampling"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// ImbalanceSeed chooses which training samples an imbalanced view keeps: fixed, so every run
// of a ratio sees the same training set whatever its seed.
const ImbalanceSeed = 20130401

// MNISTImages are MNIST digits to predict on (see [Images]).
type MNISTImages struct{ Set *mnist.Set }

// Len is the number of digits.
func (m MNISTImages) Len() int { return m.Set.Len() }

// Batch returns standardized digits [n, 28, 28, 1] and their labels.
func (m MNISTImages) Batch(first, n int) (*tensors.Tensor, []int, error) {
	x, y, err := lesson.Digits(m.Set, first, n)
	if err != nil {
		return nil, nil, err
	}
	labels := make([]int, len(y))
	for i, l := range y {
		labels[i] = int(l)
	}
	return x, labels, nil
}

// Labels are the digits' labels, in order.
func (m MNISTImages) Labels() []int { return m.Set.LabelsInt() }

// PhantomImages are phantoms to classify (see [Images]).
type PhantomImages struct{ Samples []*phantom.Sample }

// Len is the number of phantoms.
func (p PhantomImages) Len() int { return len(p.Samples) }

// Batch returns phantom images [n, S, S, 1] and their classes.
func (p PhantomImages) Batch(first, n int) (*tensors.Tensor, []int, error) {
	if first < 0 || n <= 0 || first+n > len(p.Samples) {
		return nil, nil, fmt.Errorf("phantoms %d..%d of %d", first, first+n-1, len(p.Samples))
	}
	src := &classSource{inner: &phantom.Source{Samples: p.Samples[first : first+n]}}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	b, err := src.Batch(idx, nil)
	if err != nil {
		return nil, nil, err
	}
	labels := tensors.MustCopyFlatData[int32](b.Labels[0])
	b.Labels[0].FinalizeAll()
	out := make([]int, n)
	for i, l := range labels {
		out[i] = int(l)
	}
	return b.Inputs[0], out, nil
}

// Labels are the phantoms' classes, in order.
func (p PhantomImages) Labels() []int { return PhantomLabels(p.Samples) }

// PhantomLabels are the classes of phantoms.
func PhantomLabels(samples []*phantom.Sample) []int {
	out := make([]int, len(samples))
	for i, s := range samples {
		out[i] = int(s.Class)
	}
	return out
}

// classSource serves phantoms for classification: the image, and the class as a [B, 1]
// label (the mask and boundary labels are dropped).
type classSource struct{ inner *phantom.Source }

func (s *classSource) Len() int { return s.inner.Len() }

func (s *classSource) Batch(indices []int, rng *rand.Rand) (train.Batch, error) {
	b, err := s.inner.Batch(indices, rng)
	if err != nil {
		return train.Batch{}, err
	}
	class, err := tensors.CopyFlatData[int32](b.Labels[2])
	for _, l := range b.Labels {
		l.FinalizeAll()
	}
	if err != nil {
		return train.Batch{}, err
	}
	return train.Batch{Inputs: b.Inputs, Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(class, len(class), 1)},
		Spec: b.Spec}, nil
}

// sampledData is a run's data over a training source whose epochs a sampler chooses, and
// evaluation datasets. With an adaptive sampler, Adapt recomputes the keep probabilities from
// the model before every epoch: per-class F1 on the validation images, or each training
// sample's error.
func sampledData(s Sampling, name string, trainSrc batching.Source, labels []int, classes int, val, test train.Dataset,
	valImages, trainImages Images, batch int, seed int64) (*experiment.Data, error) {
	probs, err := s.StaticKeep(labels, classes)
	if err != nil {
		return nil, err
	}
	dyn, err := sampling.NewDynamic(probs, uint64(seed))
	if err != nil {
		return nil, err
	}
	// An epoch's last, partial batch is dropped (a new batch shape is a new compilation), so
	// a sampler that keeps less than a batch would train on nothing.
	if e := dyn.Expected(); e < float64(batch) {
		return nil, fmt.Errorf("%s: the %s sampler keeps about %.0f of %d training samples per epoch, fewer than a batch of %d",
			name, s.Label(), e, len(labels), batch)
	}
	trainDS, err := batching.New(name, trainSrc, batching.Options{BatchSize: batch, Seed: uint64(seed), Shuffle: true,
		DropRemainder: true, Selector: dyn})
	if err != nil {
		return nil, fmt.Errorf("%s training batches: %w", name, err)
	}
	d := &experiment.Data{Train: trainDS.EpochIter, Val: val, Test: test}
	if s.Sampler == All {
		d.StepsPerEpoch = len(labels) / batch
	}
	counts, err := sampling.ClassCounts(labels, classes)
	if err != nil {
		return nil, err
	}
	switch s.Sampler {
	case F1:
		d.Adapt = func(_ int, predict experiment.Predictor) error {
			pred, _, err := Predict(predict, valImages)
			if err != nil {
				return err
			}
			sc, err := Score(pred, valImages.Labels(), classes)
			if err != nil {
				return err
			}
			keep, err := F1Keep(sc.F1, counts, s.Floor)
			if err != nil {
				return err
			}
			return dyn.SetProbabilities(PerSample(keep, labels))
		}
	case Error:
		d.Adapt = func(_ int, predict experiment.Predictor) error {
			_, pTrue, err := Predict(predict, trainImages)
			if err != nil {
				return err
			}
			errs := make([]float64, len(pTrue))
			for i, q := range pTrue {
				errs[i] = 1 - q
			}
			p, err := sampling.FromScores(errs, s.Floor)
			if err != nil {
				return err
			}
			return dyn.SetProbabilities(p)
		}
	}
	return d, nil
}

// LongTail returns the long-tailed training digits of an MNIST config: digit c keeps
// ratio^(−c/9) of its training images (digit 0 all, digit 9 1/ratio), the same ones for every
// run; validation and test stay balanced.
func LongTail(m lesson.MNIST, ratio float64) (trainSet, valSet, testSet *mnist.Set, err error) {
	all, valSet, testSet, err := m.Splits()
	if err != nil {
		return nil, nil, nil, err
	}
	keep, err := sampling.LongTail(mnist.NumClasses, ratio)
	if err != nil {
		return nil, nil, nil, err
	}
	if trainSet, err = all.Imbalanced(keep, ImbalanceSeed); err != nil {
		return nil, nil, nil, err
	}
	return trainSet, valSet, testSet, nil
}

// StepImbalance returns the training phantoms with only minorityKeep of the minority class's
// kept (the same ones for every run), and the validation and test phantoms as generated (with
// the generator's own class mix).
func StepImbalance(p lesson.Phantoms, minority int, minorityKeep float64) (trainSet, valSet, testSet []*phantom.Sample, err error) {
	all, valSet, testSet, err := p.Splits()
	if err != nil {
		return nil, nil, nil, err
	}
	keep, err := sampling.Step(PhantomClasses, []int{minority}, minorityKeep)
	if err != nil {
		return nil, nil, nil, err
	}
	idx, err := sampling.KeepFractions(PhantomLabels(all), keep, ImbalanceSeed)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, i := range idx {
		trainSet = append(trainSet, all[i])
	}
	return trainSet, valSet, testSet, nil
}
