// Package sampling makes class-imbalanced views of a labelled data set and
// draws the per-epoch subsets of dynamic sampling, for the class-imbalance
// lesson.
//
// The notes describe dynamic sampling (Lin et al., "Dynamic Sampling
// Approach to Training Neural Networks for Multiclass Imbalance
// Classification", IEEE TNNLS 2013) as: each epoch, for every training
// sample x, compute a probability p(x), draw u ~ U[0,1], and train on x in
// this epoch if u < p(x). Dynamic does exactly that, with p from the class
// frequencies (ClassBalanced) or from a per-sample score such as the model's
// current error (FromScores), and records what it kept.
//
// Everything works on label slices and index slices, so it applies to any
// data set (MNIST, phantoms, BUSI). Dynamic implements batching.Selector.
package sampling

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/gostudy/gostudy/datasets/batching"
)

// Random stream tags.
const (
	streamImbalance uint64 = 0x696d62
	streamDynamic   uint64 = 0x64796e
)

// ClassCounts counts labels per class; labels outside [0, numClasses) are an
// error.
func ClassCounts(labels []int, numClasses int) ([]int, error) {
	counts := make([]int, numClasses)
	for i, l := range labels {
		if l < 0 || l >= numClasses {
			return nil, fmt.Errorf("sampling: label %d of example %d outside [0, %d)", l, i, numClasses)
		}
		counts[l]++
	}
	return counts, nil
}

// KeepFractions returns the indices (sorted) of an imbalanced view: from
// class c it keeps round(keep[c]·count_c) examples chosen at random, the same
// ones for the same seed. Counts are exact, not binomial, so a lesson's
// imbalance ratio is what it says.
func KeepFractions(labels []int, keep []float64, seed uint64) ([]int, error) {
	byClass := make([][]int, len(keep))
	for i, l := range labels {
		if l < 0 || l >= len(keep) {
			return nil, fmt.Errorf("sampling: label %d of example %d has no keep fraction (%d given)", l, i, len(keep))
		}
		byClass[l] = append(byClass[l], i)
	}
	var out []int
	for c, idx := range byClass {
		f := keep[c]
		if f < 0 || f > 1 || math.IsNaN(f) {
			return nil, fmt.Errorf("sampling: keep fraction %g of class %d outside [0, 1]", f, c)
		}
		n := int(math.Round(f * float64(len(idx))))
		r := batching.RNG(seed, streamImbalance, uint64(c))
		r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		out = append(out, idx[:n]...)
	}
	slices.Sort(out)
	return out, nil
}

// LongTail returns keep fractions that fall geometrically from 1 for class 0
// to 1/ratio for the last class: the usual "long-tailed" benchmark with
// imbalance ratio (largest/smallest class size) ratio when classes start
// balanced.
func LongTail(numClasses int, ratio float64) ([]float64, error) {
	if numClasses < 1 || ratio < 1 {
		return nil, fmt.Errorf("sampling: long tail needs numClasses >= 1 and ratio >= 1, got %d and %g", numClasses, ratio)
	}
	out := make([]float64, numClasses)
	for c := range out {
		if numClasses == 1 {
			out[c] = 1
			continue
		}
		out[c] = math.Pow(ratio, -float64(c)/float64(numClasses-1))
	}
	return out, nil
}

// Step returns keep fractions of 1 for every class except the minority
// classes, which keep minorityKeep: the "step imbalance" setting.
func Step(numClasses int, minority []int, minorityKeep float64) ([]float64, error) {
	out := make([]float64, numClasses)
	for c := range out {
		out[c] = 1
	}
	for _, c := range minority {
		if c < 0 || c >= numClasses {
			return nil, fmt.Errorf("sampling: minority class %d outside [0, %d)", c, numClasses)
		}
		out[c] = minorityKeep
	}
	return out, nil
}

// ClassBalanced returns per-sample keep probabilities
// p = (n_min / n_c)^power for a sample of class c, n_min the smallest
// non-empty class: power 1 makes every class contribute n_min samples per
// epoch in expectation, power 0 keeps everything, values between soften the
// rebalancing.
func ClassBalanced(labels []int, numClasses int, power float64) ([]float64, error) {
	counts, err := ClassCounts(labels, numClasses)
	if err != nil {
		return nil, err
	}
	nMin := 0
	for _, n := range counts {
		if n > 0 && (nMin == 0 || n < nMin) {
			nMin = n
		}
	}
	p := make([]float64, len(labels))
	for i, l := range labels {
		p[i] = math.Pow(float64(nMin)/float64(counts[l]), power)
	}
	return p, nil
}

// FromScores maps per-sample scores in [0, 1] (for instance 1 − the model's
// probability of the true class) to keep probabilities
// floor + (1 − floor)·score: hard samples are always kept, easy ones with
// probability floor, so no sample is starved for good.
func FromScores(scores []float64, floor float64) ([]float64, error) {
	if floor < 0 || floor > 1 || math.IsNaN(floor) {
		return nil, fmt.Errorf("sampling: floor %g outside [0, 1]", floor)
	}
	p := make([]float64, len(scores))
	for i, s := range scores {
		if math.IsNaN(s) {
			return nil, fmt.Errorf("sampling: score of example %d is NaN", i)
		}
		p[i] = floor + (1-floor)*min(max(s, 0), 1)
	}
	return p, nil
}

// Dynamic keeps each sample in an epoch with its own probability: sample i
// is kept in epoch e when u(seed, e, i) < p_i. The uniform u depends only on
// (seed, e, i), so an epoch's subset is reproducible, epochs differ, and
// changing one sample's probability between epochs changes only that
// sample's fate. Its methods may be called from several goroutines.
type Dynamic struct {
	seed uint64

	mu    sync.Mutex
	probs []float64
	kept  map[int][]int
}

// NewDynamic returns a sampler with per-sample keep probabilities.
func NewDynamic(probs []float64, seed uint64) (*Dynamic, error) {
	d := &Dynamic{seed: seed, kept: map[int][]int{}}
	if err := d.SetProbabilities(probs); err != nil {
		return nil, err
	}
	return d, nil
}

// SetProbabilities replaces the keep probabilities (same length), e.g. with
// FromScores of the model's errors after an epoch. Epochs drawn later use
// them.
func (d *Dynamic) SetProbabilities(probs []float64) error {
	for i, p := range probs {
		if p < 0 || p > 1 || math.IsNaN(p) {
			return fmt.Errorf("sampling: probability %g of example %d outside [0, 1]", p, i)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.probs != nil && len(probs) != len(d.probs) {
		return fmt.Errorf("sampling: %d probabilities for a sampler of %d examples", len(probs), len(d.probs))
	}
	d.probs = append([]float64(nil), probs...)
	return nil
}

// Probabilities returns a copy of the current keep probabilities.
func (d *Dynamic) Probabilities() []float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]float64(nil), d.probs...)
}

// Expected is the expected number of kept samples per epoch, Σ p_i.
func (d *Dynamic) Expected() float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var s float64
	for _, p := range d.probs {
		s += p
	}
	return s
}

// Select implements batching.Selector: the sorted indices kept in epoch e.
// The result is recorded and can be read back with Kept.
func (d *Dynamic) Select(epoch int) ([]int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []int
	// One generator per epoch, one draw per sample in index order: u_i
	// depends on (seed, epoch, i) only.
	r := batching.RNG(d.seed, streamDynamic, uint64(epoch))
	for i, p := range d.probs {
		if r.Float64() < p {
			out = append(out, i)
		}
	}
	d.kept[epoch] = out
	return append([]int(nil), out...), nil
}

// Kept returns the indices kept in an epoch already selected, and whether it
// was.
func (d *Dynamic) Kept(epoch int) ([]int, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k, ok := d.kept[epoch]
	return append([]int(nil), k...), ok
}

// KeptPerClass counts the kept indices of an epoch per class.
func (d *Dynamic) KeptPerClass(epoch int, labels []int, numClasses int) ([]int, error) {
	k, ok := d.Kept(epoch)
	if !ok {
		return nil, fmt.Errorf("sampling: epoch %d was not selected", epoch)
	}
	sel := make([]int, len(k))
	for j, i := range k {
		if i >= len(labels) {
			return nil, fmt.Errorf("sampling: kept index %d but only %d labels", i, len(labels))
		}
		sel[j] = labels[i]
	}
	return ClassCounts(sel, numClasses)
}
