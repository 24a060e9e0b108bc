package lesson

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gostudy/gostudy/datasets/mnist"
)

func TestArgmax(t *testing.T) {
	if Argmax([]float32{1, 3, 3, 2}) != 1 || Argmax([]int{-5}) != 0 || Argmax([]float64{}) != 0 {
		t.Error("Argmax: want the first largest")
	}
	got := ArgmaxRows([]float32{0, 1, 0, 5, 2, 1}, 3)
	if len(got) != 2 || got[0] != 1 || got[1] != 0 {
		t.Errorf("ArgmaxRows = %v", got)
	}
}

// TestAccuracy feeds logits built from the labels: right for a known fraction of the images.
func TestAccuracy(t *testing.T) {
	set, err := mnist.Load(mnist.Test)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	wrongEvery := 4 // images 0, 4, 8, ... get the wrong class
	logits := func(images *tensors.Tensor) (*tensors.Tensor, error) {
		b := images.Shape().Dimensions[0]
		out := make([]float32, b*10)
		for i := range b {
			lbl := set.Label(seen + i)
			if (seen+i)%wrongEvery == 0 {
				lbl = (lbl + 1) % 10
			}
			out[i*10+lbl] = 1
		}
		seen += b
		return tensors.FromFlatDataAndDimensions(out, b, 10), nil
	}
	acc, err := Accuracy(context.Background(), set, 600, logits)
	if err != nil {
		t.Fatal(err)
	}
	if acc != 0.75 || seen != 600 {
		t.Errorf("accuracy %g over %d images, want 0.75 over 600 (batches of 250, 250, 100)", acc, seen)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Accuracy(ctx, set, 600, logits); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	bad := func(images *tensors.Tensor) (*tensors.Tensor, error) { return tensors.FromValue([]float32{1}), nil }
	if _, err := Accuracy(context.Background(), set, 10, bad); err == nil || !strings.Contains(err.Error(), "logits shaped") {
		t.Errorf("wrong logits shape: %v", err)
	}
}

func TestCatch(t *testing.T) {
	v, err := Catch("fine", func() (int, error) { return 3, nil })
	if v != 3 || err != nil {
		t.Errorf("Catch without panic: %d, %v", v, err)
	}
	_, err = Catch("build the graph", func() (int, error) { panic(errors.New("shapes differ")) })
	if err == nil || err.Error() != "build the graph: shapes differ" {
		t.Errorf("panic(error): %v", err)
	}
	_, err = Catch("draw", func() (int, error) { panic("a string") })
	if err == nil || !strings.Contains(err.Error(), "draw: a string") {
		t.Errorf("panic(string): %v", err)
	}
	_, err = Catch("index", func() (int, error) {
		var s []int
		return s[3], nil
	})
	if err == nil || !strings.Contains(err.Error(), "index out of range") {
		t.Errorf("runtime panic: %v", err)
	}
	wrapped := fmt.Errorf("inner")
	if _, err := Catch("outer", func() (int, error) { return 0, wrapped }); !errors.Is(err, wrapped) {
		t.Errorf("returned error not wrapped: %v", err)
	}
}
