package dropout

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/nn"
)

// This file: dropout on one tensor — the 1/(1−p) factor, train vs eval mode, and what Dropout
// and DropPath zero.

// ScalingRow is what dropping one fixed activation tensor x with probability p did over many
// independent draws (fresh masks), with the 1/(1−p) factor (nn.Dropout) and without it
// (nn.DropoutNoRescale).
type ScalingRow struct {
	P     float64 `display:"p"`
	Draws int     `display:"draws"`
	// Units is the number of elements of x that are positive, the ones whose ratio y/x is
	// defined (x comes after a ReLU, so the others are 0 and stay 0).
	Units int `display:"positive units"`
	// Ratio is Σ_draws Σ_i y_i / (Draws · Σ_i x_i): the mean output over the mean input, with
	// the factor; the claim is 1. RatioNaive is the same without the factor; the claim is 1−p.
	Ratio      float64 `display:"E[y]/x with 1/(1−p);format=%.4f"`
	RatioNaive float64 `display:"E[y]/x without;format=%.4f"`
	// UnitRatioMean is the mean, over units, of each unit's own ratio (its output averaged over
	// the draws, divided by its input): the notes' point that E[y] = a holds for every single
	// unit a, not just for the tensor's total. UnitRatioStd is the spread of those per-unit
	// ratios and UnitRatioStdExpected the binomial prediction √(p/((1−p)·Draws)): the per-unit
	// average converges to a like any mean of draws, with that error.
	UnitRatioMean        float64 `display:"per unit: mean;format=%.4f"`
	UnitRatioStd         float64 `display:"per unit: std;format=%.4f"`
	UnitRatioStdExpected float64 `display:"binomial std;format=%.4f"`
	UnitRatioMeanNaive   float64 `display:"per unit without: mean;format=%.4f"`
	// DroppedFrac is the fraction of (unit, draw) pairs set to 0; the claim is p.
	DroppedFrac float64 `display:"dropped;format=%.4f"`
	// KeptScaleErr is max |y_i − x_i/(1−p)| / (x_i/(1−p)) over the kept units: kept units are
	// exactly scaled, not perturbed.
	KeptScaleErr float64 `display:"kept ≠ x/(1−p) by;format=%.1e"`
}

// Scaling holds the rows of [MeasureScaling] and, for one p (HistP), samples to draw
// histograms with their means.
type Scaling struct {
	Rows  []ScalingRow
	HistP float64
	// Input holds the positive units of x (the ones a drop can change; after a ReLU the others
	// are 0), Rescaled and Naive the same units after one draw of dropout with and without the
	// factor. HistMax is the 95th percentile of Rescaled, a range for their histogram.
	Input, Rescaled, Naive []float32
	HistMax                float64
	// UnitRatios and UnitRatiosNaive hold, for every positive unit, its output averaged over
	// all draws divided by its input: 1 means E[y] = x for that unit.
	UnitRatios, UnitRatiosNaive []float32
	// InputMean, RescaledMean and NaiveMean are the means of Input, Rescaled and Naive.
	InputMean, RescaledMean, NaiveMean float64
}

// Row returns the row of probability p, or nil.
func (s *Scaling) Row(p float64) *ScalingRow {
	for i := range s.Rows {
		if s.Rows[i].P == p {
			return &s.Rows[i]
		}
	}
	return nil
}

// trainingOnly builds fn with the training flag on, so a drop is active in a graph that has
// no trainer around it.
func trainingOnly(fn func(scope *model.Scope, x *graph.Node) []*graph.Node) func(scope *model.Scope, x *graph.Node) []*graph.Node {
	return func(scope *model.Scope, x *graph.Node) []*graph.Node {
		scope.Store().SetTraining(x.Graph(), true)
		return fn(scope, x)
	}
}

// newSeededStore is an empty Store whose random number generator (the one dropout masks come
// from) starts from seed.
func newSeededStore(seed int64) (*model.Store, error) {
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(seed); err != nil {
		return nil, fmt.Errorf("seed the random number generator: %w", err)
	}
	store.SetParam(model.ParamInitialSeed, seed)
	return store, nil
}

// MeasureScaling drops the activation tensor x (any shape, float32, non-negative as after a
// ReLU) draws times for every p in ps, with and without the 1/(1−p) factor, and measures the
// means. histP (one of ps) selects the probability whose samples go into the histograms.
// Everything runs in one compiled graph that returns, per call, one fresh draw of every p and
// both variants.
func MeasureScaling(backend compute.Backend, x *tensors.Tensor, ps []float64, draws int, histP float64, seed int64) (*Scaling, error) {
	return lesson.Catch("measure dropout scaling", func() (*Scaling, error) {
		return measureScaling(backend, x, ps, draws, histP, seed)
	})
}

func measureScaling(backend compute.Backend, x *tensors.Tensor, ps []float64, draws int, histP float64, seed int64) (res *Scaling, err error) {
	if draws < 2 || len(ps) == 0 {
		return nil, fmt.Errorf("measure scaling: need ≥ 2 draws and some p, got %d draws, ps %v", draws, ps)
	}
	xs := tensors.MustCopyFlatData[float32](x)
	for _, v := range xs {
		if v < 0 {
			return nil, fmt.Errorf("measure scaling: x must be non-negative (activations after a ReLU), found %g", v)
		}
	}
	store, err := newSeededStore(seed)
	if err != nil {
		return nil, err
	}
	defer store.Finalize()
	exec, err := model.NewExec(backend, store, trainingOnly(func(scope *model.Scope, x *graph.Node) []*graph.Node {
		var outs []*graph.Node
		for i, p := range ps {
			outs = append(outs,
				nn.Dropout(scope.In("rescaled%d", i), x, p),
				nn.DropoutNoRescale(scope.In("naive%d", i), x, p))
		}
		return outs
	}))
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()

	n := len(xs)
	sumX := 0.0
	units := 0
	for _, v := range xs {
		sumX += float64(v)
		if v > 0 {
			units++
		}
	}
	// Per p and variant: per-unit sums over draws, total sums, dropped counts, scale error.
	type acc struct {
		unitSum  []float64
		total    float64
		dropped  int
		scaleErr float64
		first    []float32
		hasFirst bool
	}
	accs := make([][2]acc, len(ps))
	for i := range accs {
		for v := range 2 {
			accs[i][v].unitSum = make([]float64, n)
		}
	}
	for d := range draws {
		outs, err := exec.Exec(x)
		if err != nil {
			return nil, fmt.Errorf("draw %d: %w", d, err)
		}
		for i, p := range ps {
			for v := range 2 {
				y := tensors.MustCopyFlatData[float32](outs[2*i+v])
				a := &accs[i][v]
				if !a.hasFirst {
					a.first, a.hasFirst = y, true
				}
				for j, yv := range y {
					a.unitSum[j] += float64(yv)
					a.total += float64(yv)
					if xs[j] <= 0 {
						continue
					}
					if yv == 0 {
						a.dropped++
					} else if v == 0 {
						want := float64(xs[j]) / (1 - p)
						a.scaleErr = math.Max(a.scaleErr, math.Abs(float64(yv)-want)/want)
					}
				}
			}
			outs[2*i].FinalizeAll()
			outs[2*i+1].FinalizeAll()
		}
	}
	res = &Scaling{HistP: histP}
	for i, p := range ps {
		r := ScalingRow{P: p, Draws: draws, Units: units}
		r.Ratio = accs[i][0].total / (float64(draws) * sumX)
		r.RatioNaive = accs[i][1].total / (float64(draws) * sumX)
		r.DroppedFrac = float64(accs[i][0].dropped) / float64(units*draws)
		r.KeptScaleErr = accs[i][0].scaleErr
		var ratios, ratiosNaive []float32
		var s, ss, sNaive float64
		for j, xv := range xs {
			if xv <= 0 {
				continue
			}
			u := accs[i][0].unitSum[j] / float64(draws) / float64(xv)
			un := accs[i][1].unitSum[j] / float64(draws) / float64(xv)
			s += u
			ss += u * u
			sNaive += un
			ratios = append(ratios, float32(u))
			ratiosNaive = append(ratiosNaive, float32(un))
		}
		r.UnitRatioMean = s / float64(units)
		r.UnitRatioMeanNaive = sNaive / float64(units)
		r.UnitRatioStd = math.Sqrt(math.Max(ss/float64(units)-r.UnitRatioMean*r.UnitRatioMean, 0))
		r.UnitRatioStdExpected = math.Sqrt(p / ((1 - p) * float64(draws)))
		res.Rows = append(res.Rows, r)
		if p == histP {
			for j, xv := range xs {
				if xv > 0 {
					res.Input = append(res.Input, xv)
					res.Rescaled = append(res.Rescaled, accs[i][0].first[j])
					res.Naive = append(res.Naive, accs[i][1].first[j])
				}
			}
			res.UnitRatios, res.UnitRatiosNaive = ratios, ratiosNaive
			res.InputMean = meanF32(res.Input)
			res.RescaledMean = meanF32(res.Rescaled)
			res.NaiveMean = meanF32(res.Naive)
			sorted := slices.Clone(res.Rescaled)
			slices.Sort(sorted)
			res.HistMax = float64(sorted[int(0.95*float64(len(sorted)-1))])
		}
	}
	if res.Input == nil {
		return nil, fmt.Errorf("measure scaling: histogram probability %g is not among %v", histP, ps)
	}
	return res, nil
}

// TrainEvalRow compares one drop, in one scaling convention, in training and in evaluation mode
// on the same tensor.
type TrainEvalRow struct {
	// Op is "Dropout" or "DropPath"; Scaling is Inverted, Original or None.
	Op      string  `display:"drop"`
	Scaling string  `display:"convention"`
	P       float64 `display:"p"`
	Draws   int     `display:"draws"`
	// EvalScale is Σ eval(x) / Σ x: 1 when evaluation passes x through (inverted, none), 1−p
	// when it multiplies by the keep probability (original). EvalExactErr is
	// max |eval(x) − EvalScale·x|: 0 means evaluation is exactly that uniform scaling.
	EvalScale    float64 `display:"test output / x;format=%.4f"`
	EvalExactErr float64 `display:"off a uniform scale by;format=%.0e"`
	// TrainChangedFrac is the fraction of the positive elements a single training-mode call
	// changed (zeroed, or scaled by 1/(1−p)).
	TrainChangedFrac float64 `display:"changed by one call;format=%.3f"`
	// TrainOverEval is Σ E_draws[train(x)] / Σ eval(x): 1 means the expected training output
	// matches what evaluation computes — the claim both inverted and original make; 1−p is the
	// mismatch of dropping with no correction at all.
	TrainOverEval float64 `display:"E[train] / test;format=%.4f"`
}

// MeasureTrainEval applies Dropout and DropPath with probability p to x ([B, ...],
// non-negative) in each scaling convention (Inverted, Original, None), in evaluation mode once
// and in training mode draws times, through the very drop the lesson's network uses. One graph
// holds both modes: the training flag is switched on around the training-mode calls while the
// graph is built.
func MeasureTrainEval(backend compute.Backend, x *tensors.Tensor, p float64, draws int, seed int64) ([]TrainEvalRow, error) {
	return lesson.Catch("measure train vs eval", func() ([]TrainEvalRow, error) {
		return measureTrainEval(backend, x, p, draws, seed)
	})
}

func measureTrainEval(backend compute.Backend, x *tensors.Tensor, p float64, draws int, seed int64) ([]TrainEvalRow, error) {
	if draws < 1 || p <= 0 || p >= 1 {
		return nil, fmt.Errorf("train vs eval: need draws ≥ 1 and 0 < p < 1, got %d draws, p %g", draws, p)
	}
	var rows []TrainEvalRow
	for _, op := range []string{"Dropout", "DropPath"} {
		for _, s := range Scalings {
			rows = append(rows, TrainEvalRow{Op: op, Scaling: s, P: p, Draws: draws})
		}
	}
	kind := map[string]string{"Dropout": "dropout", "DropPath": "drop_path"}
	store, err := newSeededStore(seed)
	if err != nil {
		return nil, err
	}
	defer store.Finalize()
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
		g := x.Graph()
		var outs []*graph.Node
		for i, r := range rows {
			f := forward{cfg: RunConfig{Scaling: r.Scaling}}
			store.SetTraining(g, false)
			outs = append(outs, f.drop(scope.In("eval%d", i), "", kind[r.Op], x, p))
			store.SetTraining(g, true)
			outs = append(outs, f.drop(scope.In("train%d", i), "", kind[r.Op], x, p))
		}
		store.SetTraining(g, false)
		return outs
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	xs := tensors.MustCopyFlatData[float32](x)
	sumX := 0.0
	for _, v := range xs {
		sumX += float64(v)
	}
	trainSums := make([]float64, len(rows))
	evalSums := make([]float64, len(rows))
	for d := range draws {
		outs, err := exec.Exec(x)
		if err != nil {
			return nil, fmt.Errorf("draw %d: %w", d, err)
		}
		for i := range rows {
			tr := tensors.MustCopyFlatData[float32](outs[2*i+1])
			if d == 0 {
				r := &rows[i]
				ev := tensors.MustCopyFlatData[float32](outs[2*i])
				for _, v := range ev {
					evalSums[i] += float64(v)
				}
				r.EvalScale = evalSums[i] / sumX
				changed, positive := 0, 0
				for j := range xs {
					r.EvalExactErr = math.Max(r.EvalExactErr, math.Abs(float64(ev[j])-r.EvalScale*float64(xs[j])))
					if xs[j] > 0 {
						positive++
						if tr[j] != xs[j] {
							changed++
						}
					}
				}
				r.TrainChangedFrac = float64(changed) / float64(max(positive, 1))
			}
			for _, v := range tr {
				trainSums[i] += float64(v)
			}
		}
		for _, o := range outs {
			o.FinalizeAll()
		}
	}
	for i := range rows {
		rows[i].TrainOverEval = trainSums[i] / float64(draws) / evalSums[i]
	}
	return rows, nil
}

// DropKindsResult says what Dropout and DropPath zero on a batch [B, H, W, C]: single elements
// anywhere, or whole samples.
type DropKindsResult struct {
	P       float64
	Batch   int
	PerItem int // elements per sample (H·W·C)
	Draws   int
	// ElementZeroFrac is the fraction of elements zeroed (both ≈ p).
	DropoutElementZeroFrac, DropPathElementZeroFrac float64
	// SampleZeroFrac is the fraction of samples whose whole tensor was zeroed (Dropout ≈ 0,
	// DropPath ≈ p).
	DropoutSampleZeroFrac, DropPathSampleZeroFrac float64
	// PerSampleFracStd is the spread, across samples, of the fraction of a sample's elements
	// zeroed: near 0 for Dropout (every sample loses about p of its units), √(p(1−p)) for
	// DropPath (a sample loses all or nothing).
	DropoutPerSampleFracStd, DropPathPerSampleFracStd float64
	// DropoutMask and DropPathMask are the keep masks (1 kept, 0 dropped) of the first draw,
	// one row per sample and the first MaskUnits units of each sample as columns, for a figure.
	DropoutMask, DropPathMask [][]float32
	MaskUnits                 int
}

// MeasureDropKinds applies Dropout and DropPath with probability p (training mode) to a batch
// of ones shaped dims ([B, H, W, C]) draws times and measures what they zero.
func MeasureDropKinds(backend compute.Backend, dims []int, p float64, draws, maskUnits int, seed int64) (*DropKindsResult, error) {
	return lesson.Catch("measure dropout vs drop path", func() (*DropKindsResult, error) {
		return measureDropKinds(backend, dims, p, draws, maskUnits, seed)
	})
}

func measureDropKinds(backend compute.Backend, dims []int, p float64, draws, maskUnits int, seed int64) (res *DropKindsResult, err error) {
	if len(dims) < 2 {
		return nil, fmt.Errorf("measure drop kinds: dims %v must have a batch axis and more", dims)
	}
	store, err := newSeededStore(seed)
	if err != nil {
		return nil, err
	}
	defer store.Finalize()
	exec, err := model.NewExec(backend, store, trainingOnly(func(scope *model.Scope, x *graph.Node) []*graph.Node {
		return []*graph.Node{nn.Dropout(scope.In("dropout"), x, p), nn.DropPath(scope.In("drop_path"), x, p)}
	}))
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	b := dims[0]
	per := 1
	for _, d := range dims[1:] {
		per *= d
	}
	maskUnits = min(maskUnits, per)
	ones := make([]float32, b*per)
	for i := range ones {
		ones[i] = 1
	}
	res = &DropKindsResult{P: p, Batch: b, PerItem: per, Draws: draws, MaskUnits: maskUnits}
	var zeroEl, sampleZero [2]int
	var fracSum, fracSq [2]float64
	for d := range draws {
		outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(ones, dims...))
		if err != nil {
			return nil, fmt.Errorf("draw %d: %w", d, err)
		}
		for k := range 2 {
			y := tensors.MustCopyFlatData[float32](outs[k])
			outs[k].FinalizeAll()
			var mask [][]float32
			for s := range b {
				z := 0
				row := y[s*per : (s+1)*per]
				for _, v := range row {
					if v == 0 {
						z++
					}
				}
				zeroEl[k] += z
				if z == per {
					sampleZero[k]++
				}
				f := float64(z) / float64(per)
				fracSum[k] += f
				fracSq[k] += f * f
				if d == 0 {
					m := make([]float32, maskUnits)
					for j := range m {
						if row[j] != 0 {
							m[j] = 1
						}
					}
					mask = append(mask, m)
				}
			}
			if d == 0 {
				if k == 0 {
					res.DropoutMask = mask
				} else {
					res.DropPathMask = mask
				}
			}
		}
	}
	nS := float64(b * draws)
	std := func(k int) float64 {
		m := fracSum[k] / nS
		return math.Sqrt(math.Max(fracSq[k]/nS-m*m, 0))
	}
	res.DropoutElementZeroFrac = float64(zeroEl[0]) / (nS * float64(per))
	res.DropPathElementZeroFrac = float64(zeroEl[1]) / (nS * float64(per))
	res.DropoutSampleZeroFrac = float64(sampleZero[0]) / nS
	res.DropPathSampleZeroFrac = float64(sampleZero[1]) / nS
	res.DropoutPerSampleFracStd, res.DropPathPerSampleFracStd = std(0), std(1)
	return res, nil
}

func meanF32(v []float32) float64 {
	s := 0.0
	for _, x := range v {
		s += float64(x)
	}
	return s / float64(max(len(v), 1))
}
