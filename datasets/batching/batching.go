// Package batching turns an indexable collection of examples into reproducible
// epochs of GoMLX batches.
//
// Every dataset in gostudy (MNIST, ultrasound phantoms, multi-rater labels,
// BUSI) is a Source: something with a length that can build the tensors of a
// list of example indices. A Dataset wraps a Source with a batch size and a
// seed and implements GoMLX's train.Dataset, so train.Loop can consume it.
//
// The order of epoch e is a pure function of (Seed, e): the same seed gives
// the same order on every run and on every machine, a different seed gives a
// different order, and every selected example appears exactly once per epoch.
// Augmentation randomness is drawn from a generator seeded by
// (Seed, epoch, batch number), so it is reproducible as well and does not
// depend on how many batches an earlier epoch produced.
package batching

import (
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"sync"

	"github.com/gomlx/gomlx/ml/train"
)

// Source is an indexable collection of examples that can build a batch.
type Source interface {
	// Len is the number of examples.
	Len() int
	// Batch builds the inputs and labels of the examples at indices, in that
	// order, with the batch as the leading axis. rng is seeded from
	// (seed, epoch, batch number); sources draw augmentation from it.
	Batch(indices []int, rng *rand.Rand) (train.Batch, error)
}

// Selector chooses which examples take part in an epoch. Samplers that drop
// or keep examples per epoch (class rebalancing, hard-example mining)
// implement it.
type Selector interface {
	// Select returns the indices (each at most once, each in [0, Len)) used in
	// the given epoch.
	Select(epoch int) ([]int, error)
}

// Options configures a Dataset.
type Options struct {
	// BatchSize is the number of examples per batch (> 0).
	BatchSize int
	// Seed fixes the shuffling and augmentation of every epoch.
	Seed uint64
	// Shuffle permutes the examples each epoch. Without it examples come in
	// index order (what evaluation wants).
	Shuffle bool
	// DropRemainder drops the last, smaller batch of an epoch. Each new batch
	// shape makes GoMLX compile a new graph, so training usually drops it and
	// evaluation keeps it.
	DropRemainder bool
	// Loop makes Iter endless: epochs follow each other, which is what
	// train.Loop.RunSteps needs. Without it Iter yields one epoch, which is
	// what train.Loop.RunEpochs needs.
	Loop bool
	// Selector, when set, picks the examples of each epoch (before shuffling).
	Selector Selector
}

// Dataset yields seeded epochs of batches from a Source. It implements
// train.Dataset. Its methods may be called from several goroutines.
type Dataset struct {
	name string
	src  Source
	opts Options

	mu        sync.Mutex
	nextEpoch int
}

var _ train.Dataset = (*Dataset)(nil)

// New returns a Dataset over src.
func New(name string, src Source, opts Options) (*Dataset, error) {
	if src == nil {
		return nil, fmt.Errorf("batching: dataset %q: nil source", name)
	}
	if opts.BatchSize <= 0 {
		return nil, fmt.Errorf("batching: dataset %q: batch size must be positive, got %d", name, opts.BatchSize)
	}
	if src.Len() <= 0 && opts.Selector == nil {
		return nil, fmt.Errorf("batching: dataset %q: source is empty", name)
	}
	return &Dataset{name: name, src: src, opts: opts}, nil
}

// Name implements train.Dataset.
func (d *Dataset) Name() string { return d.name }

// Source returns the underlying source.
func (d *Dataset) Source() Source { return d.src }

// Options returns the options the dataset was built with.
func (d *Dataset) Options() Options { return d.opts }

// Epoch returns the number of the epoch the next call to Iter will start.
func (d *Dataset) Epoch() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nextEpoch
}

// SetEpoch makes the next call to Iter start at epoch e (for resuming a run).
func (d *Dataset) SetEpoch(e int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nextEpoch = e
}

// Reset is SetEpoch(0).
func (d *Dataset) Reset() { d.SetEpoch(0) }

// Iter implements train.Dataset. Each call starts the next epoch; with
// Options.Loop it never ends and moves on to the following epochs.
func (d *Dataset) Iter() iter.Seq2[train.Batch, error] {
	d.mu.Lock()
	first := d.nextEpoch
	d.nextEpoch++
	d.mu.Unlock()
	if !d.opts.Loop {
		return d.EpochIter(first)
	}
	return func(yield func(train.Batch, error) bool) {
		for e := first; ; e++ {
			if e > first {
				d.mu.Lock()
				if d.nextEpoch <= e {
					d.nextEpoch = e + 1
				}
				d.mu.Unlock()
			}
			yielded := 0
			for b, err := range d.EpochIter(e) {
				if !yield(b, err) || err != nil {
					return
				}
				yielded++
			}
			if yielded == 0 {
				yield(train.Batch{}, fmt.Errorf("batching: dataset %q: epoch %d produced no batch; a looping dataset would spin forever", d.name, e))
				return
			}
		}
	}
}

// EpochIter yields the batches of epoch e without touching the epoch counter.
func (d *Dataset) EpochIter(e int) iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		order, err := d.EpochOrder(e)
		if err != nil {
			yield(train.Batch{}, err)
			return
		}
		for bi, idx := range Split(order, d.opts.BatchSize, d.opts.DropRemainder) {
			b, err := d.src.Batch(idx, RNG(d.opts.Seed, streamAugment, uint64(e), uint64(bi)))
			if err != nil {
				yield(train.Batch{}, fmt.Errorf("batching: dataset %q: epoch %d batch %d: %w", d.name, e, bi, err))
				return
			}
			// The consumer owns b once yield has it, even when it stops.
			if !yield(b, nil) {
				return
			}
		}
	}
}

// EpochOrder returns the example indices of epoch e in the order they are
// batched.
func (d *Dataset) EpochOrder(e int) ([]int, error) {
	n := d.src.Len()
	var order []int
	if d.opts.Selector != nil {
		sel, err := d.opts.Selector.Select(e)
		if err != nil {
			return nil, fmt.Errorf("batching: dataset %q: select epoch %d: %w", d.name, e, err)
		}
		seen := make([]bool, n)
		for _, i := range sel {
			if i < 0 || i >= n {
				return nil, fmt.Errorf("batching: dataset %q: selector returned index %d outside [0, %d)", d.name, i, n)
			}
			if seen[i] {
				return nil, fmt.Errorf("batching: dataset %q: selector returned index %d twice in epoch %d", d.name, i, e)
			}
			seen[i] = true
		}
		order = append([]int(nil), sel...)
	} else {
		order = make([]int, n)
		for i := range order {
			order[i] = i
		}
	}
	if d.opts.Shuffle {
		r := RNG(d.opts.Seed, streamShuffle, uint64(e))
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	return order, nil
}

// BatchesPerEpoch is the number of batches epoch e yields.
func (d *Dataset) BatchesPerEpoch(e int) (int, error) {
	order, err := d.EpochOrder(e)
	if err != nil {
		return 0, err
	}
	return NumBatches(len(order), d.opts.BatchSize, d.opts.DropRemainder), nil
}

// NumBatches is the number of batches of size batchSize that n examples make.
func NumBatches(n, batchSize int, dropRemainder bool) int {
	if batchSize <= 0 {
		return 0
	}
	if dropRemainder {
		return n / batchSize
	}
	return (n + batchSize - 1) / batchSize
}

// Split cuts order into consecutive batches of batchSize indices.
func Split(order []int, batchSize int, dropRemainder bool) [][]int {
	nb := NumBatches(len(order), batchSize, dropRemainder)
	out := make([][]int, nb)
	for b := range out {
		end := min((b+1)*batchSize, len(order))
		out[b] = order[b*batchSize : end]
	}
	return out
}

// Random streams, so that shuffling and augmentation never share draws.
const (
	streamShuffle uint64 = iota + 1
	streamAugment
)

// RNG returns a generator determined by seed and the stream numbers. Distinct
// stream tuples give independent-looking sequences; it is how every package
// in datasets derives per-epoch, per-batch or per-example randomness from a
// single user seed without sharing state between goroutines.
func RNG(seed uint64, stream ...uint64) *rand.Rand {
	h := splitmix(seed ^ 0x6a09e667f3bcc909)
	for _, s := range stream {
		h = splitmix(h ^ splitmix(s+0x9e3779b97f4a7c15))
	}
	return rand.New(rand.NewPCG(h, splitmix(h^0xbb67ae8584caa73b)))
}

// splitmix is the SplitMix64 finalizer: a bijective mixer of 64-bit words.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// ErrEmpty reports a request for a batch with no examples.
var ErrEmpty = errors.New("batching: empty batch")
