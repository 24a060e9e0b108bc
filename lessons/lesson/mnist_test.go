package lesson

import (
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gostudy/gostudy/datasets/mnist"
)

// imageKey identifies an image by its pixels, so sets can be compared without indices.
func imageKey(set *mnist.Set, i int) string { return string(set.Image(i)) }

func TestMNISTSplits(t *testing.T) {
	m := MNIST{TrainSize: 1000, ValSize: 500, TestSize: 250, MaxShift: 1}
	tr, val, test, err := m.Splits()
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 1000 || val.Len() != 500 || test.Len() != 250 {
		t.Fatalf("sizes %d %d %d", tr.Len(), val.Len(), test.Len())
	}
	// Training and validation images are disjoint.
	seen := map[string]bool{}
	for i := range tr.Len() {
		seen[imageKey(tr, i)] = true
	}
	for i := range val.Len() {
		if seen[imageKey(val, i)] {
			t.Fatalf("validation image %d is also a training image", i)
		}
	}
	// A random draw, not MNIST's first images: all ten digits, none far from a tenth.
	counts := tr.ClassCounts()
	for d, c := range counts {
		if c < 60 || c > 150 {
			t.Errorf("digit %d: %d of 1000 training images", d, c)
		}
	}
	// The test images are the first of the test split.
	all, err := mnist.Load(mnist.Test)
	if err != nil {
		t.Fatal(err)
	}
	for i := range test.Len() {
		if imageKey(test, i) != imageKey(all, i) || test.Label(i) != all.Label(i) {
			t.Fatalf("test image %d is not the test split's image %d", i, i)
		}
	}
	// Growing the training set keeps its first images and moves the validation set: one
	// permutation, cut at TrainSize.
	bigger := m
	bigger.TrainSize = 2000
	tr2, _, _, err := bigger.Splits()
	if err != nil {
		t.Fatal(err)
	}
	for i := range tr.Len() {
		if imageKey(tr, i) != imageKey(tr2, i) {
			t.Fatalf("training image %d changed when the training set grew", i)
		}
	}
	// The augmentation does not change the images (and shares the cache).
	shifted := m
	shifted.MaxShift = 3
	tr3, _, _, err := shifted.Splits()
	if err != nil || tr3 != tr {
		t.Errorf("another max_shift gave other splits (%v)", err)
	}
	// TestSize 0 is all 10,000.
	m0 := m
	m0.TestSize = 0
	if _, _, t0, err := m0.Splits(); err != nil || t0.Len() != 10000 {
		t.Errorf("test_size 0: %v", err)
	}
	for _, bad := range []MNIST{{TrainSize: 0, ValSize: 500}, {TrainSize: 100, ValSize: 300}, {TrainSize: 59800, ValSize: 500},
		{TrainSize: 100, ValSize: 250, TestSize: 100}, {TrainSize: 100, ValSize: 250, MaxShift: 5}} {
		if _, _, _, err := bad.Splits(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// firstLabels returns the labels of the first training batch of an epoch.
func firstLabels(t *testing.T, m MNIST, seed int64, epoch int) []int32 {
	t.Helper()
	data, err := m.Data(16, seed)
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
	m := MNIST{TrainSize: 100, ValSize: 250, TestSize: 500, MaxShift: 1}
	data, err := m.Data(16, 7)
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
	if n != 6 || data.StepsPerEpoch != 6 || m.Steps(16, 3) != 18 {
		t.Errorf("%d batches, StepsPerEpoch %d, Steps %d; want 6, 6, 18", n, data.StepsPerEpoch, m.Steps(16, 3))
	}
	// A pure function of (seed, epoch): the same batch again, another for another seed or epoch.
	a := firstLabels(t, m, 7, 0)
	if !slices.Equal(a, firstLabels(t, m, 7, 0)) {
		t.Error("same seed and epoch gave different batches")
	}
	if slices.Equal(a, firstLabels(t, m, 8, 0)) && slices.Equal(a, firstLabels(t, m, 7, 1)) {
		t.Error("neither the seed nor the epoch changes the batch order")
	}
	if _, err := m.Data(0, 7); err == nil {
		t.Error("batch size 0 accepted")
	}
}

func TestDigits(t *testing.T) {
	set, err := mnist.Load(mnist.Test)
	if err != nil {
		t.Fatal(err)
	}
	x, y, err := Digits(set, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x.Shape().Dimensions, []int{4, 28, 28, 1}) || len(y) != 4 || int(y[0]) != set.Label(3) {
		t.Errorf("digits: %s, labels %v", x.Shape(), y)
	}
	// Standardized: background pixels are −mean/std.
	if v := tensors.MustCopyFlatData[float32](x)[0]; v > -0.4 || v < -0.43 {
		t.Errorf("background pixel %g, want −0.1307/0.3081", v)
	}
	if _, _, err := Digits(set, 9999, 2); err == nil {
		t.Error("digits past the end accepted")
	}
}
