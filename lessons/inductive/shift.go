package inductive

import (
	"context"
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/lessons/lesson"
)

// Shifted returns the first n digits of set moved dx pixels right and dy down (negative:
// left, up), the uncovered pixels filled with background (0), the ink pushed past the edge
// lost. mnist.Augment shifts at random for training; a test needs every digit moved the same.
func Shifted(set *mnist.Set, n, dx, dy int) (*mnist.Set, error) {
	if n <= 0 || n > set.Len() {
		return nil, fmt.Errorf("shift %d digits of a set of %d", n, set.Len())
	}
	out := &mnist.Set{Split: set.Split, Pixels: make([]uint8, n*mnist.Pixels), Labels: append([]uint8(nil), set.Labels[:n]...)}
	for i := range n {
		src, dst := set.Image(i), out.Image(i)
		for y := range mnist.Height {
			sy := y - dy
			if sy < 0 || sy >= mnist.Height {
				continue
			}
			for x := range mnist.Width {
				if sx := x - dx; sx >= 0 && sx < mnist.Width {
					dst[y*mnist.Width+x] = src[sy*mnist.Width+sx]
				}
			}
		}
	}
	return out, nil
}

// ShiftPoint is a trained model's test accuracy with the digits shifted by Shift pixels,
// averaged over the four directions (right, left, down, up).
type ShiftPoint struct {
	Shift int     `display:"shift (px)"`
	Acc   float64 `display:"test accuracy;format=%.4f"`
}

// MeasureShift is the accuracy of the weights in store (a run of cfg) on the first n test
// digits shifted by each of shifts, on backend b.
func MeasureShift(ctx context.Context, b compute.Backend, store *model.Store, cfg RunConfig, testSet *mnist.Set, n int,
	shifts []int) ([]ShiftPoint, error) {
	return lesson.Catch("measure accuracy under shifts", func() ([]ShiftPoint, error) {
		exec, err := model.NewExec(b, store, func(scope *model.Scope, x *graph.Node) *graph.Node { return cfg.Logits(scope, x) })
		if err != nil {
			return nil, err
		}
		defer exec.Finalize()
		logits := func(images *tensors.Tensor) (*tensors.Tensor, error) {
			out, err := exec.Call(images)
			if err != nil {
				return nil, err
			}
			return out[0], nil
		}
		var points []ShiftPoint
		for _, s := range shifts {
			dirs := [][2]int{{s, 0}, {-s, 0}, {0, s}, {0, -s}}
			if s == 0 {
				dirs = dirs[:1]
			}
			sum := 0.0
			for _, d := range dirs {
				set, err := Shifted(testSet, n, d[0], d[1])
				if err != nil {
					return nil, err
				}
				acc, err := lesson.Accuracy(ctx, set, 0, logits)
				if err != nil {
					return nil, fmt.Errorf("shift %v: %w", d, err)
				}
				sum += acc
			}
			points = append(points, ShiftPoint{Shift: s, Acc: sum / float64(len(dirs))})
		}
		return points, nil
	})
}

// ShiftDrop is the mean accuracy lost over the nonzero shifts: points[0] (shift 0) minus the
// mean of the others. A ViT with 4×4 patches loses less at 4 pixels (a whole-token move) than
// at 2, so the mean over shifts, not the largest shift alone, says what shifting costs.
func ShiftDrop(points []ShiftPoint) float64 {
	if len(points) < 2 {
		return 0
	}
	sum := 0.0
	for _, p := range points[1:] {
		sum += p.Acc
	}
	return points[0].Acc - sum/float64(len(points)-1)
}
