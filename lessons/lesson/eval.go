package lesson

import (
	"cmp"
	"context"
	"fmt"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gostudy/gostudy/datasets/mnist"
)

// Argmax is the index of v's first largest element (0 for an empty v).
func Argmax[T cmp.Ordered](v []T) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// ArgmaxRows is [Argmax] of every row of a row-major matrix with cols columns: the predicted
// class of every row of a [B, classes] logits tensor's flat data.
func ArgmaxRows[T cmp.Ordered](flat []T, cols int) []int {
	if cols <= 0 {
		return nil
	}
	out := make([]int, len(flat)/cols)
	for r := range out {
		out[r] = Argmax(flat[r*cols : (r+1)*cols])
	}
	return out
}

// Accuracy is the fraction of the first n images of set (all of them when n is 0) whose
// largest logit is their label. logits maps a batch of standardized images [B, 28, 28, 1]
// (B = [EvalBatch], the last batch may be smaller) to logits [B, classes]; a compiled
// model.Exec's Call1 fits. It stops with ctx's error when ctx is cancelled.
func Accuracy(ctx context.Context, set *mnist.Set, n int, logits func(images *tensors.Tensor) (*tensors.Tensor, error)) (float64, error) {
	if n == 0 {
		n = set.Len()
	}
	if n < 0 || n > set.Len() {
		return 0, fmt.Errorf("accuracy on %d images of a set of %d", n, set.Len())
	}
	correct := 0
	for start := 0; start < n; start += EvalBatch {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		b := min(EvalBatch, n-start)
		images, labels, err := Digits(set, start, b)
		if err != nil {
			return 0, err
		}
		out, err := logits(images)
		if err != nil {
			return 0, fmt.Errorf("accuracy, images %d..%d: %w", start, start+b-1, err)
		}
		dims := out.Shape().Dimensions
		if len(dims) != 2 || dims[0] != b {
			return 0, fmt.Errorf("accuracy: logits shaped %v for a batch of %d images, want [%d, classes]", dims, b, b)
		}
		flat, err := tensors.CopyFlatData[float32](out)
		out.FinalizeAll()
		if err != nil {
			return 0, fmt.Errorf("accuracy: %w", err)
		}
		for i, pred := range ArgmaxRows(flat, dims[1]) {
			if pred == int(labels[i]) {
				correct++
			}
		}
	}
	return float64(correct) / float64(n), nil
}
