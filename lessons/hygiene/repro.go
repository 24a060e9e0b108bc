package hygiene

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Sameness is how two runs' records compare, value by value: the training loss of every logged
// step, the validation metrics of every epoch, the best epoch and the final metrics.
type Sameness struct {
	// Steps is the number of logged training losses compared; StepsDiffer how many differ in
	// any bit, FirstDiffer the first step that differs (0: none).
	Steps, StepsDiffer, FirstDiffer int
	// MaxLossDiff is the largest |Δ| of the logged training losses.
	MaxLossDiff float64
	// Values counts every number compared (losses, validation and final metrics) and Differ
	// those that differ in any bit.
	Values, Differ int
	// SameBest is whether both picked the same epoch's checkpoint.
	SameBest bool
}

// Identical reports whether the two records agree bit for bit.
func (s Sameness) Identical() bool { return s.Differ == 0 && s.SameBest }

// Compare compares two records of the same config (see [Sameness]). Records of different
// configs or of different lengths are an error: nothing would be the same by construction.
func Compare(a, b *experiment.Record) (Sameness, error) {
	var s Sameness
	if a.ConfigID != b.ConfigID {
		return s, fmt.Errorf("compare runs of different configs %s and %s", a.ConfigID, b.ConfigID)
	}
	if len(a.Steps) != len(b.Steps) || len(a.Epochs) != len(b.Epochs) {
		return s, fmt.Errorf("compare runs of different lengths: %d and %d logged steps, %d and %d epochs",
			len(a.Steps), len(b.Steps), len(a.Epochs), len(b.Epochs))
	}
	same := func(x, y float64) bool {
		s.Values++
		if math.Float64bits(x) != math.Float64bits(y) {
			s.Differ++
			return false
		}
		return true
	}
	for i, p := range a.Steps {
		q := b.Steps[i]
		s.Steps++
		s.MaxLossDiff = max(s.MaxLossDiff, math.Abs(p.Loss-q.Loss))
		if p.Step != q.Step || !same(p.Loss, q.Loss) {
			s.StepsDiffer++
			if s.FirstDiffer == 0 {
				s.FirstDiffer = p.Step
			}
		}
	}
	for i, e := range a.Epochs {
		same(e.TrainLoss, b.Epochs[i].TrainLoss)
		for _, k := range sortedKeys(e.Val) {
			same(e.Val[k], b.Epochs[i].Val[k])
		}
	}
	for _, k := range sortedKeys(a.Final) {
		same(a.Final[k], b.Final[k])
	}
	s.SameBest = a.Best != nil && b.Best != nil && a.Best.Epoch == b.Best.Epoch && a.Best.Step == b.Best.Step
	return s, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// WeightDiff is how far apart two sets of weights are.
type WeightDiff struct {
	// Variables is the number of variables compared, Differ how many differ in any element.
	Variables, Differ int
	// MaxAbs is the largest |Δ| of any element; Rel is ‖a − b‖ / ‖a‖ over all elements.
	MaxAbs, Rel float64
}

// Weights compares the trainable variables of a with the variables of the same names in b
// (optimizer state, BatchNorm's running statistics and counters are left out). Every one must
// exist in b with the same shape.
func Weights(a, b *model.Store) (WeightDiff, error) {
	var d WeightDiff
	var diff2, norm2 float64
	for v := range a.IterVariables() {
		if !v.Trainable {
			continue
		}
		w := b.GetVariable(v.Path())
		if w == nil {
			return d, fmt.Errorf("variable %s is missing from the second store", v.Path())
		}
		x, err := flatValues(v)
		if err != nil {
			return d, err
		}
		y, err := flatValues(w)
		if err != nil {
			return d, err
		}
		if len(x) != len(y) {
			return d, fmt.Errorf("variable %s: %d and %d elements", v.Path(), len(x), len(y))
		}
		if x == nil {
			continue // not a float32 variable (the RNG state, counters)
		}
		d.Variables++
		differ := false
		for i := range x {
			dx := float64(x[i]) - float64(y[i])
			if dx != 0 {
				differ = true
			}
			d.MaxAbs = max(d.MaxAbs, math.Abs(dx))
			diff2 += dx * dx
			norm2 += float64(x[i]) * float64(x[i])
		}
		if differ {
			d.Differ++
		}
	}
	if norm2 > 0 {
		d.Rel = math.Sqrt(diff2 / norm2)
	}
	return d, nil
}

// flatValues copies a float32 variable's values; nil for variables of other dtypes.
func flatValues(v *model.Variable) ([]float32, error) {
	t, err := v.Value()
	if err != nil {
		return nil, fmt.Errorf("variable %s: %w", v.Path(), err)
	}
	if t.DType() != dtypes.Float32 {
		return nil, nil
	}
	return tensors.CopyFlatData[float32](t)
}
