package batching

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
)

// idSource yields each example's index as a [B] int32 label and one random
// draw per batch as a [1] float32 input, to observe order and augmentation.
type idSource struct{ n int }

func (s idSource) Len() int { return s.n }

func (s idSource) Batch(idx []int, rng *rand.Rand) (train.Batch, error) {
	ids := make([]int32, len(idx))
	for i, v := range idx {
		ids[i] = int32(v)
	}
	return train.Batch{
		Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions([]float32{rng.Float32()}, 1)},
		Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(ids, len(ids))},
	}, nil
}

func collect(t *testing.T, seq func(func(train.Batch, error) bool), max int) (ids []int32, draws []float32) {
	t.Helper()
	n := 0
	for b, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tensors.MustCopyFlatData[int32](b.Labels[0])...)
		draws = append(draws, tensors.MustCopyFlatData[float32](b.Inputs[0])...)
		n++
		if n == max {
			break
		}
	}
	return ids, draws
}

func TestEpochsAndAugmentationSeeded(t *testing.T) {
	mk := func(seed uint64) *Dataset {
		d, err := New("ids", idSource{100}, Options{BatchSize: 30, Seed: seed, Shuffle: true})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b := mk(1), mk(1)
	ia, da := collect(t, a.Iter(), -1)
	ib, db := collect(t, b.Iter(), -1)
	if !slices.Equal(ia, ib) || !slices.Equal(da, db) {
		t.Fatal("same seed, different epoch")
	}
	if len(ia) != 100 || len(da) != 4 {
		t.Fatalf("epoch had %d examples in %d batches", len(ia), len(da))
	}
	sorted := slices.Clone(ia)
	slices.Sort(sorted)
	for i, v := range sorted {
		if int(v) != i {
			t.Fatal("an epoch is not a permutation")
		}
	}
	ia2, da2 := collect(t, a.Iter(), -1) // epoch 1
	if slices.Equal(ia, ia2) || slices.Equal(da, da2) {
		t.Fatal("epoch 1 repeats epoch 0")
	}
	// EpochIter(1) reproduces epoch 1 without moving the counter.
	ie1, _ := collect(t, b.EpochIter(1), -1)
	if !slices.Equal(ie1, ia2) || b.Epoch() != 1 {
		t.Fatal("EpochIter(1) differs from the second Iter, or moved the counter")
	}
	b.SetEpoch(1)
	ib2, _ := collect(t, b.Iter(), -1)
	if !slices.Equal(ib2, ia2) {
		t.Fatal("SetEpoch(1) did not resume at epoch 1")
	}
	ic, _ := collect(t, mk(2).Iter(), -1)
	if slices.Equal(ia, ic) {
		t.Fatal("different seeds, same order")
	}
	// No shuffle: index order; DropRemainder: 3 batches.
	d, _ := New("ids", idSource{100}, Options{BatchSize: 30, DropRemainder: true})
	id, _ := collect(t, d.Iter(), -1)
	if len(id) != 90 || id[0] != 0 || id[89] != 89 {
		t.Fatalf("in-order epoch: %d examples, first %d last %d", len(id), id[0], id[len(id)-1])
	}
}

func TestLoopCrossesEpochs(t *testing.T) {
	d, _ := New("ids", idSource{10}, Options{BatchSize: 4, Seed: 3, Shuffle: true, Loop: true})
	ids, _ := collect(t, d.Iter(), 9) // 3 batches per epoch: epochs 0, 1, 2
	e0, _ := d.EpochOrder(0)
	e1, _ := d.EpochOrder(1)
	e2, _ := d.EpochOrder(2)
	var want []int32
	for _, o := range [][]int{e0, e1, e2} {
		for _, v := range o {
			want = append(want, int32(v))
		}
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("looping order %v, want epochs 0-2 %v", ids, want)
	}
	if d.Epoch() < 3 {
		t.Errorf("epoch counter %d after three epochs", d.Epoch())
	}
}

type badSelector struct{ idx []int }

func (b badSelector) Select(int) ([]int, error) { return b.idx, nil }

type failSelector struct{}

func (failSelector) Select(int) ([]int, error) { return nil, errors.New("boom") }

func TestSelectorValidation(t *testing.T) {
	for name, sel := range map[string]Selector{
		"out of range": badSelector{[]int{1, 10}},
		"duplicate":    badSelector{[]int{1, 1}},
		"error":        failSelector{},
	} {
		d, _ := New("ids", idSource{10}, Options{BatchSize: 4, Selector: sel})
		if _, err := d.EpochOrder(0); err == nil {
			t.Errorf("%s: no error", name)
		}
		for _, err := range d.Iter() {
			if err == nil {
				t.Errorf("%s: Iter yielded a batch", name)
			}
			break
		}
	}
	// An empty selection in a looping dataset is an error, not a spin.
	d, _ := New("ids", idSource{10}, Options{BatchSize: 4, Loop: true, Selector: badSelector{nil}})
	for _, err := range d.Iter() {
		if err == nil {
			t.Error("looping over empty epochs yielded a batch")
		}
		break
	}
	if _, err := New("x", idSource{10}, Options{}); err == nil {
		t.Error("batch size 0 accepted")
	}
}

func TestRNGStreams(t *testing.T) {
	a, b := RNG(1, 2, 3).Uint64(), RNG(1, 2, 3).Uint64()
	if a != b {
		t.Fatal("RNG not deterministic")
	}
	seen := map[uint64]bool{}
	for _, r := range []*rand.Rand{RNG(1), RNG(2), RNG(1, 0), RNG(1, 1), RNG(1, 2, 3), RNG(1, 3, 2), RNG(0)} {
		v := r.Uint64()
		if seen[v] {
			t.Fatal("two streams start alike")
		}
		seen[v] = true
	}
	if got := Split([]int{0, 1, 2, 3, 4}, 2, false); len(got) != 3 || len(got[2]) != 1 {
		t.Errorf("Split %v", got)
	}
	if NumBatches(5, 2, true) != 2 || NumBatches(4, 2, false) != 2 {
		t.Error("NumBatches")
	}
}
