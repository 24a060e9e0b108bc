package repvgg

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
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// The claims are checked with tolerances a false claim would not meet: a fusion step that were
// wrong, a fused network that computed something else, a norm that learned a matrix, a LayerNorm
// that followed the input's scale, a GroupNorm over the wrong axes.

func goBackend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := countingBackend()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testSet(t testing.TB) *mnist.Set {
	t.Helper()
	s, err := mnist.Load(mnist.Test)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// trainedLike builds net (on backend be)'s variables for 28×28 digits and gives every BatchNorm the
// statistics and affine values a trained one has (running means and variances far from 0 and
// 1, γ and β far from 1 and 0), so that folding them is not the identity.
func trainedLike(t testing.TB, be compute.Backend, cfg RunConfig) *model.Store {
	t.Helper()
	store := model.NewStore()
	exec, err := model.NewExec(be, store, func(scope *model.Scope, x *graph.Node) *graph.Node {
		return cfg.Logits(scope, x, 10)
	})
	if err != nil {
		t.Fatal(err)
	}
	x := tensors.FromShape(shapes.Make(dtypes.Float32, 1, 28, 28, 1))
	if _, err := exec.Call(x); err != nil {
		t.Fatal(err)
	}
	exec.Finalize()
	rng := rand.New(rand.NewPCG(1, 2))
	for v := range store.IterVariables() {
		p := v.Path()
		var lo, hi float64
		switch {
		case strings.HasSuffix(p, "running_mean"):
			lo, hi = -0.5, 0.5
		case strings.HasSuffix(p, "running_var"):
			lo, hi = 0.3, 3
		case strings.Contains(p, "bn/weight"), strings.HasSuffix(p, "identity/weight"), strings.HasSuffix(p, "bn1/weight"):
			lo, hi = 0.5, 1.5
		case strings.Contains(p, "bn/bias"), strings.HasSuffix(p, "identity/bias"):
			lo, hi = -0.3, 0.3
		default:
			continue
		}
		n := v.Shape().Size()
		vals := make([]float32, n)
		for i := range vals {
			vals[i] = float32(lo + (hi-lo)*rng.Float64())
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...)); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

func TestForBudget(t *testing.T) {
	var cfgs []Config
	for _, b := range lesson.Budgets {
		cfgs = append(cfgs, ForBudget(b))
	}
	for i, c := range cfgs {
		arms := c.Arms()
		if len(arms) != 3 || arms[0].Config.Arch != ArchRepVGG || !slices.Equal(arms[0].Config.Depths, c.Run.Depths) {
			t.Errorf("%s: arms %v", c.Budget, arms)
		}
		for _, a := range arms {
			if err := a.Config.Validate(); err != nil {
				t.Errorf("%s %s: %v", c.Budget, a.Name, err)
			}
		}
		// The main run is the comparison's first arm: the notebook trains it once.
		if id0, _ := experiment.ConfigID(arms[0].Config); id0 != mustID(t, c.Run) {
			t.Errorf("%s: the RepVGG arm is not the main run", c.Budget)
		}
		if i > 0 {
			small := cfgs[i-1]
			if small.Run.TrainSize > c.Run.TrainSize || small.Seeds > c.Seeds || small.Digits > c.Digits {
				t.Errorf("%s is not smaller than %s", small.Budget, c.Budget)
			}
			if !slices.Equal(small.Run.Depths, c.Run.Depths) || small.Run.LearningRate != c.Run.LearningRate {
				t.Errorf("%s trains another network than %s", small.Budget, c.Budget)
			}
		}
	}
	bad := ForBudget(lesson.Test).Run
	bad.Arch, bad.Depths = ArchResNet, []int{2, 3, 4}
	if bad.Validate() == nil {
		t.Error("a resnet stage of odd depth accepted")
	}
}

func mustID(t *testing.T, c RunConfig) string {
	id, err := experiment.ConfigID(c)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Every network has the same number of 3×3 convs on its main path: equal depth.
func TestEqualDepth(t *testing.T) {
	run := ForBudget(lesson.Test).Run
	for _, a := range Archs {
		cfg := run
		cfg.Arch = a
		store := model.NewStore()
		if _, err := nn.Build(goBackend(t), store, func(s *model.Scope, x *graph.Node) *graph.Node { return cfg.Logits(s, x, 10) },
			shapes.Make(dtypes.Float32, 1, 28, 28, 1)); err != nil {
			t.Fatal(err)
		}
		n3 := 0
		for v := range store.IterVariables() {
			d := v.Shape().Dimensions
			if len(d) == 4 && d[2] == 3 && strings.HasSuffix(v.Path(), "weight") {
				n3++
			}
		}
		if n3 != cfg.Layers() || n3 != 11 {
			t.Errorf("%s: %d 3×3 convs, want %d", a, n3, cfg.Layers())
		}
	}
}

func TestFusionSteps(t *testing.T) {
	cfg := ForBudget(lesson.Test).Run
	store := trainedLike(t, goBackend(t), cfg)
	images, _, err := lesson.Digits(testSet(t), 0, 8)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ProveFusion(goBackend(t), store, cfg.Net, images)
	if err != nil {
		t.Fatal(err)
	}
	if f.Block != "/stages/0/1" || f.In != 16 {
		t.Errorf("fused block %s (%d channels), want the first one with an identity branch, /stages/0/1", f.Block, f.In)
	}
	for _, s := range f.Steps {
		t.Logf("%+v", s)
		if s.MaxAbsOutput < 0.3 || s.MaxAbsDiff > 1e-5*max(1, s.MaxAbsOutput) {
			t.Errorf("%s: difference %g at scale %g", s.Step, s.MaxAbsDiff, s.MaxAbsOutput)
		}
	}
	if f.KernelDiff > 1e-5 {
		t.Errorf("sum of folded kernels vs the library's fused kernel: %g", f.KernelDiff)
	}
	// The padded 1×1 and the identity have only a centre tap; the sum is their sum.
	for _, k := range []int{1, 2} {
		for r := range 3 {
			for c := range 3 {
				if (r != 1 || c != 1) && f.Kernels[k][r][c] != 0 {
					t.Errorf("%s has %g at (%d, %d)", KernelNames[k], f.Kernels[k][r][c], r, c)
				}
			}
		}
	}
	if f.Kernels[2][1][1] == 0 || math.Abs(f.Kernels[3][1][1]-(f.Kernels[0][1][1]+f.Kernels[1][1][1]+f.Kernels[2][1][1])) > 1e-5 {
		t.Errorf("kernels %v", f.Kernels)
	}
	plain := cfg.Net
	plain.Arch = ArchPlain
	if _, err := ProveFusion(goBackend(t), store, plain, images); err == nil {
		t.Error("fusion steps of a plain network accepted")
	}
}

func TestFusedNetworkEqualsTrained(t *testing.T) {
	cfg := ForBudget(lesson.Test).Run
	for _, arch := range []string{ArchRepVGG, ArchPlain} {
		c := cfg
		c.Arch = arch
		store := trainedLike(t, goBackend(t), c)
		e, err := FuseAndCompare(context.Background(), goBackend(t), store, c.Net, testSet(t), 64)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %+v", arch, e)
		if e.Agree != 64 || e.AccFused != e.AccUnfused || e.MaxAbsLogit < 0.01 || e.MaxAbsDiff > 1e-4*max(1, e.MaxAbsLogit) {
			t.Errorf("%s: fused vs unfused %+v", arch, e)
		}
	}
	res := cfg.Net
	res.Arch = ArchResNet
	if _, err := FuseAndCompare(context.Background(), goBackend(t), model.NewStore(), res, testSet(t), 250); err == nil {
		t.Error("fusing a resnet accepted")
	}
}

func TestCosts(t *testing.T) {
	net := ForBudget(lesson.Test).Run.Net
	rep, err := Costs(net, 10, 28)
	if err != nil {
		t.Fatal(err)
	}
	net.Arch = ArchPlain
	plain, err := Costs(net, 10, 28)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range append(rep, plain...) {
		t.Logf("%+v", c)
	}
	trained, fused := rep[0], rep[1]
	if fused.Params >= trained.Params || fused.Buffers != 0 || trained.Buffers == 0 || fused.Cost.MACs >= trained.Cost.MACs {
		t.Errorf("fused %+v is not smaller than trained %+v", fused, trained)
	}
	// Deployed, RepVGG is exactly the plain network: same parameters, same MACs.
	if fused.Cost != plain[1].Cost || fused.Branches != 11 || plain[0].Branches != 11 {
		t.Errorf("fused repvgg %v ≠ fused plain %v", fused.Cost, plain[1].Cost)
	}
	// The stem and the three stage-first blocks have two branches (no identity), the other
	// seven three.
	if trained.Branches != 4*2+7*3 {
		t.Errorf("trained repvgg has %d branches, want 29", trained.Branches)
	}
}

func TestBatchNormModes(t *testing.T) {
	cfg := ForBudget(lesson.Test).Run
	store := trainedLike(t, goBackend(t), cfg)
	before := store.GetVariable("/stem/conv_kxk/bn/running_mean").MustValue()
	want, err := tensors.CopyFlatData[float32](before)
	if err != nil {
		t.Fatal(err)
	}
	modes, err := BatchNormModes(context.Background(), goBackend(t), store, cfg, testSet(t), 16, []int{1, 16})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tensors.CopyFlatData[float32](store.GetVariable("/stem/conv_kxk/bn/running_mean").MustValue())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Error("train-mode evaluation changed the running statistics of the store")
	}
	for _, m := range modes {
		t.Logf("%+v", m)
		if m.EvalAcc != modes[0].EvalAcc || m.MeanAbsDiff < 1e-3 {
			t.Errorf("batch %d: %+v — train mode should differ from eval mode here", m.Batch, m)
		}
	}
}

func TestNormParams(t *testing.T) {
	rows, err := NormParamTables(32, 7, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		t.Logf("%+v", r)
		if r.LearnedParams != 64 || r.DenseParams != 32*32+32 {
			t.Errorf("%s learns %d parameters, want γ and β: 64", r.Norm, r.LearnedParams)
		}
	}
	if !strings.Contains(rows[0].Buffers, "running_mean [32]") || rows[1].Buffers != "none" || rows[2].Buffers != "none" {
		t.Errorf("buffers: BN %q, LN %q, GN %q", rows[0].Buffers, rows[1].Buffers, rows[2].Buffers)
	}
}

func TestLayerNormIgnoresScale(t *testing.T) {
	images, _, err := lesson.Digits(testSet(t), 0, 6)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ProveScaleInvariance(goBackend(t), images, []float64{0.5, 2, 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", s)
	if s.LayerNormOut < 1 || s.LayerNormDiff > 1e-4*s.LayerNormOut {
		t.Errorf("LN(a·x) differs from LN(x) by %g (outputs up to %g)", s.LayerNormDiff, s.LayerNormOut)
	}
	// Scales 0.5…10 move a linear layer's output by 50%…900%; it stays homogeneous.
	if s.LinearRelDiff < 0.4 || s.LinearHomogeneity > 1e-3 {
		t.Errorf("linear layer: relative change %g, homogeneity error %g", s.LinearRelDiff, s.LinearHomogeneity)
	}
}

func TestGroupNormOverCHW(t *testing.T) {
	images, _, err := lesson.Digits(testSet(t), 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	g, err := ProveGroupNorm(goBackend(t), images, 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", g)
	if !slices.Equal(g.Shape, []int{4, 14, 14, 16}) || g.ByHandDiff > 1e-4 || g.SampleMean > 1e-4 || g.SampleStdDev > 1e-3 {
		t.Errorf("GroupNorm(1, C) is not normalisation over C·H·W: %+v", g)
	}
	if g.LayerNormDiff < 0.1 || g.PositionStdMax-g.PositionStdMin < 0.1 {
		t.Errorf("GroupNorm(1, C) looks like LayerNorm over C: %+v", g)
	}
}

func TestJudge(t *testing.T) {
	cfg := ForBudget(lesson.Test)
	mk := func(arch string, accs ...float64) lesson.Result[RunConfig] {
		c := cfg.Run
		c.Arch = arch
		var recs []*experiment.Record
		for _, a := range accs {
			recs = append(recs, &experiment.Record{Status: experiment.StatusDone, Final: map[string]float64{"acc": a}})
		}
		s, err := experiment.Summarize(recs)
		if err != nil {
			t.Fatal(err)
		}
		return lesson.Result[RunConfig]{Arm: lesson.Arm[RunConfig]{Name: arch, Config: c}, Summary: s}
	}
	v, err := Judge([]lesson.Result[RunConfig]{mk(ArchRepVGG, 0.90, 0.91, 0.92), mk(ArchPlain, 0.80, 0.81, 0.82), mk(ArchResNet, 0.905, 0.915, 0.92)})
	if err != nil {
		t.Fatal(err)
	}
	if v.BranchesVsPlain.Verdict != lesson.Higher || v.RepVGGVsResNet.Verdict != lesson.WithinNoise {
		t.Errorf("%+v", v)
	}
	if _, err := Judge(nil); err == nil {
		t.Error("judging no results accepted")
	}
}
