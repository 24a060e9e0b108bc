package hygiene

import (
	"context"
	"fmt"
	"iter"
	"math"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/backend"
)

// Divergence is one run's first steps on two backends (the notes' "Colab vs server"): what the
// same seed gives each of them, and how far two copies of the same initial weights drift apart
// when both train on the same batches.
type Divergence struct {
	Seed int64
	// SeedInit compares the initial weights each backend draws from the same seed.
	SeedInit WeightDiff
	// LogitsMaxAbs is the largest |Δ| of the logits of identical weights on the same images,
	// LogitsScale the largest |logit| (for a relative size).
	LogitsMaxAbs, LogitsScale float64
	// RefLoss and OtherLoss are the training losses of steps 1 … len, from identical initial
	// weights and identical batches; LossDiff their |Δ|; WeightRel the relative difference
	// ‖w_ref − w_other‖ / ‖w_ref‖ of the trainable weights after each step.
	RefLoss, OtherLoss, LossDiff, WeightRel []float64
	// FirstDiffer is the first step whose loss differs in any bit (0: none did).
	FirstDiffer int
	// StepOne holds |Δw| / learning rate, after the first step, for every weight element that
	// differs between the backends by more than a thousandth of the learning rate. Adam's first
	// step moves every weight by about ±lr, whatever the gradient's size, so a gradient that
	// rounding turns from slightly positive to slightly negative shows up here as 2.
	StepOne []float64
	// Elements is the number of trainable weight elements.
	Elements int
}

// FirstAbove is the first step (1-based) whose |Δloss| exceeds threshold, or 0.
func (d *Divergence) FirstAbove(threshold float64) int {
	for i, v := range d.LossDiff {
		if v > threshold {
			return i + 1
		}
	}
	return 0
}

// Diverge trains cfg with seed for steps steps on ref and on other from the same initial weights
// (ref's, copied) and the same batches, with the experiment's optimizer (Adam at the config's
// learning rate), and measures the difference step by step. It also draws each backend's own
// initial weights from seed, to show whether a seed means the same thing on both.
func Diverge(ctx context.Context, ref, other compute.Backend, cfg RunConfig, seed int64, steps int) (*Divergence, error) {
	return lesson.Catch("diverge", func() (*Divergence, error) {
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		if steps <= 0 {
			return nil, fmt.Errorf("diverge: %d steps", steps)
		}
		d := &Divergence{Seed: seed}
		_, valSet, _, err := cfg.Splits()
		if err != nil {
			return nil, err
		}
		probe, _, err := lesson.Digits(valSet, 0, min(cfg.BatchSize, valSet.Len()))
		if err != nil {
			return nil, err
		}
		logits := func(b compute.Backend, store *model.Store) ([]float32, error) {
			out, err := model.MustNewExec(b, store, func(scope *model.Scope, x *graph.Node) *graph.Node {
				return cfg.Logits(scope, x)
			}).Call1(local(probe))
			if err != nil {
				return nil, err
			}
			return tensors.CopyFlatData[float32](out)
		}
		seeded := func() *model.Store {
			s := model.NewStore()
			s.SetParam(model.ParamInitialSeed, seed)
			return s
		}
		refStore, ownStore := seeded(), seeded()
		defer refStore.Finalize()
		defer ownStore.Finalize()
		refLogits, err := logits(ref, refStore) // creates and initializes ref's variables
		if err != nil {
			return nil, fmt.Errorf("logits on %s: %w", ref.Name(), err)
		}
		if _, err := logits(other, ownStore); err != nil {
			return nil, fmt.Errorf("logits on %s: %w", other.Name(), err)
		}
		if d.SeedInit, err = Weights(refStore, ownStore); err != nil {
			return nil, err
		}
		otherStore, err := localClone(refStore) // the same initial weights for other
		if err != nil {
			return nil, err
		}
		defer otherStore.Finalize()

		otherLogits, err := logits(other, otherStore)
		if err != nil {
			return nil, fmt.Errorf("logits on %s: %w", other.Name(), err)
		}
		for i := range refLogits {
			d.LogitsMaxAbs = max(d.LogitsMaxAbs, math.Abs(float64(refLogits[i]-otherLogits[i])))
			d.LogitsScale = max(d.LogitsScale, math.Abs(float64(refLogits[i])))
		}

		data, err := Experiment.Data(cfg, seed)
		if err != nil {
			return nil, err
		}
		trainer := func(b compute.Backend, store *model.Store) *train.Trainer {
			return train.NewTrainer(b, store, func(scope *model.Scope, _ any, in []*graph.Node) []*graph.Node {
				return Model(scope, cfg, in)
			}, Experiment.Loss, optimizer.Adam().LearningRate(cfg.LearningRate).Done(), nil, nil)
		}
		type side struct {
			next func() (train.Batch, error, bool)
			tr   *train.Trainer
		}
		var sides []side
		for _, s := range []struct {
			b     compute.Backend
			store *model.Store
		}{{ref, refStore}, {other, otherStore}} {
			tr := trainer(s.b, s.store)
			defer tr.ResetComputationGraphs()
			next, stop := iter.Pull2(epochs(data.Train))
			defer stop()
			sides = append(sides, side{next, tr})
		}
		for step := 1; step <= steps; step++ {
			if err := ctx.Err(); err != nil {
				return d, err
			}
			var loss [2]float64
			for i, side := range sides {
				batch, err, ok := side.next()
				if !ok || err != nil {
					return nil, fmt.Errorf("diverge, batch of step %d: %v", step, err)
				}
				metrics, err := side.tr.TrainStep(batch)
				if err != nil {
					return nil, fmt.Errorf("diverge, step %d on %s: %w", step, side.tr.Backend().Name(), err)
				}
				loss[i] = shapes.ConvertTo[float64](metrics[0].Value())
			}
			d.RefLoss, d.OtherLoss = append(d.RefLoss, loss[0]), append(d.OtherLoss, loss[1])
			d.LossDiff = append(d.LossDiff, math.Abs(loss[0]-loss[1]))
			if d.FirstDiffer == 0 && math.Float64bits(loss[0]) != math.Float64bits(loss[1]) {
				d.FirstDiffer = step
			}
			w, err := Weights(refStore, otherStore)
			if err != nil {
				return nil, err
			}
			d.WeightRel = append(d.WeightRel, w.Rel)
			if step == 1 {
				if d.StepOne, d.Elements, err = bigDiffs(refStore, otherStore, cfg.LearningRate); err != nil {
					return nil, err
				}
			}
		}
		return d, nil
	})
}

// epochs yields the training batches of epoch 0, 1, 2, … without end.
func epochs(epoch func(int) iter.Seq2[train.Batch, error]) iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		for e := 0; ; e++ {
			for b, err := range epoch(e) {
				if !yield(b, err) {
					return
				}
			}
		}
	}
}

// local returns a copy of t in host memory, usable by any backend (a tensor on one backend's
// device cannot be fed to another).
func local(t *tensors.Tensor) *tensors.Tensor {
	c, err := t.LocalClone()
	if err != nil {
		panic(err)
	}
	return c
}

// localClone copies a store with every variable's value in host memory, so that another
// backend can train it.
func localClone(s *model.Store) (*model.Store, error) {
	c, err := s.Clone()
	if err != nil {
		return nil, fmt.Errorf("clone the weights: %w", err)
	}
	for v := range c.IterVariables() {
		if !v.HasValue() {
			continue
		}
		t, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("clone %s: %w", v.Path(), err)
		}
		lc, err := t.LocalClone()
		if err != nil {
			return nil, fmt.Errorf("clone %s: %w", v.Path(), err)
		}
		if err := v.SetValue(lc); err != nil {
			return nil, fmt.Errorf("clone %s: %w", v.Path(), err)
		}
	}
	return c, nil
}

// bigDiffs returns |Δw|/lr for the trainable elements of a and b that differ by more than
// lr/1000, and the number of elements compared.
func bigDiffs(a, b *model.Store, lr float64) (ratios []float64, n int, err error) {
	for v := range a.IterVariables() {
		if !v.Trainable {
			continue
		}
		x, err := flatValues(v)
		if err != nil {
			return nil, 0, err
		}
		y, err := flatValues(b.GetVariable(v.Path()))
		if err != nil {
			return nil, 0, err
		}
		n += len(x)
		for i := range x {
			if r := math.Abs(float64(x[i])-float64(y[i])) / lr; r > 1e-3 {
				ratios = append(ratios, r)
			}
		}
	}
	return ratios, n, nil
}

// ReduceSum adds values up on backend b with one ReduceSum op: the order of the additions is
// the backend's (vectorized and split across threads on XLA, a plain loop on the Go backend).
func ReduceSum(b compute.Backend, values []float32) (float32, error) {
	return lesson.Catch("reduce sum", func() (float32, error) {
		out, err := graph.MustNewExec(b, graph.ReduceAllSum).Call1(tensors.FromValue(values))
		if err != nil {
			return 0, err
		}
		return tensors.ToScalar[float32](out), nil
	})
}

// pureGo is the pure-Go backend, opened once.
var pureGo = sync.OnceValues(func() (compute.Backend, error) { return compute.NewWithConfig(backend.Go) })

// PureGo returns the pure-Go backend ("go"), the second machine of section 2.
func PureGo() (compute.Backend, error) {
	b, err := pureGo()
	if err != nil {
		return nil, fmt.Errorf("open the pure-Go backend: %w", err)
	}
	return b, nil
}
