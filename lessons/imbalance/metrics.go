package imbalance

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Scores are per-class and overall scores of predictions against true labels.
type Scores struct {
	// Confusion[t][p] counts the samples of true class t predicted as p; Counts[t] is the
	// number of samples of class t.
	Confusion [][]int
	Counts    []int
	// Recall[c] = TP/(TP+FN), Precision[c] = TP/(TP+FP) (0 when nothing was predicted c),
	// F1[c] their harmonic mean (0 when both are 0).
	Recall, Precision, F1 []float64
	// Accuracy is the fraction right; BalancedAccuracy the mean recall over the classes
	// present; MacroF1 the mean F1 over the classes present.
	Accuracy, BalancedAccuracy, MacroF1 float64
}

// Score computes [Scores] of predictions pred against labels, classes 0 … classes−1.
func Score(pred, labels []int, classes int) (Scores, error) {
	if len(pred) != len(labels) || len(labels) == 0 {
		return Scores{}, fmt.Errorf("score %d predictions against %d labels", len(pred), len(labels))
	}
	s := Scores{Confusion: make([][]int, classes), Counts: make([]int, classes), Recall: make([]float64, classes),
		Precision: make([]float64, classes), F1: make([]float64, classes)}
	for c := range s.Confusion {
		s.Confusion[c] = make([]int, classes)
	}
	right := 0
	for i, t := range labels {
		p := pred[i]
		if t < 0 || t >= classes || p < 0 || p >= classes {
			return Scores{}, fmt.Errorf("score: sample %d has label %d, prediction %d, outside [0, %d)", i, t, p, classes)
		}
		s.Confusion[t][p]++
		s.Counts[t]++
		if p == t {
			right++
		}
	}
	s.Accuracy = float64(right) / float64(len(labels))
	present := 0
	for c := range classes {
		predicted := 0
		for t := range classes {
			predicted += s.Confusion[t][c]
		}
		tp := float64(s.Confusion[c][c])
		if s.Counts[c] > 0 {
			s.Recall[c] = tp / float64(s.Counts[c])
		}
		if predicted > 0 {
			s.Precision[c] = tp / float64(predicted)
		}
		if s.Recall[c]+s.Precision[c] > 0 {
			s.F1[c] = 2 * s.Recall[c] * s.Precision[c] / (s.Recall[c] + s.Precision[c])
		}
		if s.Counts[c] > 0 {
			present++
			s.BalancedAccuracy += s.Recall[c]
			s.MacroF1 += s.F1[c]
		}
	}
	s.BalancedAccuracy /= float64(present)
	s.MacroF1 /= float64(present)
	return s, nil
}

// Images is a labelled set of images the lesson predicts on, a batch at a time.
type Images interface {
	Len() int
	// Batch returns images first … first+n−1 as the model's input, with their labels.
	Batch(first, n int) (*tensors.Tensor, []int, error)
	// Labels returns every image's label, in order.
	Labels() []int
}

// Predict runs predict over every image of set, lesson.EvalBatch at a time, and returns the
// predicted classes and the probability each image's true class got. A last, smaller batch is
// padded to the full size (and the padding's outputs dropped), so one compiled graph serves
// every batch.
func Predict(predict experiment.Predictor, set Images) (pred []int, pTrue []float64, err error) {
	for first := 0; first < set.Len(); first += lesson.EvalBatch {
		n := min(lesson.EvalBatch, set.Len()-first)
		x, labels, err := set.Batch(first, n)
		if err != nil {
			return nil, nil, err
		}
		if n < lesson.EvalBatch {
			if x, err = padBatch(x, lesson.EvalBatch); err != nil {
				return nil, nil, err
			}
		}
		out, err := predict(x)
		if err != nil {
			return nil, nil, fmt.Errorf("predict images %d..%d: %w", first, first+n-1, err)
		}
		logits, err := tensors.CopyFlatData[float32](out[0])
		for _, t := range out {
			t.FinalizeAll()
		}
		if err != nil {
			return nil, nil, err
		}
		classes := len(logits) / lesson.EvalBatch
		logits = logits[:n*classes]
		for i, row := range lesson.ArgmaxRows(logits, classes) {
			pred = append(pred, row)
			pTrue = append(pTrue, softmaxTrue(logits[i*classes:(i+1)*classes], labels[i]))
		}
	}
	return pred, pTrue, nil
}

// padBatch returns x [n, ...] padded with zeros to [size, ...].
func padBatch(x *tensors.Tensor, size int) (*tensors.Tensor, error) {
	dims := append([]int(nil), x.Shape().Dimensions...) // before FinalizeAll, which clears the shape
	flat, err := tensors.CopyFlatData[float32](x)
	x.FinalizeAll()
	if err != nil {
		return nil, err
	}
	per := len(flat) / dims[0]
	dims[0] = size
	return tensors.FromFlatDataAndDimensions(append(flat, make([]float32, (size*per)-len(flat))...), dims...), nil
}

// StorePredictor returns a Predictor over a store's weights (a finished run's best checkpoint)
// for a model function, compiled on backend b; close it to free the compiled graph.
func StorePredictor(b compute.Backend, store *model.Store, logits func(scope *model.Scope, x *graph.Node) *graph.Node) (experiment.Predictor, func(), error) {
	exec, err := model.NewExec(b, store, logits)
	if err != nil {
		return nil, nil, err
	}
	return func(inputs ...*tensors.Tensor) ([]*tensors.Tensor, error) {
		if len(inputs) != 1 {
			return nil, fmt.Errorf("predict: %d inputs, want the images", len(inputs))
		}
		return exec.Call(inputs[0])
	}, exec.Finalize, nil
}
