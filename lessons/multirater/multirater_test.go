package multirater

import (
	"context"
	"math"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/raters"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/backend"
)

// TestSets checks who labels what: every training rater on every image (or one each), never the
// newcomer; one rater alone for the per-rater baseline; validation and test hold the training
// raters' pairs.
func TestSets(t *testing.T) {
	c := ForBudget(lesson.Test).Run
	tr, val, test, err := c.Sets()
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != c.TrainSize*TrainingRaters || val.Len() != c.ValSize*TrainingRaters || test.Len() != c.TestSize*TrainingRaters {
		t.Errorf("pairs: %d/%d/%d", tr.Len(), val.Len(), test.Len())
	}
	for _, p := range append(append(tr.Pairs, val.Pairs...), test.Pairs...) {
		if p[1] == Newcomer {
			t.Fatal("the newcomer labels a training, validation or test pair")
		}
	}
	if len(test.Labels[0]) != len(Panel(c.ImageSize)) {
		t.Errorf("test labels of %d raters, want the whole panel (the newcomer's too)", len(test.Labels[0]))
	}
	one := c
	one.Labels = LabelsOne
	tr1, _, _, err := one.Sets()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	for _, p := range tr1.Pairs {
		seen[p[1]]++
	}
	if tr1.Len() != c.TrainSize || len(seen) < 3 || seen[Newcomer] != 0 {
		t.Errorf("one label per image: %d pairs, raters %v", tr1.Len(), seen)
	}
	only := c
	only.Mode, only.OnlyRater = ModePooled, 2
	tr2, val2, _, err := only.Sets()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(tr2.Pairs, val2.Pairs...) {
		if p[1] != 2 {
			t.Fatalf("only_rater 2 has a pair of rater %d", p[1])
		}
	}
	if one.Steps() != one.Epochs*(one.TrainSize/one.BatchSize) || c.Steps() != c.Epochs*(c.TrainSize*TrainingRaters/c.BatchSize) {
		t.Errorf("steps: one label per image %d, all %d", one.Steps(), c.Steps())
	}
}

func goBackend(t *testing.T) compute.Backend {
	t.Helper()
	b, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Finalize)
	return b
}

// TestModel checks the injection points and the penalty: once adds one projection at the
// bottleneck, every adds one per decoder level too; training graphs return λ·Σ‖z‖²; a pooled
// model's output does not depend on the rater id.
func TestModel(t *testing.T) {
	b := goBackend(t)
	c := ForBudget(lesson.Test).Run
	x := tensors.FromFlatDataAndDimensions(make([]float32, 2*32*32), 2, 32, 32, 1)
	ids := tensors.FromFlatDataAndDimensions([]int32{1, 3}, 2)
	for _, inject := range Injections {
		cfg := c
		cfg.Inject = inject
		store := model.NewStore()
		out, err := model.MustNewExec(b, store, func(s *model.Scope, x, id *graph.Node) []*graph.Node {
			s.Store().SetTraining(x.Graph(), true)
			return Model(s, cfg, []*graph.Node{x, id})
		}).Call(x, ids)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for v := range store.IterVariables() {
			if len(v.Path()) > 8 && v.Path()[:8] == "/inject/" && v.Name() == "weight" {
				n++
			}
		}
		want := map[string]int{InjectOnce: 1, InjectEvery: cfg.Levels}[inject]
		if n != want || len(out) != 2 {
			t.Errorf("%s: %d projections (want %d), %d outputs (want mask and penalty)", inject, n, want, len(out))
		}
		table := tensors.MustCopyFlatData[float32](store.GetVariable("/raters/weight").MustValue())
		var ss float64
		for _, v := range table {
			ss += float64(v) * float64(v)
		}
		if got := float64(tensors.MustCopyFlatData[float32](out[1])[0]); math.Abs(got-cfg.LatentL2*ss) > 1e-6*math.Max(ss, 1e-9) {
			t.Errorf("%s: penalty %g, want λ·Σ‖z‖² = %g", inject, got, cfg.LatentL2*ss)
		}
	}
	pooled := c
	pooled.Mode = ModePooled
	store := model.NewStore()
	exec := model.MustNewExec(b, store, func(s *model.Scope, x, id *graph.Node) *graph.Node { return Logits(pooled)(s, []*graph.Node{x, id}) })
	a, err := exec.Call(x, ids)
	if err != nil {
		t.Fatal(err)
	}
	other, err := exec.Call(x, tensors.FromFlatDataAndDimensions([]int32{0, 0}, 2))
	if err != nil {
		t.Fatal(err)
	}
	av, ov := tensors.MustCopyFlatData[float32](a[0]), tensors.MustCopyFlatData[float32](other[0])
	for i := range av {
		if av[i] != ov[i] {
			t.Fatal("a pooled model's mask depends on the rater id")
		}
	}
}

// TestRecoverBiases feeds the raters' own labels as predictions: every measured bias must be
// the rater's, the offset fit exact.
func TestRecoverBiases(t *testing.T) {
	c := ForBudget(lesson.Test).Run
	_, _, test, err := c.Sets()
	if err != nil {
		t.Fatal(err)
	}
	probs := make([][][]float32, TrainingRaters)
	for r := range probs {
		for _, lab := range test.RaterLabels(r) {
			p := make([]float32, len(lab))
			for i, v := range lab {
				p[i] = float32(v)
			}
			probs[r] = append(probs[r], p)
		}
	}
	rows, err := RecoverBiases(probs, test)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.ModelOffset != r.TrueOffset || r.ModelArea != r.TrueArea || r.Dice != 1 {
			t.Errorf("%s: %+v", r.Rater, r)
		}
	}
	if rows[1].TrueOffset <= 0 || rows[2].TrueOffset >= 0 {
		t.Errorf("generous %+.2f px and tight %+.2f px: wrong signs", rows[1].TrueOffset, rows[2].TrueOffset)
	}
	f := FitOffsets(rows)
	if math.Abs(f.Slope-1) > 1e-9 || math.Abs(f.Correlation-1) > 1e-9 || f.MeanAbsError != 0 {
		t.Errorf("fit %+v, want slope 1, correlation 1, error 0", f)
	}
	if _, err := raters.Measure(test.RaterLabels(0)[:1], test.Samples); err == nil {
		t.Error("raters.Measure accepted mismatched lengths")
	}
}

// TestClaims trains the main run at the test budget and checks what holds at that size: the
// latents separate the generous rater from the tight one; fitting the newcomer with a frozen
// backbone leaves the other raters' predictions exactly as they were.
func TestClaims(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: training skipped")
	}
	b, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	c := ForBudget(lesson.Test)
	dir := t.TempDir()
	tr, err := lesson.Train(context.Background(), Experiment, c.Run, 0, lesson.Options{Backend: b, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, _, test, err := c.Run.Sets()
	if err != nil {
		t.Fatal(err)
	}
	probs, err := PredictRaters(b, tr.Store, c.Run, test.Samples, []int{0, 1, 2, 3, 4})
	tr.Close()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := RecoverBiases(probs, test)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		t.Logf("%-13s true %+.2f model %+.2f dice %.3f", r.Rater, r.TrueOffset, r.ModelOffset, r.Dice)
	}
	if rows[1].ModelOffset <= rows[2].ModelOffset {
		t.Errorf("generous %+.2f px not outside tight %+.2f px", rows[1].ModelOffset, rows[2].ModelOffset)
	}
	f, err := FitNewcomer(context.Background(), b, c.Run, 0, dir, 5, true, c.FitSteps)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("frozen fit: %+v", *f)
	if f.OldAfter != f.OldBefore {
		t.Errorf("a frozen fit changed the other raters' Dice: %.6f → %.6f", f.OldBefore, f.OldAfter)
	}
	again, err := FitNewcomer(context.Background(), b, c.Run, 0, dir, 5, true, c.FitSteps)
	if err != nil || *again != *f {
		t.Errorf("the cached fit differs: %+v vs %+v (%v)", again, f, err)
	}
}
