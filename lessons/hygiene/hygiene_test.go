package hygiene

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/backend/backendtest"
	"github.com/gostudy/gostudy/pkg/experiment"
)

func TestForBudget(t *testing.T) {
	for _, b := range lesson.Budgets {
		c := ForBudget(b)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", b, err)
		}
		if c.Budget != b || c.Run.DataSeed != -1 || c.Run.LogEvery != 1 {
			t.Errorf("%s: budget %s, data seed %d, log every %d: the main run must follow the run seed and log every step",
				b, c.Budget, c.Run.DataSeed, c.Run.LogEvery)
		}
		if n := len(Arms(c.Run, c.CompareArms)); n != c.CompareArms {
			t.Errorf("%s: %d arms, want %d", b, n, c.CompareArms)
		}
	}
	if q := ForBudget(lesson.Quick); q.Seeds != 10 {
		t.Errorf("quick budget: %d seeds, the lesson promises ten", q.Seeds)
	}
	bad := ForBudget(lesson.Test)
	bad.CompareSeeds = bad.Seeds + 1
	if bad.Validate() == nil {
		t.Error("more comparison seeds than spread seeds accepted")
	}
}

// TestArmsChangeWhatTheySay: the confounded arm changes three keys, each controlled arm one.
func TestArmsChangeWhatTheySay(t *testing.T) {
	base := ForBudget(lesson.Test).Run
	want := map[string][]string{ArmBaseline: nil, ArmConfounded: {"stem", "block", "norm"}, ArmBlock: {"block"},
		ArmStem: {"stem"}, ArmNorm: {"norm"}}
	for _, a := range Arms(base, 5) {
		diff, err := ConfigDiff(base, a.Config)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, c := range diff {
			keys = append(keys, c.Key)
		}
		if !slices.Equal(keys, want[a.Name]) {
			t.Errorf("%s changes %v, want %v", a.Name, keys, want[a.Name])
		}
	}
	diff, _ := ConfigDiff(base, Arms(base, 3)[1].Config)
	if got := Changes(diff); got != "stem: conv → patch, block: basic → convnext, norm: batch → layer" {
		t.Errorf("Changes = %q", got)
	}
	if Changes(nil) != "nothing" {
		t.Error("an empty diff should read nothing")
	}
}

// TestEveryNetBuilds: all eight stem × block × norm networks give logits [B, 10] on the pure-Go
// backend, and the switches change the parameters they should.
func TestEveryNetBuilds(t *testing.T) {
	b := backendtest.Go(t)
	x := tensors.FromShape(shapes.Make(dtypes.Float32, 2, 28, 28, 1))
	params := map[string]int{}
	for _, stem := range []string{StemConv, StemPatch} {
		for _, block := range []string{BlockBasic, BlockConvNeXt} {
			for _, norm := range []string{NormBatch, NormLayer} {
				n := Net{Stem: stem, Block: block, Norm: norm, Width: 8, Blocks: 1, Kernel: 3}
				store := model.NewStore()
				out, err := model.MustNewExec(b, store, func(scope *model.Scope, x *graph.Node) *graph.Node {
					return n.Logits(scope, x)
				}).Call1(x)
				if err != nil {
					t.Fatalf("%s: %v", n.Label(), err)
				}
				if d := out.Shape().Dimensions; !slices.Equal(d, []int{2, 10}) {
					t.Errorf("%s: logits %v", n.Label(), d)
				}
				params[n.Label()] = store.NumParameters()
			}
		}
	}
	// A 3×3 stem conv without bias (BatchNorm follows) has 72 weights, the 2×2 patchify 32 + 8 bias.
	if d := params["conv stem, basic block, batch norm"] - params["patch stem, basic block, batch norm"]; d != 72-40 {
		t.Errorf("stem switch changed %d parameters, want %d", d, 72-40)
	}
	if params["conv stem, convnext block, batch norm"] == params["conv stem, basic block, batch norm"] {
		t.Error("the block switch did not change the network")
	}
	if err := (Net{Stem: "x", Block: BlockBasic, Norm: NormBatch, Width: 1, Blocks: 1}).Validate(); err == nil {
		t.Error("unknown stem accepted")
	}
	if err := (Net{Stem: StemConv, Block: BlockConvNeXt, Norm: NormBatch, Width: 1, Blocks: 1, Kernel: 4}).Validate(); err == nil {
		t.Error("even depthwise kernel accepted")
	}
}

// TestDataSeedSeparatesOrderFromInit: with data_seed set, the run's seed changes the initial
// weights and not the batch order; the data seed changes the order.
func TestDataSeedSeparatesOrderFromInit(t *testing.T) {
	base := InitOnly(ForBudget(lesson.Test).Run)
	firstLabels := func(cfg RunConfig, seed int64) []int32 {
		data, err := Experiment.Data(cfg, seed)
		if err != nil {
			t.Fatal(err)
		}
		for batch, err := range data.Train(0) {
			if err != nil {
				t.Fatal(err)
			}
			return tensors.MustCopyFlatData[int32](batch.Labels[0])
		}
		t.Fatal("no batch")
		return nil
	}
	other := base
	other.DataSeed = 1
	follow := base
	follow.DataSeed = -1
	if !slices.Equal(firstLabels(base, 0), firstLabels(base, 7)) {
		t.Error("data seed fixed: the run seed changed the batch order")
	}
	if slices.Equal(firstLabels(base, 0), firstLabels(other, 0)) || slices.Equal(firstLabels(follow, 0), firstLabels(follow, 7)) {
		t.Error("a different data seed (or run seed with data_seed -1) kept the batch order")
	}
	if !slices.Equal(firstLabels(follow, 1), firstLabels(other, 0)) {
		t.Error("data_seed -1 with run seed 1 should order the batches as data seed 1")
	}
	ax := DataSeeds(3)
	if ax.Key != "data_seed" || !slices.Equal(ax.Values, []string{"0", "1", "2"}) {
		t.Errorf("DataSeeds(3) = %+v", ax)
	}
	cfg := base
	if err := experiment.Set(&cfg, ax.Key, "2"); err != nil || cfg.DataSeed != 2 {
		t.Errorf("the axis key is not the config's: %v, %d", err, cfg.DataSeed)
	}
}

// runByHand is experiment.Run written out with GoMLX's trainer (the notebook's section 1 shows
// the same): seed the store, train every epoch, validate, keep the best weights, test them.
func runByHand(t *testing.T, b compute.Backend, cfg RunConfig, seed int64) (losses []float64, valAcc []float64, test float64) {
	t.Helper()
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, seed)
	data, err := Experiment.Data(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	fn := func(scope *model.Scope, _ any, in []*graph.Node) []*graph.Node { return Model(scope, cfg, in) }
	newTrainer := func(s *model.Store) *train.Trainer {
		return train.NewTrainer(b, s, fn, Experiment.Loss, optimizer.Adam().LearningRate(cfg.LearningRate).Done(), nil,
			Experiment.Metrics(cfg))
	}
	trainer := newTrainer(store)
	var best *model.Store
	for epoch := range cfg.Epochs {
		for batch, err := range data.Train(epoch) {
			if err != nil {
				t.Fatal(err)
			}
			m, err := trainer.TrainStep(batch)
			if err != nil {
				t.Fatal(err)
			}
			losses = append(losses, shapes.ConvertTo[float64](m[0].Value()))
		}
		val, err := trainer.Eval(data.Val)
		if err != nil {
			t.Fatal(err)
		}
		acc := shapes.ConvertTo[float64](val[1].Value())
		if len(valAcc) == 0 || acc > slices.Max(valAcc) {
			if best, err = store.Clone(); err != nil {
				t.Fatal(err)
			}
		}
		valAcc = append(valAcc, acc)
	}
	res, err := newTrainer(best).Eval(data.Test)
	if err != nil {
		t.Fatal(err)
	}
	return losses, valAcc, shapes.ConvertTo[float64](res[1].Value())
}

// TestSameConfigAndSeedTwiceIsBitIdentical: on xla:cpu two runs of one config and seed agree in
// every logged number, and so does the training loop written out by hand; another seed does not.
func TestSameConfigAndSeedTwiceIsBitIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains three runs")
	}
	b := backendtest.XLA(t)
	cfg := ForBudget(lesson.Test).Run
	run := func(seed int64) *experiment.Record {
		rec, err := Experiment.Run(context.Background(), cfg, experiment.Options{Dir: t.TempDir(), Backend: b, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	a, a2, c := run(0), run(0), run(1)
	same, err := Compare(a, a2)
	if err != nil {
		t.Fatal(err)
	}
	if !same.Identical() || same.Steps != cfg.Steps() || same.MaxLossDiff != 0 {
		t.Errorf("same seed twice: %+v", same)
	}
	other, err := Compare(a, c)
	if err != nil {
		t.Fatal(err)
	}
	if other.Identical() || other.FirstDiffer != 1 || other.StepsDiffer < other.Steps/2 {
		t.Errorf("seeds 0 and 1 compared as %+v: they should differ from the first step", other)
	}
	losses, valAcc, test := runByHand(t, b, cfg, 0)
	for i, p := range a.Steps {
		if losses[i] != p.Loss {
			t.Fatalf("by hand, step %d: loss %v, the library's %v", i+1, losses[i], p.Loss)
		}
	}
	if len(valAcc) != len(a.Epochs) || valAcc[0] != a.Epochs[0].Val["acc"] || test != a.Final["acc"] {
		t.Errorf("by hand: validation %v, test %v; the library's %v, %v", valAcc, test, a.Epochs[0].Val, a.Final)
	}
	c.ConfigID = "other"
	if _, err := Compare(a, c); err == nil {
		t.Error("records of different configs compared")
	}
}

func TestCompareCountsDifferences(t *testing.T) {
	rec := func(losses ...float64) *experiment.Record {
		r := &experiment.Record{ConfigID: "x", Best: &experiment.Best{Epoch: 0, Step: len(losses)},
			Final: map[string]float64{"acc": 0.9, "loss": 0.3}}
		for i, l := range losses {
			r.Steps = append(r.Steps, experiment.StepPoint{Step: i + 1, Loss: l})
		}
		r.Epochs = []experiment.EpochPoint{{Val: map[string]float64{"acc": 0.9}}}
		return r
	}
	s, err := Compare(rec(1, 2, 3), rec(1, 2, 3))
	if err != nil || !s.Identical() || s.Values != 3+1+1+2 {
		t.Errorf("identical records: %+v, %v", s, err)
	}
	s, _ = Compare(rec(1, 2, 3), rec(1, math.Nextafter(2, 3), 3.5))
	if s.Identical() || s.StepsDiffer != 2 || s.FirstDiffer != 2 || s.MaxLossDiff != 0.5 {
		t.Errorf("two steps differ (one by a single bit): %+v", s)
	}
	if _, err := Compare(rec(1, 2), rec(1, 2, 3)); err == nil {
		t.Error("records of different lengths compared")
	}
}

// TestDivergeGoVsXLA: the same seed draws different initial weights on the two backends;
// identical weights give nearly (not exactly) the same logits; a step apart training, the
// weights differ. The same backend twice is the control: nothing differs.
func TestDivergeGoVsXLA(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains on the pure-Go backend")
	}
	gb, xb := backendtest.Go(t), backendtest.XLA(t)
	cfg := ForBudget(lesson.Test).Run
	cfg.BatchSize = 16 // the go backend is slow; the divergence does not need a large batch
	d, err := Diverge(context.Background(), xb, gb, cfg, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if d.SeedInit.Rel < 0.5 || d.SeedInit.Differ == 0 {
		t.Errorf("same seed on xla and go: initial weights %+v, want unrelated draws", d.SeedInit)
	}
	if d.LogitsMaxAbs > 1e-4*d.LogitsScale {
		t.Errorf("identical weights: logits differ by %g (scale %g)", d.LogitsMaxAbs, d.LogitsScale)
	}
	if d.WeightRel[1] == 0 || d.WeightRel[1] > 0.1 || d.FirstDiffer == 0 {
		t.Errorf("after two steps: weights %v apart, first differing loss at step %d", d.WeightRel, d.FirstDiffer)
	}
	if d.Elements != 14978 || len(d.StepOne) == 0 {
		t.Errorf("step one: %d of %d elements differ by more than lr/1000", len(d.StepOne), d.Elements)
	}
	same, err := Diverge(context.Background(), gb, gb, cfg, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if same.SeedInit.Differ != 0 || same.LogitsMaxAbs != 0 || same.FirstDiffer != 0 || slices.Max(same.WeightRel) != 0 ||
		len(same.StepOne) != 0 {
		t.Errorf("one backend twice should not differ at all: %+v", same)
	}
	if _, err := Diverge(context.Background(), gb, gb, cfg, 0, 0); err == nil {
		t.Error("zero steps accepted")
	}
}

// TestReduceSumOrder: the same float32 values summed in another order give another float32;
// each backend's reduction is the same every time.
func TestReduceSumOrder(t *testing.T) {
	gb := backendtest.Go(t)
	rng := rand.New(rand.NewPCG(1, 2))
	v := make([]float32, 100_000)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	var fwd, bwd float32
	for i := range v {
		fwd += v[i]
		bwd += v[len(v)-1-i]
	}
	if fwd == bwd {
		t.Errorf("forward and backward float32 sums agree (%v): pick other values", fwd)
	}
	s1, err := ReduceSum(gb, v)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := ReduceSum(gb, v)
	if s1 != s2 {
		t.Errorf("the go backend summed the same values to %v and %v", s1, s2)
	}
	exact := 0.0
	for _, x := range v {
		exact += float64(x)
	}
	for _, s := range []float32{fwd, bwd, s1} {
		if math.Abs(float64(s)-exact) > 1e-3*math.Max(1, math.Abs(exact)) {
			t.Errorf("float32 sum %v too far from the float64 sum %v", s, exact)
		}
	}
}

func TestSeedStatistics(t *testing.T) {
	if got := ExpectedMaxZ(2); math.Abs(got-1/math.Sqrt(math.Pi)) > 1e-6 {
		t.Errorf("E[max of 2] = %v, want 1/√π", got)
	}
	if got := ExpectedMaxZ(10); math.Abs(got-1.5388) > 1e-3 {
		t.Errorf("E[max of 10] = %v, want 1.5388", got)
	}
	if ExpectedMaxZ(1) != 0 {
		t.Error("E[max of 1] should be 0")
	}
	n, err := SeedsToDetect(1, 1, Power)
	if err != nil || n != 17 { // 2·(2 + 0.8416)² = 16.2
		t.Errorf("seeds to detect δ = σ: %d, %v; want 17", n, err)
	}
	if _, err := SeedsToDetect(1, 0, Power); err == nil {
		t.Error("δ = 0 accepted")
	}
	if d := Detectable(1, 17, Power); d > 1 || d < 0.95 {
		t.Errorf("detectable with 17 seeds at σ = 1: %v, want just under 1", d)
	}
	// The normal formula is what lesson.Versus achieves with enough seeds, and a little
	// optimistic with few (the sample standard deviations are noisy then).
	if p := SimulatePower(1, 0.5, 66, 4000, 1); math.Abs(p-Power) > 0.04 {
		t.Errorf("simulated power with 66 seeds for δ = σ/2: %v, want about %v", p, Power)
	}
	if p := SimulatePower(1, 1, 17, 4000, 2); p < 0.7 || p > Power+0.03 {
		t.Errorf("simulated power with 17 seeds for δ = σ: %v", p)
	}
	if p := SimulatePower(1, 0, 10, 4000, 3); p > 0.05 {
		t.Errorf("no true difference called higher %v of the time", p)
	}
	if r := StdRelErr(9); math.Abs(r-0.25) > 1e-12 {
		t.Errorf("StdRelErr(9) = %v", r)
	}
	s := Sources{Init: experiment.NewStat([]float64{0, 2}), Data: experiment.NewStat([]float64{0, 1, 2})}
	if got := s.InitShare(); math.Abs(got-2.0/3) > 1e-12 { // σ² 2 vs 1
		t.Errorf("init share %v, want 2/3", got)
	}
	if got := s.Larger(); got != lesson.WithinNoise { // 1.41 vs 1 from 2 and 3 values
		t.Errorf("σ from 2 and 3 values: %q, want within noise", got)
	}
	many := func(sd float64) experiment.Stat {
		v := make([]float64, 50)
		for i := range v {
			v[i] = sd * float64(i%2*2-1) // ±sd
		}
		return experiment.NewStat(v)
	}
	if got := (Sources{Init: many(3), Data: many(1)}).Larger(); got != "initial weights" {
		t.Errorf("σ 3 vs 1 from 50 values each: %q", got)
	}
	if got := (Sources{Init: many(1), Data: many(3)}).Larger(); got != "data order" {
		t.Errorf("σ 1 vs 3 from 50 values each: %q", got)
	}
}

func TestMeasureSpread(t *testing.T) {
	s, err := MeasureSpread([]float64{0.95, 0.97, 0.96, 0.93})
	if err != nil {
		t.Fatal(err)
	}
	if s.Best != 1 || s.Worst != 3 || s.FirstRank != 3 || math.Abs(s.Acc.Mean-0.9525) > 1e-12 {
		t.Errorf("spread %+v", s)
	}
	if z := (0.97 - 0.9525) / s.Acc.Std; math.Abs(s.BestZ-z) > 1e-12 {
		t.Errorf("best z %v, want %v", s.BestZ, z)
	}
	if _, err := MeasureSpread([]float64{1}); err == nil {
		t.Error("one run accepted")
	}
}

func TestCheckProvenance(t *testing.T) {
	c := strings.Repeat("c", 40)
	p := CheckProvenance(&experiment.Record{GitCommit: c + "+dirty"}, c)
	if !p.Dirty || !strings.Contains(p.Warning, "trained at commit cccccccccccc+dirty") {
		t.Errorf("dirty record, clean checkout: %+v", p)
	}
	if p := CheckProvenance(&experiment.Record{GitCommit: c}, c); p.Dirty || p.Warning != "" {
		t.Errorf("same clean commit: %+v", p)
	}
}

func TestRegisteredForAblateAndExport(t *testing.T) {
	r, err := experiment.Lookup(Name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.NewConfig().(*RunConfig)
	if cfg.Epochs != ForBudget(lesson.Full).Run.Epochs || cfg.TrainSize != ForBudget(lesson.Full).Run.TrainSize {
		t.Errorf("defaults are not the full budget's main run: %+v", cfg)
	}
	for k, v := range map[string]string{"stem": "patch", "block": "convnext", "norm": "layer", "data_seed": "3", "kernel": "5"} {
		if err := experiment.Set(cfg, k, v); err != nil {
			t.Errorf("ablate flag %s: %v", k, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
	shapes, err := r.InputShapes(cfg, 0, 4)
	if err != nil || len(shapes) != 1 || !slices.Equal(shapes[0].Dimensions, []int{4, 28, 28, 1}) {
		t.Errorf("input shapes %v, %v", shapes, err)
	}
}
