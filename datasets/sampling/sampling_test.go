package sampling

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/ml/train"
	"github.com/gostudy/gostudy/datasets/batching"
)

// labels10 returns n labels cycling through 10 classes.
func labels10(n int) []int {
	l := make([]int, n)
	for i := range l {
		l[i] = i % 10
	}
	return l
}

func TestKeepFractions(t *testing.T) {
	labels := labels10(10000) // 1000 per class
	keep, err := LongTail(10, 100)
	if err != nil {
		t.Fatal(err)
	}
	if keep[0] != 1 || math.Abs(keep[9]-0.01) > 1e-12 || math.Abs(keep[1]/keep[0]-keep[2]/keep[1]) > 1e-12 {
		t.Fatalf("long tail %v", keep)
	}
	a, err := KeepFractions(labels, keep, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := KeepFractions(labels, keep, 1)
	c, _ := KeepFractions(labels, keep, 2)
	if !slices.Equal(a, b) || slices.Equal(a, c) || !slices.IsSorted(a) {
		t.Fatal("not deterministic by seed, or not sorted")
	}
	counts := make([]int, 10)
	for _, i := range a {
		counts[labels[i]]++
	}
	for k := range 10 {
		if want := int(math.Round(keep[k] * 1000)); counts[k] != want {
			t.Errorf("class %d kept %d, want exactly %d", k, counts[k], want)
		}
	}
	if counts[0]/counts[9] != 100 {
		t.Errorf("imbalance ratio %d/%d", counts[0], counts[9])
	}
	step, _ := Step(10, []int{3, 7}, 0.05)
	s, _ := KeepFractions(labels, step, 1)
	if len(s) != 8*1000+2*50 {
		t.Errorf("step imbalance kept %d", len(s))
	}
	if _, err := KeepFractions([]int{0, 11}, keep, 1); err == nil {
		t.Error("label without a fraction should fail")
	}
}

// binomOK reports whether k successes of n trials fit probability p within
// 4.5 standard deviations (a false alarm about once in 150,000 checks).
func binomOK(k, n int, p float64) bool {
	sd := math.Sqrt(float64(n) * p * (1 - p))
	return math.Abs(float64(k)-float64(n)*p) <= 4.5*sd+1e-9
}

func TestClassBalancedKeepRates(t *testing.T) {
	// An imbalanced set: class c has 2000/(c+1) examples.
	var labels []int
	for c := range 5 {
		for range 2000 / (c + 1) {
			labels = append(labels, c)
		}
	}
	counts, _ := ClassCounts(labels, 5)
	p, err := ClassBalanced(labels, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDynamic(p, 42)
	if err != nil {
		t.Fatal(err)
	}
	total := make([]int, 5)
	epochs := 20
	for e := range epochs {
		kept, err := d.Select(e)
		if err != nil {
			t.Fatal(err)
		}
		per, err := d.KeptPerClass(e, labels, 5)
		if err != nil {
			t.Fatal(err)
		}
		for c := range 5 {
			pc := float64(counts[4]) / float64(counts[c])
			if !binomOK(per[c], counts[c], pc) {
				t.Errorf("epoch %d class %d: kept %d of %d, p=%.3f", e, c, per[c], counts[c], pc)
			}
			total[c] += per[c]
		}
		if !slices.IsSorted(kept) {
			t.Fatal("kept indices not sorted")
		}
	}
	// Balanced on average: each class contributes n_min = 400 per epoch.
	for c := range 5 {
		if mean := float64(total[c]) / float64(epochs); math.Abs(mean-400) > 4.5*math.Sqrt(400.0/float64(epochs)) {
			t.Errorf("class %d: %.1f kept per epoch, want 400", c, mean)
		}
	}
	t.Logf("class sizes %v, kept over %d epochs %v", counts, epochs, total)
	if math.Abs(d.Expected()-5*400) > 1e-6 {
		t.Errorf("expected kept %.3f", d.Expected())
	}
	// Power 0 keeps everything.
	p0, _ := ClassBalanced(labels, 5, 0)
	d0, _ := NewDynamic(p0, 1)
	if k, _ := d0.Select(0); len(k) != len(labels) {
		t.Errorf("power 0 kept %d of %d", len(k), len(labels))
	}
}

func TestDeterminismAndCoupling(t *testing.T) {
	n := 5000
	p := make([]float64, n)
	for i := range p {
		p[i] = 0.3
	}
	a, _ := NewDynamic(p, 7)
	b, _ := NewDynamic(p, 7)
	c, _ := NewDynamic(p, 8)
	a0, _ := a.Select(0)
	a1, _ := a.Select(1)
	b0, _ := b.Select(0)
	c0, _ := c.Select(0)
	a0again, _ := a.Select(0)
	if !slices.Equal(a0, b0) || !slices.Equal(a0, a0again) {
		t.Fatal("same seed and epoch, different subsets")
	}
	if slices.Equal(a0, a1) || slices.Equal(a0, c0) {
		t.Fatal("different epoch or seed, same subset")
	}
	if !binomOK(len(a0), n, 0.3) {
		t.Errorf("kept %d of %d at p=0.3", len(a0), n)
	}
	if k, ok := a.Kept(1); !ok || !slices.Equal(k, a1) {
		t.Error("Kept does not return what Select drew")
	}
	if _, ok := a.Kept(5); ok {
		t.Error("Kept reports an epoch never selected")
	}
	// Raising one sample's probability to 1 changes only that sample.
	q := append([]float64(nil), p...)
	target := -1
	for i := range n {
		if !slices.Contains(a0, i) {
			target = i
			break
		}
	}
	q[target] = 1
	if err := b.SetProbabilities(q); err != nil {
		t.Fatal(err)
	}
	b0q, _ := b.Select(0)
	want := append(append([]int(nil), a0...), target)
	slices.Sort(want)
	if !slices.Equal(b0q, want) {
		t.Error("changing one probability changed other samples' fate")
	}
	if err := b.SetProbabilities(q[:10]); err == nil {
		t.Error("wrong length accepted")
	}
	if err := b.SetProbabilities(append(q[:n-1:n-1], 1.5)); err == nil {
		t.Error("probability 1.5 accepted")
	}
}

func TestFromScores(t *testing.T) {
	// Half the samples are "hard" (score 1), half easy (score 0).
	n := 4000
	scores := make([]float64, n)
	for i := range n / 2 {
		scores[i] = 1
	}
	p, err := FromScores(scores, 0.2)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := NewDynamic(p, 3)
	kept, _ := d.Select(0)
	hard, easy := 0, 0
	for _, i := range kept {
		if i < n/2 {
			hard++
		} else {
			easy++
		}
	}
	if hard != n/2 {
		t.Errorf("kept %d of %d hard samples, want all", hard, n/2)
	}
	if !binomOK(easy, n/2, 0.2) {
		t.Errorf("kept %d of %d easy samples at p=0.2", easy, n/2)
	}
	if p, _ := FromScores([]float64{-1, 0.5, 2}, 0.1); !slices.Equal(p, []float64{0.1, 0.55, 1}) {
		t.Errorf("scores clamp to [0, 1]: %v", p)
	}
}

// TestPerSampleFrequency: over many epochs each sample's keep frequency is
// its probability.
func TestPerSampleFrequency(t *testing.T) {
	probs := []float64{0, 0.05, 0.25, 0.5, 0.9, 1}
	p := make([]float64, 600)
	for i := range p {
		p[i] = probs[i%len(probs)]
	}
	d, _ := NewDynamic(p, 11)
	hits := make([]int, len(probs))
	epochs := 300
	for e := range epochs {
		kept, _ := d.Select(e)
		for _, i := range kept {
			hits[i%len(probs)]++
		}
	}
	trials := epochs * 100
	for k, q := range probs {
		if !binomOK(hits[k], trials, q) {
			t.Errorf("p=%.2f: kept %d of %d", q, hits[k], trials)
		}
	}
}

// sourceStub is a batching.Source of n examples that builds nothing.
type sourceStub struct{ n int }

func (c sourceStub) Len() int { return c.n }

func (c sourceStub) Batch([]int, *rand.Rand) (train.Batch, error) { return train.Batch{}, nil }

func TestWithBatchingDataset(t *testing.T) {
	p := make([]float64, 1000)
	for i := range p {
		p[i] = 0.4
	}
	d, _ := NewDynamic(p, 5)
	ds, err := batching.New("dyn", sourceStub{1000}, batching.Options{BatchSize: 32, Seed: 9, Shuffle: true, Selector: d})
	if err != nil {
		t.Fatal(err)
	}
	order, err := ds.EpochOrder(3)
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := d.Kept(3)
	sorted := append([]int(nil), order...)
	slices.Sort(sorted)
	if !slices.Equal(sorted, kept) {
		t.Fatal("epoch order is not a permutation of the kept samples")
	}
	if slices.Equal(order, kept) {
		t.Error("kept samples were not shuffled")
	}
	nb, _ := ds.BatchesPerEpoch(3)
	if nb != (len(kept)+31)/32 {
		t.Errorf("%d batches for %d kept samples", nb, len(kept))
	}
}
