package acmix

import (
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/nn"
)

func goBackend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := countingBackend()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func digits(t testing.TB, n int) *tensors.Tensor {
	t.Helper()
	s, err := mnist.Load(mnist.Test)
	if err != nil {
		t.Fatal(err)
	}
	x, _, err := lesson.Digits(s, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestShifted1x1(t *testing.T) {
	s, err := ProveShifted1x1(goBackend(t), digits(t, 4), 3)
	if err != nil {
		t.Fatal(err)
	}
	if s.Scale < 0.1 || s.Diff > 1e-5*s.Scale || s.NoShift < 0.1*s.Scale {
		t.Errorf("%+v: the shifted sum should equal the conv and the unshifted one should not", s)
	}
}

func TestVectorisationSteps(t *testing.T) {
	v, err := ProveVectorisation(goBackend(t), digits(t, 4), 8, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Steps) != 4 || v.LibraryKernel != 0 || v.Scale < 0.1 {
		t.Fatalf("%+v", v)
	}
	for _, s := range v.Steps {
		if s.Diff > 1e-5*v.Scale {
			t.Errorf("step %s differs from the conv by %g (scale %g)", s.Step, s.Diff, v.Scale)
		}
	}
	if v.Steps[0].Learnable != 0 || v.Steps[2].Learnable != 8*9*9 {
		t.Errorf("learnable parameters %d, %d", v.Steps[0].Learnable, v.Steps[2].Learnable)
	}
	if _, err := ProveVectorisation(goBackend(t), digits(t, 1), 8, 3, 3); err == nil {
		t.Error("8 channels in 3 heads accepted")
	}
}

func TestCodeVsFigure(t *testing.T) {
	rows, err := CompareCodeAndFigure(16, 4)
	if err != nil {
		t.Fatal(err)
	}
	code, fig := rows[0], rows[1]
	// fc: 3N → k² (code) vs 3N → k²N (figure); dep_conv C·k²·k² in both.
	if code.FC != 12*9 || fig.FC != 4*code.FC || code.DepConv != 16*81 || fig.DepConv != code.DepConv ||
		fig.Module-code.Module != int64(fig.FC-code.FC) {
		t.Errorf("code %+v, figure %+v", code, fig)
	}
}

func TestCosts(t *testing.T) {
	rows, err := Costs(64, 4, 3, 7, 14)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		t.Logf("%+v", r)
	}
	conv, att, cpath, both := rows[0], rows[1], rows[2], rows[3]
	if conv.Counted != conv.Formula || conv.Formula != 9*64*64 {
		t.Errorf("conv: %+v", conv)
	}
	// The conv path is convs and matmuls only: the count is the formula.
	if cpath.Counted != cpath.Formula {
		t.Errorf("conv path: %+v", cpath)
	}
	// The attention's products are elementwise: the count misses exactly 2·k²·C.
	if att.Formula-att.Counted != 2*49*64 || both.Formula-both.Counted != 2*49*64 {
		t.Errorf("attention %+v, ACmix %+v", att, both)
	}
	if both.Formula >= conv.Formula {
		t.Errorf("ACmix %d MACs per pixel, the conv %d: the paper's ACmix is cheaper at 64 channels", both.Formula, conv.Formula)
	}
}

func TestRatesStartAtOneHalf(t *testing.T) {
	cfg := ForBudget(lesson.Full).Run // two blocks per stage
	store := model.NewStore()
	if _, err := nn.Build(goBackend(t), store, cfg.Logits, shapeOf(1, 28, 28, 1)); err != nil {
		t.Fatal(err)
	}
	if err := store.InitializeVariables(goBackend(t), nil); err != nil {
		t.Fatal(err)
	}
	rates, err := Rates(store, cfg.Net)
	if err != nil {
		t.Fatal(err)
	}
	var sides []int
	for _, r := range rates {
		sides = append(sides, r.Side)
		if r.Alpha != 0.5 || r.Beta != 0.5 {
			t.Errorf("%+v", r)
		}
	}
	if !slices.Equal(sides, []int{14, 14, 14, 7, 7, 4}) {
		t.Errorf("sides %v", sides)
	}
	conv := cfg.Net
	conv.Block = BlockConv
	if _, err := Rates(store, conv); err == nil {
		t.Error("rates of a bottleneck accepted")
	}
}

func TestTimeAttentionCounts(t *testing.T) {
	tm, err := TimeAttention(goBackend(t), 1, 14, 16, 2, 7, 1)
	if err != nil {
		t.Fatal(err)
	}
	if tm.WMSACounted != tm.MACsPerToken || tm.MACsPerToken != 4*16*16+2*49*16 || tm.WMSAMS <= 0 || tm.SlidingMS <= 0 {
		t.Errorf("%+v", tm)
	}
	// W-MSA has the sliding module's qkv and proj plus its relative position bias table.
	if tm.WMSAParams-tm.SlidingParams != 13*13*2 {
		t.Errorf("parameters: W-MSA %d, sliding %d", tm.WMSAParams, tm.SlidingParams)
	}
	if _, err := TimeAttention(goBackend(t), 1, 15, 16, 2, 7, 1); err == nil {
		t.Error("a side that is not a multiple of the window accepted")
	}
}

func TestForBudget(t *testing.T) {
	var prev *Config
	for _, b := range lesson.Budgets {
		c := ForBudget(b)
		arms := c.Arms()
		if len(arms) != 4 || arms[1].Config.Block != BlockACmix {
			t.Errorf("%s: arms %v", b, arms)
		}
		for _, a := range arms {
			if err := a.Config.Validate(); err != nil {
				t.Errorf("%s %s: %v", b, a.Name, err)
			}
		}
		if prev != nil && (prev.Run.TrainSize > c.Run.TrainSize || prev.Seeds > c.Seeds || prev.TimeRounds > c.TimeRounds) {
			t.Errorf("%s is not smaller than %s", prev.Budget, b)
		}
		prev = &c
	}
	bad := ForBudget(lesson.Test).Run.Net
	bad.Planes = []int{18, 32, 64}
	if bad.Validate() == nil {
		t.Error("planes not divisible by the heads accepted")
	}
}

func TestRateSummaries(t *testing.T) {
	net := ForBudget(lesson.Full).Run.Net // two blocks per stage
	seed := func(early, late float64) []Rate {
		var r []Rate
		for i, b := range net.BlockList() {
			beta := early
			if i >= 4 {
				beta = late
			} else if i >= 2 {
				beta = (early + late) / 2
			}
			r = append(r, Rate{Block: b.Name, Side: b.Side, Alpha: 1 - beta, Beta: beta})
		}
		return r
	}
	seeds := [][]Rate{seed(0.8, 0.3), seed(0.7, 0.4)}
	early, late := EarlyLate(seeds, net)
	if !near(early.Mean, 0.75) || !near(late.Mean, 0.35) {
		t.Errorf("early %v, late %v", early, late)
	}
	s := SummarizeRates(seeds)
	if len(s) != 6 || !near(s[0].ConvShare.Mean, 0.75) || s[0].Alpha.N() != 2 || s[5].Side != 4 {
		t.Errorf("%+v", s)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
