package dropout

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/ablation"
	"github.com/gostudy/gostudy/pkg/backend"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

func xlaBackend(t *testing.T) compute.Backend {
	t.Helper()
	b, err := backend.Default()
	if err != nil {
		t.Fatalf("backend: %v", err)
	}
	return b
}

// activations is a non-negative tensor [4, 6, 6, 8] with many exact zeros, like a ReLU output.
func activations() (*tensors.Tensor, []float32) {
	n := 4 * 6 * 6 * 8
	v := make([]float32, n)
	for i := range v {
		// A deterministic spread of magnitudes; every third unit is 0.
		if i%3 != 0 {
			v[i] = float32(0.1 + math.Mod(float64(i)*0.618034, 1)*3)
		}
	}
	return tensors.FromFlatDataAndDimensions(v, 4, 6, 6, 8), v
}

func TestForBudgetShrinksOnlyNumbers(t *testing.T) {
	var cfgs []Config
	for _, b := range lesson.Budgets {
		c := ForBudget(b)
		if err := c.Validate(); err != nil {
			t.Fatalf("%s budget invalid: %v", b, err)
		}
		cfgs = append(cfgs, c)
	}
	test, quick, full := cfgs[0], cfgs[1], cfgs[2]
	for _, c := range []Config{test, quick} {
		// The same model and knobs: only sizes, draws, points and seeds change.
		if c.Run.Width != full.Run.Width || len(c.Run.Depths) != len(full.Run.Depths) || c.Run.Dropout != full.Run.Dropout ||
			c.Run.Hidden != full.Run.Hidden || c.Run.LearningRate != full.Run.LearningRate || c.Run.Scaling != full.Run.Scaling ||
			c.HistP != full.HistP || c.DropPath != full.DropPath || c.PaperDrops != full.PaperDrops || len(c.Ps) != len(full.Ps) {
			t.Errorf("%s budget changes more than numbers:\n%+v\nfull %+v", c.Budget, c, full)
		}
	}
	for i, small := range cfgs[:2] {
		big := cfgs[i+1]
		if small.Run.TrainSize > big.Run.TrainSize || small.Draws > big.Draws || small.Run.Epochs > big.Run.Epochs ||
			small.Seeds > big.Seeds || len(small.SweepPs) > len(big.SweepPs) || small.MCDraws > big.MCDraws {
			t.Errorf("%s budget is not smaller than %s: %+v", small.Budget, big.Budget, small)
		}
	}
	bad := full
	bad.SweepPs = []float64{0.1, 0.5}
	if bad.Validate() == nil {
		t.Errorf("a sweep without p = 0 was accepted")
	}
	for _, mutate := range []func(*RunConfig){
		func(c *RunConfig) { c.Dropout = 1 },
		func(c *RunConfig) { c.InputDropout = -0.1 },
		func(c *RunConfig) { c.Scaling = "rescaled" },
		func(c *RunConfig) { c.ValSize = 300 },
	} {
		c := full.Run
		mutate(&c)
		if c.Validate() == nil {
			t.Errorf("invalid run config accepted: %+v", c)
		}
	}
}

// TestScaling: with the factor the mean output over many draws equals the input, per unit and
// in total; without it, it is (1−p) times the input. Tolerances are 5 standard deviations of
// the estimates, so a mean of 1−p where 1 is claimed (or the reverse) fails by far.
func TestScaling(t *testing.T) {
	t.Parallel()
	b := xlaBackend(t)
	x, xs := activations()
	const draws = 300
	ps := []float64{0.1, 0.5, 0.8}
	sc, err := MeasureScaling(b, x, ps, draws, 0.5, 7)
	if err != nil {
		t.Fatal(err)
	}
	var s1, s2 float64
	units := 0
	for _, v := range xs {
		s1 += float64(v)
		s2 += float64(v) * float64(v)
		if v > 0 {
			units++
		}
	}
	spread := math.Sqrt(s2) / s1 // relative spread of Σ m_i x_i for unit-variance masks
	for _, r := range sc.Rows {
		p := r.P
		tol := 5 * math.Sqrt(p/(1-p)) * spread / math.Sqrt(draws)
		tolNaive := 5 * math.Sqrt(p*(1-p)) * spread / math.Sqrt(draws)
		if math.Abs(r.Ratio-1) > tol {
			t.Errorf("p=%g: E[dropout(x)]/x = %.4f, want 1 ± %.4f", p, r.Ratio, tol)
		}
		if math.Abs(r.RatioNaive-(1-p)) > tolNaive {
			t.Errorf("p=%g: without the factor %.4f, want %.4f ± %.4f", p, r.RatioNaive, 1-p, tolNaive)
		}
		if r.Units != units {
			t.Errorf("p=%g: %d positive units, want %d", p, r.Units, units)
		}
		// Per unit: the mean over draws of m/(1−p) has std √(p/((1−p)·draws)).
		if math.Abs(r.UnitRatioMean-1) > 5*r.UnitRatioStdExpected/math.Sqrt(float64(units)) {
			t.Errorf("p=%g: mean per-unit ratio %.4f", p, r.UnitRatioMean)
		}
		if rel := r.UnitRatioStd / r.UnitRatioStdExpected; rel < 0.85 || rel > 1.15 {
			t.Errorf("p=%g: per-unit spread %.4f vs binomial %.4f", p, r.UnitRatioStd, r.UnitRatioStdExpected)
		}
		if math.Abs(r.DroppedFrac-p) > 5*math.Sqrt(p*(1-p)/float64(units*draws)) {
			t.Errorf("p=%g: dropped %.4f", p, r.DroppedFrac)
		}
		if r.KeptScaleErr > 1e-5 {
			t.Errorf("p=%g: kept units are not x/(1-p): relative error %g", p, r.KeptScaleErr)
		}
	}
	if len(sc.Input) != units || len(sc.Rescaled) != units || len(sc.UnitRatios) != units {
		t.Errorf("histogram samples: %d inputs, %d outputs, %d ratios for %d positive units",
			len(sc.Input), len(sc.Rescaled), len(sc.UnitRatios), units)
	}
	if math.Abs(sc.InputMean-s1/float64(units)) > 1e-4 || sc.HistMax < 2*0.1 || sc.HistMax > 2*3.1 {
		t.Errorf("input mean %g, histogram range %g", sc.InputMean, sc.HistMax)
	}
	if _, err := MeasureScaling(b, x, ps, draws, 0.3, 7); err == nil {
		t.Errorf("a histogram p outside ps was accepted")
	}
}

// TestTrainEval: inverted and original dropout agree with evaluation in expectation (E[train]/eval
// = 1), dropping with no correction does not (1−p); evaluation is the identity except for the
// original convention, which multiplies by the keep probability.
func TestTrainEval(t *testing.T) {
	t.Parallel()
	b := xlaBackend(t)
	x, xs := activations()
	const p, draws = 0.5, 400
	rows, err := MeasureTrainEval(b, x, p, draws, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 {
		t.Fatalf("%d rows, want Dropout and DropPath × 3 conventions", len(rows))
	}
	// DropPath draws one mask per sample: 4 samples × draws; the sample sums differ, so allow
	// 5σ of a mean of 4·draws Bernoulli(1−p)/(1−p) weighted by the sample sums.
	var sums [4]float64
	per := len(xs) / 4
	total := 0.0
	for i, v := range xs {
		sums[i/per] += float64(v)
		total += float64(v)
	}
	ss := 0.0
	for _, s := range sums {
		ss += s * s
	}
	pathSpread := math.Sqrt(ss) / total / math.Sqrt(draws)
	for _, r := range rows {
		wantEval, wantRatio := 1.0, 1.0
		switch r.Scaling {
		case Original:
			wantEval = 1 - p
		case None:
			wantRatio = 1 - p
		}
		if math.Abs(r.EvalScale-wantEval) > 1e-6 || r.EvalExactErr > 1e-6 {
			t.Errorf("%s %s: evaluation scales by %.6f (off by up to %g), want %.2f exactly", r.Op, r.Scaling, r.EvalScale, r.EvalExactErr, wantEval)
		}
		tol := 0.02
		if r.Op == "DropPath" {
			tol = 5 * pathSpread
		}
		if math.Abs(r.TrainOverEval-wantRatio) > tol {
			t.Errorf("%s %s: E[train]/eval = %.4f, want %.2f ± %.4f", r.Op, r.Scaling, r.TrainOverEval, wantRatio, tol)
		}
	}
	// Inverted dropout changes every positive unit (zeroed or scaled up); without the factor
	// only the dropped ones change.
	if rows[0].TrainChangedFrac != 1 || math.Abs(rows[1].TrainChangedFrac-p) > 0.1 {
		t.Errorf("changed fractions: inverted %.3f, original %.3f", rows[0].TrainChangedFrac, rows[1].TrainChangedFrac)
	}
	if _, err := MeasureTrainEval(b, x, 1, draws, 3); err == nil {
		t.Error("p = 1 accepted")
	}
}

func TestDropKinds(t *testing.T) {
	t.Parallel()
	b := xlaBackend(t)
	const p, batch, draws = 0.3, 32, 200
	k, err := MeasureDropKinds(b, []int{batch, 5, 5, 4}, p, draws, 50, 11)
	if err != nil {
		t.Fatal(err)
	}
	n := float64(batch * draws)
	if math.Abs(k.DropoutElementZeroFrac-p) > 0.01 || math.Abs(k.DropPathElementZeroFrac-p) > 5*math.Sqrt(p*(1-p)/n) {
		t.Errorf("element zero fractions %.4f, %.4f, want %g", k.DropoutElementZeroFrac, k.DropPathElementZeroFrac, p)
	}
	if k.DropoutSampleZeroFrac != 0 {
		t.Errorf("Dropout zeroed whole samples: %.4f", k.DropoutSampleZeroFrac)
	}
	if math.Abs(k.DropPathSampleZeroFrac-p) > 5*math.Sqrt(p*(1-p)/n) {
		t.Errorf("DropPath zeroed %.4f of the samples, want %g", k.DropPathSampleZeroFrac, p)
	}
	if k.DropoutPerSampleFracStd > 0.15 || math.Abs(k.DropPathPerSampleFracStd-math.Sqrt(p*(1-p))) > 0.03 {
		t.Errorf("per-sample spreads: Dropout %.4f, DropPath %.4f", k.DropoutPerSampleFracStd, k.DropPathPerSampleFracStd)
	}
	if len(k.DropPathMask) != batch || len(k.DropPathMask[0]) != 50 {
		t.Fatalf("mask %d×%d", len(k.DropPathMask), len(k.DropPathMask[0]))
	}
	for s, row := range k.DropPathMask {
		for _, v := range row {
			if v != row[0] {
				t.Fatalf("DropPath mask of sample %d is not all-or-nothing: %v", s, row)
			}
		}
	}
}

func TestJudge(t *testing.T) {
	st := func(v float64) experiment.Stat { return experiment.NewStat([]float64{v}) }
	table := &ablation.Table{Axes: []ablation.Axis{{Key: "dropout", Values: []string{"0", "0.25", "0.5", "0.75"}}}}
	for i, acc := range []float64{0.980, 0.982, 0.978, 0.960} {
		table.Rows = append(table.Rows, ablation.Row{Values: []string{table.Axes[0].Values[i]},
			Summary: &experiment.Summary{Final: map[string]experiment.Stat{"acc": st(acc)}}})
	}
	rows, err := SweepRows(table)
	if err != nil || len(rows) != 4 || rows[1].P != 0.25 {
		t.Fatalf("sweep rows %+v, %v", rows, err)
	}
	v, err := Judge(rows, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(v.ModerateWorstDrop-0.002) > 1e-9 || v.ModerateWorstP != 0.5 || v.BestP != 0.25 ||
		v.HighestP != 0.75 || math.Abs(v.HighestDrop-0.02) > 1e-9 {
		t.Errorf("verdict %+v", v)
	}
	if _, err := Judge(rows[1:], 0.5); err == nil {
		t.Errorf("a sweep without p = 0 was judged")
	}
	table.Axes[0].Key = "width"
	if _, err := SweepRows(table); err == nil {
		t.Errorf("a sweep over another key was read as a p-sweep")
	}
}

// TestModelNamesAndRegistration: the experiment is registered for `gostudy ablate/export`, and
// the network's variables carry timm-style state_dict names.
func TestModelNamesAndRegistration(t *testing.T) {
	t.Parallel()
	r, err := experiment.Lookup(Name)
	if err != nil {
		t.Fatal(err)
	}
	cfgPtr := r.NewConfig()
	if err := experiment.Set(cfgPtr, "dropout", "0.25"); err != nil {
		t.Fatal(err)
	}
	if cfgPtr.(*RunConfig).Dropout != 0.25 {
		t.Errorf("ablation key dropout does not set the field")
	}
	if _, err := r.InferenceModel(cfgPtr); err != nil {
		t.Fatal(err)
	}
	// The pure-Go backend builds graphs without compiling them: cheap for counting.
	goB, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	cost, err := nn.Measure(goB, Classifier(ForBudget(lesson.Full).Run), shapes.Make(dtypes.Float32, 1, 28, 28, 1))
	if err != nil {
		t.Fatal(err)
	}
	// stem 1·16·9+16·2(BN); layer1: 2 blocks of 2 convs 16·16·9 + BN; layer2: 16→32, 32→32 ×3
	// + 1×1 downsample 16·32 + BN; head 1568·128+128, 128·10+10.
	if cost.Params < 200_000 || cost.Params > 300_000 || cost.MACs < 3_000_000 || cost.MACs > 4_500_000 {
		t.Errorf("unexpected size: %s", cost)
	}
	store := model.NewStore()
	if _, err := nn.Build(goB, store, Classifier(ForBudget(lesson.Full).Run), shapes.Make(dtypes.Float32, 2, 28, 28, 1)); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for v := range store.IterVariables() {
		keys = append(keys, nn.PathToKey(v.Path()))
	}
	joined := strings.Join(keys, " ")
	for _, want := range []string{"conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer1.1.bn2.bias",
		"layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_mean", "fc1.weight", "fc.bias"} {
		if !strings.Contains(" "+joined+" ", " "+want+" ") {
			t.Errorf("no variable %q among %v", want, keys)
		}
	}
}

// TestNetwork trains a tiny configuration briefly, then checks the drops inside the trained
// network with all the kinds switched on (drops have no variables, so the same weights serve
// any drop setting) in each convention: with inverted and original dropout the expected
// training-mode activation matches evaluation mode at every site, with none it is 1−p of it;
// and the stage maps differ from evaluation mode only where drops act.
func TestNetwork(t *testing.T) {
	t.Parallel() // its XLA compilations overlap the other tests' work
	b := xlaBackend(t)
	cfg := ForBudget(lesson.Test).Run
	cfg.TrainSize, cfg.ValSize, cfg.TestSize, cfg.Epochs = 1024, 250, 250, 1
	t0 := time.Now()
	tr, err := lesson.Train(context.Background(), Experiment, cfg, 5, lesson.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	// 16 steps on 1024 images: far from converged, far above chance (0.1).
	if acc := tr.Accuracy(); acc < 0.4 {
		t.Errorf("test accuracy after 16 steps %.3f", acc)
	}
	t.Logf("16 steps: test acc %.4f (%v)", tr.Accuracy(), time.Since(t0))
	_, _, testSet, err := cfg.Splits()
	if err != nil {
		t.Fatal(err)
	}
	images, labels, err := lesson.Digits(testSet, 0, 250)
	if err != nil {
		t.Fatal(err)
	}
	const draws = 8
	all := cfg
	all.InputDropout, all.BranchDropout, all.DropPath = 0.1, 0.2, 0.3
	for _, scaling := range Scalings {
		all.Scaling = scaling
		in, err := MeasureInNetwork(b, tr.Store, all, images, labels, draws, 9)
		if err != nil {
			t.Fatal(err)
		}
		// Sites: the input, 4 branch dropouts, 3 drop paths (the first block's rate is 0), the head.
		if len(in.Sites) != 9 || in.Sites[0].Site != "input.drop" {
			t.Fatalf("%s: %d drop sites: %+v", scaling, len(in.Sites), in.Sites)
		}
		if scaling == Inverted && math.Abs(in.EvalAcc-tr.Accuracy()) > 1.5/250 {
			t.Errorf("evaluation accuracy %.4f differs from the run's test accuracy %.4f on the same images", in.EvalAcc, tr.Accuracy())
		}
		for _, s := range in.Sites {
			// Element-wise sites average ~10⁴–10⁵ units per draw; a drop path only 250 samples.
			tol := 0.03
			if s.Kind == "drop_path" {
				tol = 6 * math.Sqrt(s.P/(1-s.P)/float64(250*draws))
			}
			want := 1.0
			if scaling != Inverted {
				want = 1 - s.P
			}
			if math.Abs(s.OpRatio-want) > tol {
				t.Errorf("%s %s: E[after]/E[before] = %.4f, want %.2f ± %.3f", scaling, s.Site, s.OpRatio, want, tol)
			}
		}
		// At the input the two modes see the same tensor: the match with evaluation is exact up
		// to sampling — 1 for inverted and original, 1−p for none.
		first := in.Sites[0]
		want := 1.0
		if scaling == None {
			want = 1 - first.P
		}
		if math.Abs(first.VsEval-want) > 0.01 {
			t.Errorf("%s: at the input E[train]/eval = %.4f, want %.2f", scaling, first.VsEval, want)
		}
		if scaling == Inverted && (in.Agreement < 0.5 || in.MCAcc < 0.3) {
			t.Errorf("MC dropout: agreement %.3f, accuracy %.3f", in.Agreement, in.MCAcc)
		}
	}
	st, err := StageMaps(b, tr.Store, all, images, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Eval) != 3 || len(st.HiddenDropped) != 2 || st.HiddenEval.Shape().Dimensions[1] != cfg.Hidden {
		t.Fatalf("stages: %d maps, %d hidden draws, hidden %s", len(st.Eval), len(st.HiddenDropped), st.HiddenEval.Shape())
	}
	// Without input dropout the stem has no drop: identical in both modes. Later stages and
	// the hidden layer differ.
	noInput := all
	noInput.InputDropout = 0
	st, err = StageMaps(b, tr.Store, noInput, images, 2)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(st.Eval[0], st.Dropped[0]); d != 0 {
		t.Errorf("stem differs between modes by %g", d)
	}
	if d := maxAbsDiff(st.Eval[2], st.Dropped[2]); d == 0 {
		t.Errorf("layer2 is the same with drops on")
	}
	if d := maxAbsDiff(st.HiddenDropped[0], st.HiddenDropped[1]); d == 0 {
		t.Errorf("two training-mode draws gave the same hidden mask")
	}
}

func maxAbsDiff(a, b *tensors.Tensor) float64 {
	x, y := tensors.MustCopyFlatData[float32](a), tensors.MustCopyFlatData[float32](b)
	m := 0.0
	for i := range x {
		m = math.Max(m, math.Abs(float64(x[i]-y[i])))
	}
	return m
}
