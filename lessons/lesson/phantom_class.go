package lesson

import (
	"fmt"
	"math/rand/v2"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gostudy/gostudy/datasets/batching"
	"github.com/gostudy/gostudy/datasets/phantom"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// PhantomClasses is the number of phantom classes: normal, benign, malignant (phantom.Class).
const PhantomClasses = 3

// ClassData is [Phantoms.Data] for classification lessons: the same images and augmentation, with
// one label, the class [B, 1] int32 (normal, benign, malignant), the shape [Metrics] and
// loss.SparseCategoricalCrossEntropyLogits take — so a classifier lesson on phantoms registers
// the same Loss, Metrics and Select as an MNIST one. Architecture comparisons use it where
// MNIST is too easy for their differences to exceed the seed noise.
func (p Phantoms) ClassData(batch, evalBatch int, seed int64) (*experiment.Data, error) {
	return p.data(batch, evalBatch, seed, func(s *phantom.Source) batching.Source { return classOnly{s} })
}

// classOnly serves a phantom source's images with their class as the only label.
type classOnly struct{ src *phantom.Source }

func (c classOnly) Len() int { return c.src.Len() }

func (c classOnly) Batch(indices []int, rng *rand.Rand) (train.Batch, error) {
	b, err := c.src.Batch(indices, rng)
	if err != nil {
		return b, err
	}
	if len(b.Labels) != 3 {
		return train.Batch{}, fmt.Errorf("phantom batch: %d labels, want mask, boundary and class", len(b.Labels))
	}
	// The mask and boundary are not used: release them now rather than with the batch.
	b.Labels[0].FinalizeAll()
	b.Labels[1].FinalizeAll()
	class := b.Labels[2]
	flat, err := tensors.CopyFlatData[int32](class)
	class.FinalizeAll()
	if err != nil {
		return train.Batch{}, fmt.Errorf("phantom classes: %w", err)
	}
	b.Labels = []*tensors.Tensor{tensors.FromFlatDataAndDimensions(flat, len(flat), 1)}
	return b, nil
}

// PhantomImages returns phantoms first … first+n−1 of set as a [n, S, S, 1] tensor (as the
// training batches hold them, without augmentation) with their classes: a batch to look at or
// to measure on, like [Digits] for MNIST.
func PhantomImages(set []*phantom.Sample, first, n int) (*tensors.Tensor, []int32, error) {
	if first < 0 || n <= 0 || first+n > len(set) {
		return nil, nil, fmt.Errorf("phantoms %d..%d of a set of %d", first, first+n-1, len(set))
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = first + i
	}
	b, err := (&phantom.Source{Samples: set}).Batch(idx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("phantom images: %w", err)
	}
	classes, err := tensors.CopyFlatData[int32](b.Labels[2])
	for _, l := range b.Labels {
		l.FinalizeAll()
	}
	if err != nil {
		return nil, nil, err
	}
	return b.Inputs[0], classes, nil
}
