package ggnet

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/imgproc"
	"github.com/gostudy/gostudy/datasets/phantom"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/lessons/segkit"
	"github.com/gostudy/gostudy/pkg/backend"
	"github.com/gostudy/gostudy/pkg/nn"
)

// TestRenderMask: rendering a phantom at its own size gives its mask, and at half size the mask
// of the same phantom generated at half size (the generator draws the same scene at any size).
func TestRenderMask(t *testing.T) {
	g := phantom.DefaultConfig()
	g.ProbNormal = 0
	big, err := phantom.Generate(g, 8)
	if err != nil {
		t.Fatal(err)
	}
	g.Size = 32
	small, err := phantom.Generate(g, 8)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range big {
		if !slices.Equal(RenderMask(s, s.Size), s.Mask) {
			t.Fatalf("phantom %d: rendered at its own size ≠ its mask", i)
		}
		half := RenderMask(s, 32)
		diff := 0
		for k := range half {
			if half[k] != small[i].Mask[k] {
				diff++
			}
		}
		if diff > 1 || imgproc.Area(half) == 0 {
			t.Errorf("phantom %d at 32 px: %d pixels differ from the phantom generated at 32 px (area %d)", i, diff, imgproc.Area(half))
		}
	}
}

// TestNativeSource checks the labels' shapes and that a flipped example has every map flipped.
func TestNativeSource(t *testing.T) {
	g := phantom.DefaultConfig()
	g.Size, g.ProbNormal = 32, 0
	samples, err := phantom.Generate(g, 4)
	if err != nil {
		t.Fatal(err)
	}
	src := &NativeSource{Samples: samples, Levels: 3, FlipH: true}
	ds, err := lesson.SourceData("native-test", src, src, src, 4, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	for batch, err := range ds.Train(0) {
		if err != nil {
			t.Fatal(err)
		}
		if len(batch.Labels) != 7 || batch.Labels[3].Shape().Dimensions[1] != 16 || batch.Labels[5].Shape().Dimensions[1] != 8 {
			t.Fatalf("labels: %d, shapes %s %s", len(batch.Labels), batch.Labels[3].Shape(), batch.Labels[5].Shape())
		}
		full := tensors.MustCopyFlatData[float32](batch.Labels[0])
		low := tensors.MustCopyFlatData[float32](batch.Labels[3])
		flipped := 0
		for b := range 4 {
			// Which sample is it, and is it mirrored? Match the full-size mask.
			for _, s := range samples {
				m := toFloat(s.Mask)
				mir := slices.Clone(m)
				imgproc.FlipH(mir, 32, 32, 1)
				got := full[b*1024 : (b+1)*1024]
				want := toFloat(RenderMask(s, 16))
				switch {
				case slices.Equal(got, m) && !slices.Equal(m, mir):
					if !slices.Equal(low[b*256:(b+1)*256], want) {
						t.Errorf("example %d: native mask not the sample's", b)
					}
				case slices.Equal(got, mir) && !slices.Equal(m, mir):
					flipped++
					imgproc.FlipH(want, 16, 16, 1)
					if !slices.Equal(low[b*256:(b+1)*256], want) {
						t.Errorf("example %d: flipped, its native mask not", b)
					}
				}
			}
		}
		t.Logf("%d of 4 examples flipped", flipped)
		break
	}
}

// TestModelAndLoss checks the outputs (the BD maps only in training graphs with a BD weight)
// and the loss for each target against the formula built by hand.
func TestModelAndLoss(t *testing.T) {
	b := goBackend(t)
	cfg := ForBudget(lesson.Test).Run
	const n = 32
	img := make([]float32, 2*n*n)
	mask := make([]float32, 2*n*n)
	for i := range mask {
		img[i] = float32(i%7) / 7
		if (i/n)%n > 10 && (i/n)%n < 20 && i%n > 8 && i%n < 22 {
			mask[i] = 1
		}
	}
	edge := make([]float32, len(mask))
	for k := range 2 {
		m := make([]uint8, n*n)
		for i := range m {
			m[i] = uint8(mask[k*n*n+i])
		}
		copy(edge[k*n*n:], toFloat(phantom.Edges(m, n, phantom.EdgeCanny)))
	}
	x := tensors.FromFlatDataAndDimensions(img, 2, n, n, 1)
	mt, et := tensors.FromFlatDataAndDimensions(mask, 2, n, n, 1), tensors.FromFlatDataAndDimensions(edge, 2, n, n, 1)
	for _, target := range Targets {
		c := cfg
		c.BDTarget, c.BDWeight, c.EdgeWeight = target, 0.5, 10
		store := model.NewStore()
		out, err := model.MustNewExec(b, store, func(scope *model.Scope, x, m, e *graph.Node) []*graph.Node {
			scope.Store().SetTraining(x.Graph(), true)
			preds := Model(scope, c, []*graph.Node{x})
			labels := []*graph.Node{m, e, graph.Scalar(x.Graph(), x.DType(), 0)}
			for i := 0; 2*i+2 < len(preds); i++ {
				s := preds[1+2*i].Shape().Dimensions[1]
				// Native targets: the test's masks are squares aligned to the grid, so the
				// averaged-down mask thresholded at 1/2 is what rendering would give.
				ms := graph.ConvertDType(graph.GreaterOrEqual(segkit.Shrink(m, s), graph.Scalar(x.Graph(), x.DType(), 0.5)), x.DType())
				labels = append(labels, ms, segkit.Shrink(e, s))
			}
			want := nn.BCEDiceLoss(preds[0], m)
			for i := 0; 2*i+2 < len(preds); i++ {
				seg, edge := preds[1+2*i], preds[2+2*i]
				var st, ett *graph.Node
				switch target {
				case TargetUpsample:
					seg, edge, st, ett = nn.Resize(seg, n, n), nn.Resize(edge, n, n), m, e
				case TargetNative:
					st, ett = labels[3+2*i], labels[4+2*i]
				default:
					s := seg.Shape().Dimensions[1]
					st, ett = segkit.Shrink(m, s), segkit.Shrink(e, s)
				}
				mse := graph.ReduceAllMean(graph.Square(graph.Sub(edge, ett)))
				want = graph.Add(want, graph.MulScalar(graph.Add(nn.BCEDiceLoss(seg, st), graph.MulScalar(mse, 10)), 0.5))
			}
			return []*graph.Node{graph.Scalar(x.Graph(), x.DType(), float64(len(preds))), Loss(labels, preds), want}
		}).Call(x, mt, et)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		v := func(i int) float64 { return float64(tensors.MustCopyFlatData[float32](out[i])[0]) }
		if v(0) != 5 || math.Abs(v(1)-v(2)) > 1e-5*math.Max(1, v(2)) {
			t.Errorf("%s: %g outputs (want the mask and 2 BD modules' F+E and E), loss %g, want %g", target, v(0), v(1), v(2))
		}
		inf, err := model.MustNewExec(b, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
			return Model(scope, c, []*graph.Node{x})
		}).Call(x)
		if err != nil || len(inf) != 1 {
			t.Errorf("%s inference: %d outputs, %v", target, len(inf), err)
		}
	}
}

// TestAffinitiesOnAFreshNetwork runs the measurement on an untrained GG-Net: the blocks written
// out equal pkg/nn's, the channel logits are symmetric and its softmax weights are not.
func TestAffinitiesOnAFreshNetwork(t *testing.T) {
	b := goBackend(t)
	c := ForBudget(lesson.Test)
	_, _, test, err := c.Run.Splits()
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(5))
	a, err := MeasureAffinities(b, store, c.Run, test[:4])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("spatial W %.3g, product %.3g, softmax %.3g; channel W %.3g, product %.3g, softmax %.3g, pair ratio %.6f",
		a.SpatialW, a.SpatialProduct, a.SpatialAtt, a.ChannelW, a.ChannelProduct, a.ChannelAtt, a.PairRatio)
	if a.SpatialDiff > 1e-5 || a.ChannelDiff > 1e-5 {
		t.Errorf("written-out blocks differ from nn's: spatial %g, channel %g", a.SpatialDiff, a.ChannelDiff)
	}
	if a.ChannelW > 1e-5 || a.ChannelProduct > 1e-5 {
		t.Errorf("channel logits asymmetric: %g, %g", a.ChannelW, a.ChannelProduct)
	}
	// An untrained network's channel logits are tiny (XᵀX/HW of small activations), so its
	// softmax is nearly uniform: asymmetric only by the rows' normalizers.
	if a.ChannelAtt <= 1e-6 || a.PairRatio <= 1 || a.SpatialW < 1e-2 {
		t.Errorf("softmax weights %g (pair ratio %g) and spatial W %g: want asymmetric", a.ChannelAtt, a.PairRatio, a.SpatialW)
	}
	if len(a.AttBoth) != 8 || a.Guidance.Shape().Dimensions[0] != 16 {
		t.Errorf("attention map %d rows (want 8), guidance %s (want 16×16)", len(a.AttBoth), a.Guidance.Shape())
	}
	sep := c.Run
	sep.SeparateGuidance = true
	if _, err := MeasureAffinities(b, store, sep, test[:1]); err == nil {
		t.Error("separate guidance maps accepted")
	}
}

// TestEdgeTruth: on true masks, F − maxpool(F) is ≤ 0 on the outer ring, maxpool(F) − F the
// same ring positive, F − minpool(F) the inner ring; both rings lie in the morphological
// gradient.
func TestEdgeTruth(t *testing.T) {
	b := goBackend(t)
	g := phantom.DefaultConfig()
	g.Size, g.ProbNormal = 32, 0
	samples, err := phantom.Generate(g, 10)
	if err != nil {
		t.Fatal(err)
	}
	rows, maps, err := EdgeTruth(b, samples)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		t.Logf("%+v", r)
		if r.MorphPrecision != 1 || r.Pixels == 0 {
			t.Errorf("%s: precision vs the morphological gradient %g, want 1", r.Map, r.MorphPrecision)
		}
	}
	if rows[0].Where != "just outside the margin" || rows[1].Where != "just outside the margin" || rows[2].Where != "just inside the margin" {
		t.Errorf("sides: %q %q %q", rows[0].Where, rows[1].Where, rows[2].Where)
	}
	if math.Abs(rows[1].MorphRecall+rows[2].MorphRecall-1) > 1e-9 {
		t.Errorf("the two rings should make up the morphological band: recalls %g + %g", rows[1].MorphRecall, rows[2].MorphRecall)
	}
	if slices.Max(maps.FMinusMax) != 0 || slices.Min(maps.FMinusMax) != -1 || slices.Min(maps.MaxMinusF) != 0 {
		t.Error("F − maxpool(F) must lie in {−1, 0} and maxpool(F) − F in {0, 1}")
	}
	if _, _, err := EdgeTruth(b, []*phantom.Sample{{Size: 4, Mask: make([]uint8, 16)}}); err == nil {
		t.Error("masks without a lesion accepted")
	}
}

// TestProbeBD: with the paper's order, E ≤ 0, so its edge error is never below that of E ≡ 0,
// whatever the weights.
func TestProbeBD(t *testing.T) {
	b := goBackend(t)
	c := ForBudget(lesson.Test)
	_, _, test, err := c.Run.Splits()
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	levels, maps, err := ProbeBD(b, store, c.Run, test[:8])
	if err != nil {
		t.Fatal(err)
	}
	if len(levels) != c.Run.Levels-1 || maps.Sizes[0] != 16 {
		t.Fatalf("%d levels, sizes %v", len(levels), maps.Sizes)
	}
	for _, lv := range levels {
		if lv.EMax > 0 || lv.EdgeMSE < lv.Floor || lv.Floor <= 0 {
			t.Errorf("level %d: E ≤ %g, MSE %g, floor %g", lv.Level, lv.EMax, lv.EdgeMSE, lv.Floor)
		}
	}
}

// TestCosts: GG-Net costs more than its U-Net, part by part, and the spatial GGB's parameters
// do not grow with the map while its FLOPs grow faster than the positions.
func TestCosts(t *testing.T) {
	c := ForBudget(lesson.Test)
	rows, err := Costs(c.Run)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(rows); i++ {
		if rows[i].Params <= rows[i-1].Params || rows[i].AddedParams <= 0 {
			t.Errorf("%s: %d parameters, not more than %s's %d", rows[i].Network, rows[i].Params, rows[i-1].Network, rows[i-1].Params)
		}
	}
	if full, err := Cost(c.Run); err != nil || full.Params != rows[3].Params {
		t.Errorf("Cost of the run %v, the table's GG-Net %d", full, rows[3].Params)
	}
	sc, err := GGBScaling([]int{8, 16}, 32, 8)
	if err != nil {
		t.Fatal(err)
	}
	if sc[0].Params != sc[1].Params || sc[1].MFLOPs < 8*sc[0].MFLOPs || sc[1].AttentionShare <= sc[0].AttentionShare {
		t.Errorf("scaling %+v", sc)
	}
}

// TestClaims trains the test budget's arms and checks what holds at that size.
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
	rows, _, err := segkit.CompareArms(context.Background(), b, Lesson, c.TrainedArms(), c.Seeds, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		t.Logf("%-28s params %6d dice %.4f boundary %.3f fooled %.3f", r.Arm, r.Params, r.Dice.Mean, r.Boundary.Mean, r.Fooled.Mean)
		for i, rec := range r.Records {
			if d := math.Abs(rec.Final["dice"] - r.Evals[i].MeanDice()); d > 1e-4 {
				t.Errorf("%s: record Dice %.6f, Go Dice %.6f", r.Arm, rec.Final["dice"], r.Evals[i].MeanDice())
			}
		}
	}
	main := segkit.Row(rows, ArmGGNet)
	if main.Dice.Mean < 0.5 {
		t.Errorf("GG-Net's test Dice %.3f: it learned little", main.Dice.Mean)
	}
	tr, err := lesson.Load(Experiment, c.Run, 0, opts.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	_, _, test, err := c.Run.Splits()
	if err != nil {
		t.Fatal(err)
	}
	// Every part trains, the guidance map's fuse conv too (γ = 0 at the start blocks the
	// gradient upstream of the GGBs only at the first step). Moved < 1 also checks that the
	// initial weights were rebuilt: a fresh random draw would sit √2 away.
	moves, err := MovedFromInit(b, tr.Store, c.Run, 0)
	if err != nil {
		t.Fatal(err)
	}
	var sawGuidance bool
	for _, m := range moves {
		t.Logf("%-12s moved %.3f", m.Part, m.Moved)
		sawGuidance = sawGuidance || m.Part == "guidance"
		if m.Moved < 0.01 || m.Moved > 1 {
			t.Errorf("%s moved %.4f from its initial weights: want a trained part, within 1 of its start", m.Part, m.Moved)
		}
	}
	if !sawGuidance {
		t.Errorf("no guidance part among %+v", moves)
	}
	levels, _, err := ProbeBD(b, tr.Store, c.Run, test[:c.Probe])
	if err != nil {
		t.Fatal(err)
	}
	rev := segkit.Row(rows, ArmMaxMinusF)
	other, err := lesson.Load(Experiment, rev.Config, 0, opts.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	revLevels, _, err := ProbeBD(b, other.Store, rev.Config, test[:c.Probe])
	if err != nil {
		t.Fatal(err)
	}
	for i := range levels {
		t.Logf("level %d: f-max %+v; max-f %+v", i+1, levels[i], revLevels[i])
		if levels[i].EdgeMSE < levels[i].Floor {
			t.Errorf("level %d: the paper's order beat the floor of E ≡ 0", i+1)
		}
	}
	// The reversed order can output edges (E ≥ 0, positive somewhere) and gets closer to
	// the edge ground truth than the paper's order, which cannot go above 0.
	if revLevels[0].EMin < 0 || revLevels[0].EMax <= 0 || revLevels[0].EdgeMSE >= levels[0].EdgeMSE {
		t.Errorf("maxpool(F) − F at level 1: E in [%g, %g], MSE %.4f (the paper's order %.4f)", revLevels[0].EMin, revLevels[0].EMax,
			revLevels[0].EdgeMSE, levels[0].EdgeMSE)
	}
}

// goBackend is the pure-Go backend: the graph-only checks run one forward pass each, which
// costs less there than an XLA compilation.
func goBackend(t *testing.T) compute.Backend {
	t.Helper()
	b, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Finalize)
	return b
}
