package segkit

import (
	"fmt"
	"image/color"

	"github.com/gostudy/gostudy/datasets/phantom"
	"github.com/gostudy/gostudy/pkg/plots"
)

// Colours of the overlays: ground truth green, prediction yellow, false positives red, false
// negatives blue.
var (
	TruthColor = color.NRGBA{R: 40, G: 220, B: 60, A: 255}
	PredColor  = color.NRGBA{R: 255, G: 200, B: 0, A: 255}
	FPColor    = color.NRGBA{R: 255, G: 40, B: 40, A: 255}
	FNColor    = color.NRGBA{R: 40, G: 140, B: 255, A: 255}
)

// Grid2D reshapes a row-major n×n map into rows, what plots' figures take.
func Grid2D[T float32 | uint8 | float64](v []T, n int) [][]float32 {
	out := make([][]float32, n)
	for y := range n {
		out[y] = make([]float32, n)
		for x := range n {
			out[y][x] = float32(v[y*n+x])
		}
	}
	return out
}

// Errors splits a prediction's mistakes against a mask: false positives (predicted, not in
// the mask) and false negatives (in the mask, missed).
func Errors(pred, mask []uint8) (fp, fn []uint8) {
	fp, fn = make([]uint8, len(pred)), make([]uint8, len(pred))
	for i := range pred {
		switch {
		case pred[i] != 0 && mask[i] == 0:
			fp[i] = 1
		case pred[i] == 0 && mask[i] != 0:
			fn[i] = 1
		}
	}
	return fp, fn
}

// Overlay draws one image with its errors filled (false positives red, false negatives blue)
// and the contours of the ground truth (green) and the prediction (yellow) over them. gt is
// the reference mask (the sample's own when nil: a rater's labels otherwise).
func Overlay(s *phantom.Sample, prob []float32, gt []uint8, title string) plots.Overlay {
	n := s.Size
	if gt == nil {
		gt = s.Mask
	}
	pred := Binarize(prob)
	fp, fn := Errors(pred, gt)
	return plots.Overlay{
		Image: Grid2D(s.Image, n),
		Title: title,
		Layers: []plots.Layer{
			{Name: "false positive", Mask: Grid2D(fp, n), Color: FPColor},
			{Name: "false negative", Mask: Grid2D(fn, n), Color: FNColor},
			{Name: "ground truth", Mask: Grid2D(gt, n), Mode: plots.Outline, Color: TruthColor},
			{Name: "prediction", Mask: Grid2D(pred, n), Mode: plots.Outline, Color: PredColor},
		},
	}
}

// Overlays is a grid of [Overlay]s of the given samples, titled with each image's index and
// Dice score.
func Overlays(samples []*phantom.Sample, probs [][]float32, labels [][]uint8, cols int, title string) (plots.Grid, error) {
	if len(samples) != len(probs) || (labels != nil && len(labels) != len(samples)) {
		return plots.Grid{}, fmt.Errorf("overlays: %d samples, %d predictions, %d labels", len(samples), len(probs), len(labels))
	}
	var figs []plots.Figure
	for i, s := range samples {
		var gt []uint8
		if labels != nil {
			gt = labels[i]
		}
		d, err := Dice([][]uint8{Binarize(probs[i])}, []*phantom.Sample{s}, [][]uint8{orMask(gt, s)})
		if err != nil {
			return plots.Grid{}, err
		}
		figs = append(figs, Overlay(s, probs[i], gt, fmt.Sprintf("image %d: Dice %.2f", s.Index, d[0])))
	}
	return plots.Grid{Title: title, Cols: cols, Figures: figs}, nil
}

func orMask(gt []uint8, s *phantom.Sample) []uint8 {
	if gt == nil {
		return s.Mask
	}
	return gt
}
