package lesson

import (
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

func TestPhantomSplits(t *testing.T) {
	p := Phantoms{ImageSize: 32, TrainSize: 6, ValSize: 3, TestSize: 3, FlipH: true, MaxShift: 2}
	tr, val, test, err := p.Splits()
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 6 || len(val) != 3 || len(test) != 3 || tr[0].Size != 32 {
		t.Fatalf("sizes %d %d %d", len(tr), len(val), len(test))
	}
	// Three streams: no validation or test image is a training image.
	for _, s := range append(slices.Clone(val), test...) {
		for _, r := range tr {
			if slices.Equal(s.Image, r.Image) {
				t.Fatal("a validation or test phantom is also a training phantom")
			}
		}
	}
	// Growing the training set changes neither the validation nor the test phantoms.
	bigger := p
	bigger.TrainSize = 10
	_, val2, test2, err := bigger.Splits()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(val[2].Image, val2[2].Image) || !slices.Equal(test[0].Mask, test2[0].Mask) {
		t.Error("validation or test phantoms changed with the training size")
	}
	data, err := p.Data(4, 3, 5)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for b, err := range data.Train(0) {
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Labels) != 3 || !slices.Equal(b.Inputs[0].Shape().Dimensions, []int{4, 32, 32, 1}) {
			t.Errorf("batch: inputs %s, %d labels", b.Inputs[0].Shape(), len(b.Labels))
		}
		_ = b.Finalize()
		n++
	}
	if n != 1 || data.StepsPerEpoch != 1 || p.Steps(4, 2) != 2 {
		t.Errorf("%d batches of 4 from 6 phantoms", n)
	}
	for _, bad := range []Phantoms{{ImageSize: 8, TrainSize: 1, ValSize: 1, TestSize: 1}, {ImageSize: 32, ValSize: 1, TestSize: 1},
		{ImageSize: 32, TrainSize: 1, ValSize: 1, TestSize: 1, MaxShift: 8}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestPhantomClassData(t *testing.T) {
	p := Phantoms{ImageSize: 32, TrainSize: 8, ValSize: 4, TestSize: 4}
	data, err := p.ClassData(4, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, _, testSet, err := p.Splits()
	if err != nil {
		t.Fatal(err)
	}
	for b, err := range data.Train(0) {
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Labels) != 1 || !slices.Equal(b.Labels[0].Shape().Dimensions, []int{4, 1}) {
			t.Fatalf("labels %v, want one [4 1] class column", b.Labels)
		}
		_ = b.Finalize()
	}
	// The test batches hold the test phantoms' classes, in order.
	var got []int32
	for b, err := range data.Test.Iter() {
		if err != nil {
			t.Fatal(err)
		}
		if got == nil {
			if got, err = tensors.CopyFlatData[int32](b.Labels[0]); err != nil {
				t.Fatal(err)
			}
		}
		_ = b.Finalize()
	}
	images, want, err := PhantomImages(testSet, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) || !slices.Equal(images.Shape().Dimensions, []int{2, 32, 32, 1}) {
		t.Errorf("test classes %v, PhantomImages %v (%s)", got, want, images.Shape())
	}
	for _, c := range got {
		if c < 0 || c >= PhantomClasses {
			t.Errorf("class %d outside [0, %d)", c, PhantomClasses)
		}
	}
	if _, _, err := PhantomImages(testSet, 3, 2); err == nil {
		t.Error("phantoms past the end accepted")
	}
}
