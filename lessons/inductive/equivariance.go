package inductive

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/nn"
)

// Equivariance is how far one layer is from commuting with a shift T of the input by Shift
// pixels to the right: ‖f(Tx) − T′f(x)‖ / ‖f(x)‖ over the positions both maps cover, T′ the
// matching shift of the output grid.
type Equivariance struct {
	Shift int `display:"shift (px)"`
	// Conv is a 3×3 convolution, stride 1: T′ = T, so 0 up to rounding (the CNN's bias).
	Conv float64 `display:"3×3 conv;format=%.2g"`
	// Patch is the ViT's 4×4 patchify stem, stride 4: the token grid can only move by whole
	// patches, so only shifts that are multiples of 4 have a T′; for the others the best of
	// the two nearest whole-patch moves is shown.
	Patch float64 `display:"4×4 patchify (best token move);format=%.2g"`
	// PatchMove is that best move, in tokens.
	PatchMove int `display:"token move"`
}

// MeasureEquivariance measures [Equivariance] of freshly initialized (seed) layers on the
// first n digits of set, for each shift, on backend b.
func MeasureEquivariance(b compute.Backend, set *mnist.Set, n int, shifts []int, seed int64) ([]Equivariance, error) {
	return lesson.Catch("measure equivariance", func() ([]Equivariance, error) {
		p := nn.ViTTiny28().PatchSize
		store := model.NewStore()
		store.SetParam(model.ParamInitialSeed, seed)
		exec, err := model.NewExec(b, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
			return []*graph.Node{
				nn.Conv2d(scope.In("conv"), x, nn.Conv2dConfig{Out: 16, Kernel: 3, Padding: 1}),
				nn.Conv2d(scope.In("patch"), x, nn.Conv2dConfig{Out: 64, Kernel: p, Stride: p}),
			}
		})
		if err != nil {
			return nil, err
		}
		defer exec.Finalize()
		maps := func(set *mnist.Set) (conv, patch grid, err error) {
			x, _, err := lesson.Digits(set, 0, n)
			if err != nil {
				return grid{}, grid{}, err
			}
			out, err := exec.Call(x)
			if err != nil {
				return grid{}, grid{}, err
			}
			defer func() {
				for _, t := range out {
					t.FinalizeAll()
				}
			}()
			if conv, err = gridOf(out[0]); err != nil {
				return grid{}, grid{}, err
			}
			patch, err = gridOf(out[1])
			return conv, patch, err
		}
		conv0, patch0, err := maps(set)
		if err != nil {
			return nil, err
		}
		var rows []Equivariance
		for _, s := range shifts {
			if s < 1 {
				return nil, fmt.Errorf("shift %d: want ≥ 1 pixel", s)
			}
			moved, err := Shifted(set, n, s, 0)
			if err != nil {
				return nil, err
			}
			conv, patch, err := maps(moved)
			if err != nil {
				return nil, err
			}
			// Column 0 and the last column of a padded 3×3 conv see the zero padding, which
			// does not move with the image.
			r := Equivariance{Shift: s, Conv: conv.diff(conv0, s, 1), Patch: math.Inf(1)}
			for _, k := range []int{s / p, (s + p - 1) / p} {
				if d := patch.diff(patch0, k, 0); d < r.Patch {
					r.Patch, r.PatchMove = d, k
				}
			}
			rows = append(rows, r)
		}
		return rows, nil
	})
}

// grid is a [B, H, W, C] feature map's values.
type grid struct {
	b, h, w, c int
	v          []float32
}

func gridOf(t *tensors.Tensor) (grid, error) {
	d := t.Shape().Dimensions
	if len(d) != 4 {
		return grid{}, fmt.Errorf("feature map shaped %v, want [B, H, W, C]", d)
	}
	v, err := tensors.CopyFlatData[float32](t)
	return grid{d[0], d[1], d[2], d[3], v}, err
}

// diff is ‖g(·, x) − base(·, x−k)‖ / ‖base(·, x−k)‖ over the columns x both cover, leaving
// out margin columns at each edge.
func (g grid) diff(base grid, k, margin int) float64 {
	var num, den float64
	for bi := range g.b {
		for y := range g.h {
			for x := k + margin; x < g.w-margin; x++ {
				for c := range g.c {
					a := float64(g.v[((bi*g.h+y)*g.w+x)*g.c+c])
					r := float64(base.v[((bi*g.h+y)*g.w+x-k)*g.c+c])
					num += (a - r) * (a - r)
					den += r * r
				}
			}
		}
	}
	if den == 0 {
		return 0
	}
	return math.Sqrt(num / den)
}
