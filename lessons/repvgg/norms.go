package repvgg

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// BNMode is a trained network evaluated with BatchNorm in train mode (each batch normalized
// with its own statistics) at one batch size, against eval mode (the running statistics the
// training accumulated).
type BNMode struct {
	Batch int `display:"batch size"`
	// Acc is the accuracy in train mode; EvalAcc the accuracy in eval mode (the same at every
	// batch size, which is the point).
	Acc     float64 `display:"accuracy, BN on batch statistics;format=%.4f"`
	EvalAcc float64 `display:"accuracy, BN on running statistics;format=%.4f"`
	// MeanAbsDiff is the mean |logit difference| between the two modes; Changed the fraction
	// of digits whose predicted class differs.
	MeanAbsDiff float64 `display:"mean |logit difference|;format=%.3f"`
	Changed     float64 `display:"predictions changed;format=%.3f"`
}

// BatchNormModes evaluates the first n digits of set with a trained network (variables in store,
// which is not modified: the train-mode graphs run on a copy, since they update the running
// statistics) in eval mode, then in train mode at each batch size.
func BatchNormModes(ctx context.Context, backend compute.Backend, store *model.Store, cfg RunConfig, set *mnist.Set, n int, batchSizes []int) ([]BNMode, error) {
	return lesson.Catch("BatchNorm modes", func() ([]BNMode, error) {
		experiment.LoadAllVariables(store)
		logits := func(s *model.Store, training bool, batch int) ([][]float32, error) {
			exec, err := model.NewExec(backend, s, func(scope *model.Scope, x *Node) *Node {
				scope.Store().SetTraining(x.Graph(), training)
				return cfg.Logits(scope, x, 10)
			})
			if err != nil {
				return nil, err
			}
			defer exec.Finalize()
			var rows [][]float32
			for start := 0; start < n; start += batch {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				images, _, err := lesson.Digits(set, start, min(batch, n-start))
				if err != nil {
					return nil, err
				}
				out, err := exec.Call1(images)
				if err != nil {
					return nil, err
				}
				flat, err := tensors.CopyFlatData[float32](out)
				out.FinalizeAll()
				if err != nil {
					return nil, err
				}
				for r := 0; r < len(flat); r += 10 {
					rows = append(rows, flat[r:r+10])
				}
			}
			return rows, nil
		}
		eval, err := logits(store, false, lesson.EvalBatch)
		if err != nil {
			return nil, err
		}
		accuracy := func(rows [][]float32) float64 {
			right := 0
			for i, r := range rows {
				if lesson.Argmax(r) == set.Label(i) {
					right++
				}
			}
			return float64(right) / float64(len(rows))
		}
		evalAcc := accuracy(eval)
		var out []BNMode
		for _, b := range batchSizes {
			if b < 1 {
				return nil, fmt.Errorf("batch size %d", b)
			}
			clone, err := store.Clone()
			if err != nil {
				return nil, fmt.Errorf("copy the variables: %w", err)
			}
			train, err := logits(clone, true, b)
			clone.Finalize()
			if err != nil {
				return nil, fmt.Errorf("train mode, batch %d: %w", b, err)
			}
			m := BNMode{Batch: b, Acc: accuracy(train), EvalAcc: evalAcc}
			changed := 0
			for i := range train {
				for j := range train[i] {
					m.MeanAbsDiff += math.Abs(float64(train[i][j] - eval[i][j]))
				}
				if lesson.Argmax(train[i]) != lesson.Argmax(eval[i]) {
					changed++
				}
			}
			m.MeanAbsDiff /= float64(10 * len(train))
			m.Changed = float64(changed) / float64(len(train))
			out = append(out, m)
		}
		return out, nil
	})
}

// NormParams is what one normalization layer learns and keeps, on C channels.
type NormParams struct {
	Norm string `display:"normalization"`
	// Over is the set of axes each mean and variance is taken over.
	Over string `display:"statistics over"`
	// Learned are the trainable variables and their count (γ and β, C each); Buffers the
	// statistics it keeps between batches.
	Learned       string `display:"learned (by gradient)"`
	LearnedParams int    `display:"learned parameters"`
	Buffers       string `display:"buffers (not learned)"`
	// DenseParams is what a fully connected layer C → C would learn, for comparison.
	DenseParams int `display:"a C→C linear layer would learn"`
}

// NormParamTables builds BatchNorm, LayerNorm and GroupNorm with 1 and with `groups` groups on a
// [1, h, h, c] map (graphs built on the pure-Go backend, nothing run) and lists their
// variables.
func NormParamTables(c, h, groups int) ([]NormParams, error) {
	b, err := countingBackend()
	if err != nil {
		return nil, err
	}
	norms := []struct {
		name, over string
		fn         nn.ModelFn
	}{
		{"BatchNorm2d", "N, H, W (per channel, across the batch)", func(s *model.Scope, x *Node) *Node {
			return nn.BatchNorm2d(s, x, nn.BatchNormConfig{})
		}},
		{"LayerNorm (over channels)", "C (per sample and position)", func(s *model.Scope, x *Node) *Node { return nn.LayerNorm(s, x, 1e-5) }},
		{"GroupNorm(1, C)", "C, H, W (per sample)", func(s *model.Scope, x *Node) *Node { return nn.GroupNorm(s, x, 1, 1e-5) }},
		{fmt.Sprintf("GroupNorm(%d, C)", groups), "C/G, H, W (per sample and group)", func(s *model.Scope, x *Node) *Node {
			return nn.GroupNorm(s, x, groups, 1e-5)
		}},
	}
	var out []NormParams
	for _, nm := range norms {
		store := model.NewStore()
		if _, err := nn.Build(b, store, nm.fn, shapes.Make(dtypes.Float32, 1, h, h, c)); err != nil {
			store.Finalize()
			return nil, fmt.Errorf("%s: %w", nm.name, err)
		}
		row := NormParams{Norm: nm.name, Over: nm.over, DenseParams: c*c + c}
		var learned, buffers []string
		for v := range store.IterVariables() {
			name := nn.PathToKey(v.Path())
			if strings.Contains(name, "#") {
				continue
			}
			desc := fmt.Sprintf("%s %v", name, v.Shape().Dimensions)
			if v.Trainable {
				learned = append(learned, desc)
				row.LearnedParams += v.Shape().Size()
			} else {
				buffers = append(buffers, desc)
			}
		}
		store.Finalize()
		slices.Sort(learned)
		slices.Sort(buffers)
		row.Learned = strings.Join(learned, ", ")
		row.Buffers = strings.Join(buffers, ", ")
		if row.Buffers == "" {
			row.Buffers = "none"
		}
		out = append(out, row)
	}
	return out, nil
}

// Scaling is how LayerNorm and a linear layer respond when each sample is multiplied by its own
// factor.
type Scaling struct {
	Scales []float64
	// LayerNormDiff is max |LN(a·x) − LN(x)| over samples and features; LayerNormOut the largest
	// |LN(x)|, for scale.
	LayerNormDiff, LayerNormOut float64
	// LinearRelDiff is max over samples of |FC(a·x) − FC(x)| / |FC(x)| (vector norms); a linear
	// layer's output moves with the input's scale.
	LinearRelDiff float64
	// LinearHomogeneity is max |FC(a·x) − b − a·(FC(x) − b)|: a linear layer is homogeneous,
	// LN is not.
	LinearHomogeneity float64
}

// ProveScaleInvariance takes digits [B, 28, 28, 1] as B vectors of 784 features, multiplies
// sample i by scales[i % len(scales)], and compares LayerNorm over the features (γ = 1,
// β = 0 as initialised; a learned γ, β would apply after the normalisation and keep the
// invariance) with a linear layer 784 → 64 (random, as initialised), on backend.
func ProveScaleInvariance(backend compute.Backend, images *tensors.Tensor, scales []float64) (Scaling, error) {
	return lesson.Catch("LayerNorm scale invariance", func() (Scaling, error) {
		s := Scaling{Scales: scales}
		bsz := images.Shape().Dimensions[0]
		a := make([]float32, bsz)
		for i := range a {
			a[i] = float32(scales[i%len(scales)])
		}
		store := model.NewStore()
		defer store.Finalize()
		exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *Node) []*Node {
			g := x.Graph()
			x = Reshape(x, bsz, -1)
			ax := Mul(x, Const(g, tensors.FromFlatDataAndDimensions(a, bsz, 1)))
			ln := scope.In("ln")
			l0, l1 := nn.LayerNorm(ln, x, 1e-5), nn.LayerNorm(ln.ResetVisited(), ax, 1e-5)
			fc := scope.In("fc")
			f0, f1 := nn.Linear(fc, x, 64, true), nn.Linear(fc.ResetVisited(), ax, 64, true)
			bias := Reshape(fc.GetVariable("bias").NodeValue(g), 1, -1)
			norm := func(v *Node) *Node { return Sqrt(ReduceSum(Square(v), 1)) }
			aCol := Const(g, tensors.FromFlatDataAndDimensions(a, bsz, 1))
			homog := Sub(Sub(f1, bias), Mul(aCol, Sub(f0, bias)))
			return []*Node{ReduceAllMax(Abs(Sub(l1, l0))), ReduceAllMax(Abs(l0)),
				ReduceAllMax(Div(norm(Sub(f1, f0)), norm(f0))), ReduceAllMax(Abs(homog))}
		})
		if err != nil {
			return s, err
		}
		defer exec.Finalize()
		out, err := exec.Call(images)
		if err != nil {
			return s, err
		}
		v := func(i int) float64 { return shapes.ConvertTo[float64](out[i].Value()) }
		s.LayerNormDiff, s.LayerNormOut, s.LinearRelDiff, s.LinearHomogeneity = v(0), v(1), v(2), v(3)
		return s, nil
	})
}

// GroupStats compares GroupNorm(1, C) with normalising by hand over C·H·W, and with LayerNorm
// over C alone (per position, timm's LayerNorm2d), on a [B, H, W, C] feature map.
type GroupStats struct {
	Shape []int
	// ByHandDiff is max |GroupNorm(1, C)(x) − (x − mean_CHW)/√(var_CHW + ε)|.
	ByHandDiff float64
	// LayerNormDiff is max |GroupNorm(1, C)(x) − LayerNorm_C(x)|: not the same normalisation.
	LayerNormDiff float64
	// SampleMean and SampleStd are the largest |mean| and |std − 1| of a sample's GroupNorm
	// output over all its C·H·W values; PositionStd the spread of per-position std over C
	// (what LayerNorm would make 1, and GroupNorm(1, C) does not).
	SampleMean, SampleStdDev, PositionStdMin, PositionStdMax float64
}

// ProveGroupNorm computes GroupStats on the output of a random 3×3 conv stem (c channels,
// stride 2) applied to digits [B, 28, 28, 1], on backend.
func ProveGroupNorm(backend compute.Backend, images *tensors.Tensor, c int) (GroupStats, error) {
	return lesson.Catch("GroupNorm(1, C)", func() (GroupStats, error) {
		var gs GroupStats
		store := model.NewStore()
		defer store.Finalize()
		exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *Node) []*Node {
			x = nn.Conv2d(scope.In("stem"), x, nn.Conv2dConfig{Out: c, Kernel: 3, Stride: 2, Padding: 1, Bias: true})
			gs.Shape = x.Shape().Dimensions
			gn := nn.GroupNorm(scope.In("gn"), x, 1, 1e-5)
			axes := []int{1, 2, 3}
			mean := ReduceAndKeep(x, ReduceMean, axes...)
			variance := ReduceAndKeep(Square(Sub(x, mean)), ReduceMean, axes...)
			byHand := Div(Sub(x, mean), Sqrt(AddScalar(variance, 1e-5)))
			ln := nn.LayerNorm(scope.In("ln"), x, 1e-5)
			gMean := ReduceMean(gn, axes...)
			gStd := Sqrt(ReduceMean(Square(Sub(gn, ReduceAndKeep(gn, ReduceMean, axes...))), axes...))
			pStd := Sqrt(ReduceMean(Square(Sub(gn, ReduceAndKeep(gn, ReduceMean, 3))), 3))
			return []*Node{ReduceAllMax(Abs(Sub(gn, byHand))), ReduceAllMax(Abs(Sub(gn, ln))),
				ReduceAllMax(Abs(gMean)), ReduceAllMax(Abs(AddScalar(gStd, -1))), ReduceAllMin(pStd), ReduceAllMax(pStd)}
		})
		if err != nil {
			return gs, err
		}
		defer exec.Finalize()
		out, err := exec.Call(images)
		if err != nil {
			return gs, err
		}
		v := func(i int) float64 { return shapes.ConvertTo[float64](out[i].Value()) }
		gs.ByHandDiff, gs.LayerNormDiff, gs.SampleMean, gs.SampleStdDev, gs.PositionStdMin, gs.PositionStdMax = v(0), v(1), v(2), v(3), v(4), v(5)
		return gs, nil
	})
}
