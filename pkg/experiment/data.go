package experiment

import (
	"context"
	"fmt"
	"iter"
	"math/rand/v2"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
)

// Data is what a lesson supplies to a run: the training batches of each epoch and the
// validation and test sets.
//
// Every batch yielded must hold freshly allocated tensors: GoMLX's trainer donates the input
// buffers to the step and frees them afterwards.
type Data struct {
	// Train yields the batches of one epoch. It must be a pure function of epoch (shuffle with
	// a generator seeded from the run's seed and the epoch): a run resumed mid-epoch replays the
	// epoch and skips the batches it already trained on, and must see the same ones.
	Train func(epoch int) iter.Seq2[train.Batch, error]
	// StepsPerEpoch is the number of batches Train yields per epoch, used for progress totals;
	// 0 when unknown.
	StepsPerEpoch int
	// Val selects the best checkpoint; it is evaluated at the end of every epoch.
	Val train.Dataset
	// Test is evaluated once, with the best checkpoint, for the run's final metrics. When nil
	// the final metrics are computed on Val.
	Test train.Dataset
	// Adapt, when set, is called at the start of every epoch, before Train draws the epoch's
	// batches, with a [Predictor] that runs the model as trained so far: data that adapts to
	// the model — dynamic sampling by per-class F1 or by per-sample error — updates its
	// sampling here. Train is then a function of the epoch and of what Adapt saw, so a run with
	// Adapt saves resumable checkpoints at epoch ends only (CheckpointEvery must be 0) and an
	// interrupted one resumes at the start of the interrupted epoch, where Adapt sees the same
	// weights again and the epoch is trained again from there.
	Adapt func(epoch int, predict Predictor) error
}

// Predictor runs the model being trained, in evaluation mode (BatchNorm's running statistics,
// no dropout), on one batch of inputs and returns the model function's outputs, which the
// caller owns. The weights are the current ones.
type Predictor func(inputs ...*tensors.Tensor) ([]*tensors.Tensor, error)

// ctxDataset wraps a train.Dataset so that iteration stops with ctx's error as soon as ctx is
// cancelled, which is how a running evaluation is interrupted between batches.
type ctxDataset struct {
	ctx  context.Context
	name string
	seq  func() iter.Seq2[train.Batch, error]
}

func (d *ctxDataset) Name() string { return d.name }

func (d *ctxDataset) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		for b, err := range d.seq() {
			if cerr := d.ctx.Err(); cerr != nil {
				if err == nil {
					_ = b.Finalize()
				}
				yield(train.Batch{}, cerr)
				return
			}
			if !yield(b, err) || err != nil {
				return
			}
		}
	}
}

// InMemory is a labelled data set held in Go slices: N examples of float32 features shaped
// ExampleDims and one int32 label each. It is the simplest source for [Data]; lessons with
// their own loaders (datasets/) only need to produce train.Batch values the same way.
type InMemory struct {
	// Name identifies the set in errors and logs.
	Name string
	// X holds N·prod(ExampleDims) features, example after example.
	X []float32
	// ExampleDims is the shape of one example, e.g. {28, 28, 1}.
	ExampleDims []int
	// Y holds the N labels.
	Y []int32
}

// Len is the number of examples.
func (m *InMemory) Len() int { return len(m.Y) }

func (m *InMemory) exampleSize() int {
	n := 1
	for _, d := range m.ExampleDims {
		n *= d
	}
	return n
}

// Validate checks that X and Y agree with ExampleDims.
func (m *InMemory) Validate() error {
	if m.Len() == 0 {
		return fmt.Errorf("data set %q is empty", m.Name)
	}
	if got, want := len(m.X), m.Len()*m.exampleSize(); got != want {
		return fmt.Errorf("data set %q: %d features for %d examples of shape %v (want %d)",
			m.Name, got, m.Len(), m.ExampleDims, want)
	}
	return nil
}

// NumBatches is the number of batches Batches yields: full batches only when dropLast.
func (m *InMemory) NumBatches(batchSize int, dropLast bool) int {
	if dropLast {
		return m.Len() / batchSize
	}
	return (m.Len() + batchSize - 1) / batchSize
}

// Batches yields the examples in the order given by perm (nil: natural order) in batches of
// batchSize: inputs [B, ExampleDims...] float32 and labels [B, 1] int32. With dropLast the
// final partial batch is skipped (training wants one shape, hence one compiled graph).
func (m *InMemory) Batches(perm []int, batchSize int, dropLast bool) iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		if batchSize <= 0 {
			yield(train.Batch{}, fmt.Errorf("data set %q: batch size %d", m.Name, batchSize))
			return
		}
		if err := m.Validate(); err != nil {
			yield(train.Batch{}, err)
			return
		}
		size := m.exampleSize()
		n := m.Len()
		for start := 0; start < n; start += batchSize {
			end := min(start+batchSize, n)
			if dropLast && end-start < batchSize {
				return
			}
			b := end - start
			x := make([]float32, b*size)
			y := make([]int32, b)
			for i := range b {
				idx := start + i
				if perm != nil {
					idx = perm[idx]
				}
				copy(x[i*size:(i+1)*size], m.X[idx*size:(idx+1)*size])
				y[i] = m.Y[idx]
			}
			dims := append([]int{b}, m.ExampleDims...)
			xt := tensors.FromFlatDataAndDimensions(x, dims...)
			yt := tensors.FromFlatDataAndDimensions(y, b, 1)
			// Spec keys GoMLX's per-shape executable cache: a partial last batch gets its own.
			if !yield(train.Batch{Inputs: []*tensors.Tensor{xt}, Labels: []*tensors.Tensor{yt}, Spec: b}, nil) {
				return
			}
		}
	}
}

// Shuffled returns the permutation of one training epoch, a pure function of (seed, epoch).
func Shuffled(n int, seed int64, epoch int) []int {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(epoch)+0x9e3779b97f4a7c15))
	return r.Perm(n)
}

// TrainEpochs returns a [Data.Train] function over m: shuffled per epoch from seed, full
// batches only.
func (m *InMemory) TrainEpochs(seed int64, batchSize int) func(epoch int) iter.Seq2[train.Batch, error] {
	return func(epoch int) iter.Seq2[train.Batch, error] {
		return m.Batches(Shuffled(m.Len(), seed, epoch), batchSize, true)
	}
}

// Dataset returns m as an evaluation train.Dataset (natural order, every example, a smaller
// last batch when batchSize does not divide the length).
func (m *InMemory) Dataset(batchSize int) train.Dataset {
	return &seqDataset{name: m.Name, seq: func() iter.Seq2[train.Batch, error] {
		return m.Batches(nil, batchSize, false)
	}}
}

// seqDataset is a train.Dataset built from a function returning a fresh iterator.
type seqDataset struct {
	name string
	seq  func() iter.Seq2[train.Batch, error]
}

func (d *seqDataset) Name() string                        { return d.name }
func (d *seqDataset) Iter() iter.Seq2[train.Batch, error] { return d.seq() }

// exampleInputShapes returns the shapes of the inputs of the first batch of ds with the batch
// axis set to batch, which is how export learns what a model takes.
func exampleInputShapes(ds train.Dataset, batch int) ([]shapes.Shape, error) {
	for b, err := range ds.Iter() {
		if err != nil {
			return nil, fmt.Errorf("read a batch of %s: %w", ds.Name(), err)
		}
		out := make([]shapes.Shape, len(b.Inputs))
		for i, t := range b.Inputs {
			s := t.Shape().Clone()
			if s.Rank() > 0 {
				s.Dimensions[0] = batch
			}
			out[i] = s
		}
		_ = b.Finalize()
		return out, nil
	}
	return nil, fmt.Errorf("data set %s yielded no batch", ds.Name())
}
