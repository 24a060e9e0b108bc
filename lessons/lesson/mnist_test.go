package lesson

import (
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gostudy/gostudy/datasets/mnist"
)

// firstLabels returns the labels of the first training batch of an epoch.
func firstLabels(t *testing.T, set *mnist.Set, seed int64, epoch int) []int32 {
	t.Helper()
	data, err := MNISTData(set, set, set, 16, 50, 1, seed)
	if err != nil {
		t.Fatal(err)
	}
	for b, err := range data.Train(epoch) {
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = b.Finalize() }()
		return tensors.MustCopyFlatData[int32](b.Labels[0])
	}
	t.Fatal("no batch")
	return nil
}

func TestMNISTData(t *testing.T) {
	all, err := mnist.Load(mnist.Test)
	if err != nil {
		t.Fatal(err)
	}
	set, err := all.Subset(100, 1)
	if err != nil {
		t.Fatal(err)
	}
	data, err := MNISTData(set, set, set, 16, 50, 1, 7)
	if err != nil {
		t.Fatal(err)
	}
	// Full batches only: 100 images make 6 batches of 16.
	n := 0
	for b, err := range data.Train(0) {
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Inputs[0].Shape().Dimensions; !slices.Equal(got, []int{16, 28, 28, 1}) {
			t.Errorf("batch shape %v", got)
		}
		_ = b.Finalize()
		n++
	}
	if n != 6 || data.StepsPerEpoch != 6 {
		t.Errorf("%d batches, StepsPerEpoch %d; want 6", n, data.StepsPerEpoch)
	}
	// A pure function of (seed, epoch): the same batch again, another for another seed or epoch.
	a := firstLabels(t, set, 7, 0)
	if !slices.Equal(a, firstLabels(t, set, 7, 0)) {
		t.Error("same seed and epoch gave different batches")
	}
	if slices.Equal(a, firstLabels(t, set, 8, 0)) && slices.Equal(a, firstLabels(t, set, 7, 1)) {
		t.Error("neither the seed nor the epoch changes the batch order")
	}
	if _, err := MNISTData(set, set, set, 0, 50, 1, 7); err == nil {
		t.Error("batch size 0 accepted")
	}
}
