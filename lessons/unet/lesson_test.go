package unet

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/lessons/segkit"
	"github.com/gostudy/gostudy/pkg/backend"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// TestClaims trains the lesson's arms at the test budget (one seed) in a fresh runs folder and
// checks the claims the notebook prints that hold at this size: the in-graph Dice that picks
// checkpoints equals the Go measure; the U-Net learns; appearance shifts keep the scenes and
// cost Dice; look-alikes draw more false positives than other background.
func TestClaims(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: training skipped")
	}
	b, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	c := ForBudget(lesson.Test)
	opts := lesson.Options{Backend: b, Dir: t.TempDir()}
	rows, _, err := segkit.CompareArms(context.Background(), b, Lesson, c.Arms(), c.Seeds, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		t.Logf("%-18s params %6d dice %.4f boundary %.3f p95 %.3f fooled %.3f", r.Arm, r.Params, r.Dice.Mean, r.Boundary.Mean,
			r.P95.Mean, r.Fooled.Mean)
		for i, rec := range r.Records {
			if d := math.Abs(rec.Final["dice"] - r.Evals[i].MeanDice()); d > 1e-4 {
				t.Errorf("%s seed %d: record Dice %.6f, Go Dice %.6f", r.Arm, rec.Seed, rec.Final["dice"], r.Evals[i].MeanDice())
			}
		}
	}
	if u := segkit.Row(rows, ArmUNet); u.Dice.Mean < 0.6 || u.Boundary.Mean > 2 {
		t.Errorf("the main run's U-Net: Dice %.3f, boundary error %.2f px; want > 0.6 and < 2 px", u.Dice.Mean, u.Boundary.Mean)
	}
	if p := segkit.Row(rows, ArmNoSkips).Params; p >= segkit.Row(rows, ArmUNet).Params {
		t.Errorf("without skips %d parameters, not fewer than the U-Net's", p)
	}
	app, err := MeasureAppearance(b, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range app {
		t.Logf("%-40s dice %.4f fooled %.3f in %.4f bg %.4f %s", r.Condition, r.Dice.Mean, r.Fooled.Mean, r.InsideRate.Mean,
			r.BackgroundRate.Mean, r.Change)
	}
	for _, k := range []int{1, 3} { // fainter lesions, stronger attenuation
		if app[k].Dice.Mean > app[0].Dice.Mean-0.1 {
			t.Errorf("%s: Dice %.3f, not 0.1 below %.3f as trained", app[k].Condition, app[k].Dice.Mean, app[0].Dice.Mean)
		}
	}
	many := app[len(app)-1]
	if many.InsideRate.Mean <= many.BackgroundRate.Mean {
		t.Errorf("look-alike false-positive rate %.4f not above the background's %.4f", many.InsideRate.Mean, many.BackgroundRate.Mean)
	}
	same, err := AppearanceSet(c.Run, Appearances()[1], 10)
	if err != nil {
		t.Fatal(err)
	}
	_, _, test, err := c.Run.Splits()
	if err != nil {
		t.Fatal(err)
	}
	changed := 0
	for i, s := range same {
		if !slices.Equal(s.Mask, test[i].Mask) {
			t.Fatalf("fainter-lesion image %d: not the test image's mask", i)
		}
		if !slices.Equal(s.Image, test[i].Image) {
			changed++
		} else if len(s.Lesions) > 0 {
			t.Errorf("fainter-lesion image %d has a lesion and the same pixels", i)
		}
	}
	if changed == 0 {
		t.Error("no image changed with the lesion contrast")
	}
}

// TestDeepSupervision checks the auxiliary heads: one per decoder level but the last in
// training graphs, none in inference, and the loss = main + weight × mean of the heads' losses
// against the mask averaged down.
func TestDeepSupervision(t *testing.T) {
	b, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg := ForBudget(lesson.Test).Run
	cfg.Levels, cfg.DeepSupervision = 4, 0.5
	x := tensors.FromFlatDataAndDimensions(make([]float32, 2*32*32), 2, 32, 32, 1)
	mask := make([]float32, 2*32*32)
	for i := range mask {
		if (i/32)%32 > 10 && i%32 < 20 {
			mask[i] = 1
		}
	}
	m := tensors.FromFlatDataAndDimensions(mask, 2, 32, 32, 1)
	store := model.NewStore()
	out, err := model.MustNewExec(b, store, func(scope *model.Scope, x, m *graph.Node) []*graph.Node {
		scope.Store().SetTraining(x.Graph(), true)
		preds := Model(scope, cfg, []*graph.Node{x})
		var aux *graph.Node
		for _, p := range preds[1:] {
			l := nn.BCEDiceLoss(p, segkit.Shrink(m, p.Shape().Dimensions[1]))
			if aux == nil {
				aux = l
			} else {
				aux = graph.Add(aux, l)
			}
		}
		want := graph.Add(nn.BCEDiceLoss(preds[0], m), graph.MulScalar(aux, 0.5/float64(len(preds)-1)))
		return []*graph.Node{graph.Scalar(x.Graph(), x.DType(), float64(len(preds))), Loss([]*graph.Node{m}, preds), want,
			graph.Scalar(x.Graph(), x.DType(), float64(preds[1].Shape().Dimensions[1]))}
	}).Call(x, m)
	if err != nil {
		t.Fatal(err)
	}
	v := func(i int) float64 { return float64(tensors.MustCopyFlatData[float32](out[i])[0]) }
	if v(0) != 3 || v(3) != 8 {
		t.Errorf("training graph: %g outputs (want the mask and 2 heads), first head %g px (want 8, the coarsest decoder level)", v(0), v(3))
	}
	if math.Abs(v(1)-v(2)) > 1e-6 {
		t.Errorf("loss %g, want main + 0.5 × mean of the heads = %g", v(1), v(2))
	}
	inf, err := model.MustNewExec(b, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
		return Model(scope, cfg, []*graph.Node{x})
	}).Call(x)
	if err != nil {
		t.Fatal(err)
	}
	if len(inf) != 1 {
		t.Errorf("inference graph: %d outputs, want the mask only", len(inf))
	}
}

// TestReceptiveField checks the interval count against a hand count and its growth with depth.
func TestReceptiveField(t *testing.T) {
	cfg := ForBudget(lesson.Test).Run
	cfg.Levels = 2
	// Levels 2, centre 16: DoubleConv at scale 0 → [14, 18]; the 3×3 after upsampling →
	// [13, 19] → scale 1 [6, 9]; bottleneck DoubleConv [4, 11] → scale 0 [8, 23] → DoubleConv
	// [6, 25]; the skip's path [12, 20] → [10, 22]: the union is [6, 25].
	if lo, hi := ReceptiveField(cfg, 16); lo != 6 || hi != 25 {
		t.Errorf("2 levels: [%d, %d], want [6, 25]", lo, hi)
	}
	prev := 0
	for l := 2; l <= 5; l++ {
		cfg.Levels = l
		lo, hi := ReceptiveField(cfg, 16)
		if w := hi - lo + 1; w <= prev {
			t.Errorf("%d levels: width %d, not wider than %d", l, w, prev)
		} else {
			prev = w
		}
	}
	noSkip := cfg
	noSkip.Skips = false
	if lo, hi := ReceptiveField(noSkip, 16); lo > 6 || hi < 25 {
		t.Errorf("without skips the field cannot shrink below the deep path's: [%d, %d]", lo, hi)
	}
}

// TestStepsToReach reads the epoch where a record first reaches a Dice.
func TestStepsToReach(t *testing.T) {
	rec := &experiment.Record{Epochs: []experiment.EpochPoint{
		{Step: 10, Val: map[string]float64{"dice": 0.3}}, {Step: 20, Val: map[string]float64{"dice": 0.72}},
		{Step: 30, Val: map[string]float64{"dice": 0.7}},
	}}
	if StepsToReach(rec, 0.7) != 20 || StepsToReach(rec, 0.3) != 10 || StepsToReach(rec, 0.8) != -1 {
		t.Error("steps to reach 0.7, 0.3, 0.8: want 20, 10, −1")
	}
	x, y := ValCurve(rec)
	if !slices.Equal(x, []float64{10, 20, 30}) || y[1] != 0.72 {
		t.Errorf("curve %v %v", x, y)
	}
}
