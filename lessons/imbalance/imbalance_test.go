package imbalance

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gostudy/gostudy/datasets/sampling"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/backend"
)

func TestForBudget(t *testing.T) {
	for _, b := range lesson.Budgets {
		c := ForBudget(b)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", b, err)
		}
		if c.Budget != b || c.Run.Sampler != All || c.Run.Ratio != 100 {
			t.Errorf("%s: main run %+v: want all samples at ratio 100", b, c.Run.Sampling)
		}
	}
	bad := ForBudget(lesson.Test)
	bad.Arms = []Sampling{armF1, armAll}
	if bad.Validate() == nil {
		t.Error("arms without all samples first accepted")
	}
}

func TestSamplingValidate(t *testing.T) {
	for _, s := range allSamplers {
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", s.Label(), err)
		}
	}
	for _, s := range []Sampling{{Sampler: "oversample"}, {Sampler: F1}, {Sampler: Error, Floor: 1.5}, {Sampler: Balanced, Power: -1}} {
		if s.Validate() == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}

// TestScore checks the scores of a hand-worked confusion: 3 of class 0 (all right), 2 of
// class 1 (one called 0), none of class 2 (one prediction of 2, wrong).
func TestScore(t *testing.T) {
	labels := []int{0, 0, 0, 1, 1, 1}
	pred := []int{0, 0, 0, 0, 1, 2}
	s, err := Score(pred, labels, 3)
	if err != nil {
		t.Fatal(err)
	}
	near := func(name string, got, want float64) {
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %g, want %g", name, got, want)
		}
	}
	near("accuracy", s.Accuracy, 4.0/6)
	near("recall 0", s.Recall[0], 1)
	near("recall 1", s.Recall[1], 1.0/3)
	near("precision 0", s.Precision[0], 3.0/4)
	near("precision 1", s.Precision[1], 1)
	near("F1 0", s.F1[0], 2*0.75/1.75)
	near("F1 1", s.F1[1], 0.5)
	near("F1 2", s.F1[2], 0)
	// Class 2 has no samples: it does not enter the means.
	near("balanced accuracy", s.BalancedAccuracy, (1+1.0/3)/2)
	near("macro F1", s.MacroF1, (2*0.75/1.75+0.5)/2)
	if s.Confusion[1][0] != 1 || s.Counts[1] != 3 {
		t.Errorf("confusion %v counts %v", s.Confusion, s.Counts)
	}
	if _, err := Score([]int{0, 3}, []int{0, 1}, 3); err == nil {
		t.Error("a prediction outside the classes accepted")
	}
	if _, err := Score([]int{0}, []int{0, 1}, 3); err == nil {
		t.Error("mismatched lengths accepted")
	}
}

// TestF1Keep: a class with F1 1 gets the floor, equal F1s give every class an equal share of
// the epoch (so a rare class keeps all its samples and a common one a fraction), and no
// probability exceeds 1.
func TestF1Keep(t *testing.T) {
	counts := []int{1000, 100, 10}
	keep, err := F1Keep([]float64{1, 0.5, 0.5}, counts, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	if keep[0] != 0.05 || keep[1] != 1 || keep[2] != 1 {
		t.Errorf("keep %v: want the floor for the perfect class and all of the others", keep)
	}
	keep, _ = F1Keep([]float64{0.9, 0.9, 0.9}, counts, 0.01)
	// Each class's share is 1110/3 = 370 samples: 0.37 of class 0, all of the others.
	if math.Abs(keep[0]-0.37) > 1e-12 || keep[1] != 1 || keep[2] != 1 {
		t.Errorf("equal F1s: keep %v", keep)
	}
	keep, _ = F1Keep([]float64{0.99, 0.5, 0.9}, []int{300, 300, 300}, 0.01)
	if !(keep[1] > keep[2] && keep[2] > keep[0]) {
		t.Errorf("keep %v should follow 1 − F1", keep)
	}
	if _, err := F1Keep([]float64{1}, counts, 0.1); err == nil {
		t.Error("mismatched lengths accepted")
	}
}

// TestLongTail: the training digits follow ratio^(−c/9) of a balanced start, validation and
// test stay balanced and untouched, and two calls keep the same digits.
func TestLongTail(t *testing.T) {
	m := ForBudget(lesson.Test).Run.MNIST
	trainSet, valSet, testSet, err := LongTail(m, 100)
	if err != nil {
		t.Fatal(err)
	}
	counts, _ := sampling.ClassCounts(trainSet.LabelsInt(), MNISTClasses)
	all, _, _, _ := m.Splits()
	full, _ := sampling.ClassCounts(all.LabelsInt(), MNISTClasses)
	for c := range counts {
		want := float64(full[c]) * math.Pow(100, -float64(c)/9)
		if math.Abs(float64(counts[c])-want) > 1.5 {
			t.Errorf("digit %d: %d kept of %d, want about %.1f", c, counts[c], full[c], want)
		}
	}
	if counts[0] < 50*counts[9] {
		t.Errorf("counts %v: digit 0 should have about 100× digit 9", counts)
	}
	if valSet.Len() != m.ValSize || testSet.Len() != m.TestSize {
		t.Errorf("val %d test %d, want %d and %d", valSet.Len(), testSet.Len(), m.ValSize, m.TestSize)
	}
	again, _, _, _ := LongTail(m, 100)
	if !slices.Equal(again.LabelsInt(), trainSet.LabelsInt()) || !slices.Equal(again.Pixels, trainSet.Pixels) {
		t.Error("two calls kept different digits")
	}
}

func TestStepImbalance(t *testing.T) {
	p := ForBudget(lesson.Test).Phantom
	trainSet, _, _, err := StepImbalance(p.Phantoms, p.Minority, p.MinorityKeep)
	if err != nil {
		t.Fatal(err)
	}
	all, _, _, _ := p.Phantoms.Splits()
	got, _ := sampling.ClassCounts(PhantomLabels(trainSet), PhantomClasses)
	full, _ := sampling.ClassCounts(PhantomLabels(all), PhantomClasses)
	for c := range got {
		want := float64(full[c])
		if c == p.Minority {
			want *= p.MinorityKeep
		}
		if math.Abs(float64(got[c])-want) > 1.5 {
			t.Errorf("class %d: %d of %d kept, want about %.1f", c, got[c], full[c], want)
		}
	}
}

func TestByFrequency(t *testing.T) {
	if got := ByFrequency([]int{5, 50, 5, 20}); !slices.Equal(got, []int{1, 3, 0, 2}) {
		t.Errorf("ByFrequency = %v", got)
	}
}

// TestSamplersOnLongTail trains the main run and the dynamic samplers at the test budget and
// checks the lesson's claims with loose tolerances: training on all samples favours the
// frequent digits; the F1 and error samplers draw fewer samples than all samples and
// raise the rare digit's recall or at least the balanced accuracy; the adaptive epochs shrink.
func TestSamplersOnLongTail(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: training skipped")
	}
	b, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg := ForBudget(lesson.Test)
	dir := t.TempDir()
	arms := cfg.MNISTArms(cfg.Run.Ratio, []Sampling{armAll, armBalFull, armError})
	results, _, err := lesson.Compare(context.Background(), Experiment, arms, 1, lesson.Options{Dir: dir, Backend: b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := AnalyzeArms(b, results, dir, cfg.EasyQ)
	if err != nil {
		t.Fatal(err)
	}
	trainSet, _, _, _ := LongTail(cfg.Run.MNIST, cfg.Run.Ratio)
	counts, _ := sampling.ClassCounts(trainSet.LabelsInt(), MNISTClasses)
	stats := make([]ArmStats, len(outs))
	for i, o := range outs {
		if stats[i], err = Summarize(o, counts); err != nil {
			t.Fatal(err)
		}
		t.Logf("%-28s bal %.3f macroF1 %.3f rare %.3f head %.3f gap %.3f easy %.3f seen %.0f", arms[i].Name,
			stats[i].BalancedAccuracy.Mean, stats[i].MacroF1.Mean, stats[i].RareRecall.Mean, stats[i].HeadRecall.Mean,
			stats[i].Gap.Mean, stats[i].Easy.Mean, stats[i].Seen.Mean)
	}
	all, bal, errArm := stats[0], stats[1], stats[2]
	if all.HeadRecall.Mean < all.RareRecall.Mean+0.2 {
		t.Errorf("all samples: head recall %.3f vs rare %.3f: the majority bias should show", all.HeadRecall.Mean, all.RareRecall.Mean)
	}
	if bal.RareRecall.Mean <= all.RareRecall.Mean {
		t.Errorf("balanced sampling: rare recall %.3f, all samples %.3f", bal.RareRecall.Mean, all.RareRecall.Mean)
	}
	if !(bal.Seen.Mean < all.Seen.Mean && errArm.Seen.Mean < all.Seen.Mean) {
		t.Errorf("samples seen: all %.0f, balanced %.0f, error %.0f", all.Seen.Mean, bal.Seen.Mean, errArm.Seen.Mean)
	}
	seen := outs[2][0].Seen
	if first, last := seen[0], seen[len(seen)-1]-seen[len(seen)-2]; last >= first {
		t.Errorf("error sampler: epochs of %d then %d samples: should shrink as the model learns", first, last)
	}
	if all.Gap.Mean <= 0 {
		t.Errorf("all samples: train–test gap %.3f", all.Gap.Mean)
	}
}

// TestPadBatch: a short batch is padded with zeros to the full size, its own rows unchanged
// (it once read the shape after freeing the tensor and panicked).
func TestPadBatch(t *testing.T) {
	x := tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 4, 5, 6}, 3, 2)
	p, err := padBatch(x, 5)
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Shape().Dimensions; !slices.Equal(d, []int{5, 2}) {
		t.Fatalf("padded shape %v", d)
	}
	if got := tensors.MustCopyFlatData[float32](p); !slices.Equal(got, []float32{1, 2, 3, 4, 5, 6, 0, 0, 0, 0}) {
		t.Errorf("padded %v", got)
	}
}
