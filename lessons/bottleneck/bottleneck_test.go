package bottleneck

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/export"
	"github.com/gostudy/gostudy/pkg/safetensors"
)

// The claims are checked with tolerances that a false claim would not meet: a bottleneck
// that saved nothing, forms that were not equivalent, widths that were not matched, a stem
// that was not a linear patch map, a model that did not learn.

func TestBottleneckSaving(t *testing.T) {
	s, err := BottleneckSaving(256, 64, 56)
	if err != nil {
		t.Fatal(err)
	}
	if s.WideMACsCounted != s.WideMACsFormula || s.BottleneckMACsCounted != s.BottleneckMACsFormula ||
		s.NarrowMACsCounted != s.NarrowMACsFormula {
		t.Errorf("counted MACs differ from the formulas: %+v", s)
	}
	// 18·256² / (256·64 + 9·64² + 64·256) = 16.94.
	if math.Abs(s.Ratio-16.94) > 0.01 {
		t.Errorf("saving %.3f×, want 16.94×", s.Ratio)
	}
	// ResNet-50's block costs about ResNet-34's (17·64² vs 18·64² per pixel).
	if r := float64(s.BottleneckMACsCounted) / float64(s.NarrowMACsCounted); math.Abs(r-17.0/18) > 0.01 {
		t.Errorf("bottleneck / basic@64 = %.3f, want 17/18", r)
	}
	if _, err := BottleneckSaving(200, 64, 56); err == nil {
		t.Error("width ≠ 4·planes accepted")
	}
}

func TestDownsamplingBlockAddsProjectedShortcut(t *testing.T) {
	d, err := DownsamplingBlock(64, 32, 14)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.OutShape, []int{1, 7, 7, 128}) || d.ConcatChannels != 192 {
		t.Errorf("out %v (concat would be %d), want [1 7 7 128] (add)", d.OutShape, d.ConcatChannels)
	}
	want := map[string][]int{"conv1.weight": {32, 64, 1, 1}, "conv2.weight": {32, 32, 3, 3},
		"conv3.weight": {128, 32, 1, 1}, "downsample.0.weight": {128, 64, 1, 1}}
	for _, v := range d.Vars {
		if w, ok := want[v.Name]; ok {
			if !slices.Equal(v.Shape, w) {
				t.Errorf("%s: %v, want %v", v.Name, v.Shape, w)
			}
			delete(want, v.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing %v", want)
	}
}

// The paper's Table 2 templates at planes 64: 1×64d, 2×40d, 4×24d, 8×14d, 32×4d.
func TestMatchedGroupWidthReproducesPaperTemplates(t *testing.T) {
	for c, d := range map[int]int{1: 64, 2: 40, 4: 24, 8: 14, 32: 4} {
		if got := MatchedGroupWidth(64, c, 1); got != d {
			t.Errorf("cardinality %d: d = %d, want %d", c, got, d)
		}
	}
}

func TestTableNetsHaveAboutEqualParameters(t *testing.T) {
	cfg := ForBudget(FullBudget)
	rows, err := Costs(cfg.TableNets())
	if err != nil {
		t.Fatal(err)
	}
	var params []int64
	for _, r := range rows {
		params = append(params, r.Cost.Params)
		t.Logf("%-16s %v widths %v", r.Label, r.Cost, r.GroupWidths)
	}
	if len(rows) != 7 {
		t.Fatalf("%d rows, want basic + 5 cardinalities + convnext", len(rows))
	}
	if s := RelativeSpread(params); s > 0.15 {
		t.Errorf("parameter spread %.2f, want ≤ 0.15: %v", s, params)
	}
	// Cardinality 1 at cost scale 1 is the plain bottleneck.
	plain, err := CostOf(cfg.Base.Net)
	if err != nil {
		t.Fatal(err)
	}
	if rows[1].Cost != plain {
		t.Errorf("resnext 1×16d %v ≠ bottleneck %v", rows[1].Cost, plain)
	}
	// The complexity variants cost about twice the base (1.5–2.2×), deeper being deeper.
	for _, n := range ComplexityNets(cfg.Base.Net)[1:] {
		c, err := CostOf(n)
		if err != nil {
			t.Fatal(err)
		}
		if r := float64(c.Params) / float64(plain.Params); r < 1.5 || r > 2.2 {
			t.Errorf("%s: %.2f× the base's parameters", n.Label(), r)
		}
	}
}

func TestGroupedConvolutionFormsAreEquivalent(t *testing.T) {
	b := goBackend(t)
	x, _, err := Digits(0, 4)
	if err != nil {
		t.Fatal(err)
	}
	eqs, err := ProveEquivalence(b, x, []int{4})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range eqs {
		t.Logf("%+v", e)
		if e.MaxAbsOutput < 0.5 {
			t.Errorf("outputs too small to compare: %g", e.MaxAbsOutput)
		}
		for name, d := range map[string]float64{"sum of paths": e.SumOfPaths, "concat": e.Concat, "block-diagonal": e.BlockDiagonal} {
			if d > 1e-4*e.MaxAbsOutput {
				t.Errorf("cardinality %d: %s differs from grouped by %g", e.Cardinality, name, d)
			}
		}
		if e.DenseParams != e.Cardinality*e.GroupedParams {
			t.Errorf("dense params %d, want %d × grouped %d", e.DenseParams, e.Cardinality, e.GroupedParams)
		}
	}
}

func TestBlockDiagonalIsNotTrivial(t *testing.T) {
	m, err := Connectivity(8, 4)
	if err != nil {
		t.Fatal(err)
	}
	ones := 0
	for _, row := range m {
		for _, v := range row {
			ones += int(v)
		}
	}
	if ones != 8*2 { // each output sees its group's 2 inputs
		t.Errorf("%d connections, want 16", ones)
	}
}

func TestPatchifyIsALinearMapPerPatch(t *testing.T) {
	x, _, err := Digits(0, 2)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ProvePatchify(goBackend(t), x, 2, 24)
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxAbsOutput < 0.5 || p.MaxAbsDiff > 1e-5*p.MaxAbsOutput {
		t.Errorf("conv vs patchify+linear: diff %g at scale %g", p.MaxAbsDiff, p.MaxAbsOutput)
	}
	var names []string
	for _, v := range p.StemVars {
		names = append(names, v.Name)
	}
	if !slices.Equal(names, []string{"stem.0.bias", "stem.0.weight", "stem.1.bias", "stem.1.weight"}) {
		t.Errorf("stem variables %v", names)
	}
}

func TestConvNeXtBlockAnatomy(t *testing.T) {
	a, err := ConvNeXtBlockAnatomy(96, 14)
	if err != nil {
		t.Fatal(err)
	}
	if a.Hidden != 4*96 || a.DepthwiseParams != 96*49 || a.DenseParams != 96*96*49 {
		t.Errorf("hidden %d, depthwise %d, dense %d", a.Hidden, a.DepthwiseParams, a.DenseParams)
	}
	if a.DepthwiseMACs+a.MLPMACs != a.TotalMACs {
		t.Errorf("depthwise %d + MLP %d ≠ total %d", a.DepthwiseMACs, a.MLPMACs, a.TotalMACs)
	}
}

func TestStageRatiosMatchSwinT(t *testing.T) {
	sr, err := StageRatios()
	if err != nil {
		t.Fatal(err)
	}
	swin, tiny, r50 := sr[0].Cost, sr[1].Cost, sr[2].Cost
	t.Logf("Swin-T %v; ConvNeXt-T %v; 3:4:6:3 %v", swin, tiny, r50)
	if d := math.Abs(float64(tiny.MACs)/float64(swin.MACs) - 1); d > 0.02 {
		t.Errorf("ConvNeXt-T MACs %d vs Swin-T %d: %.1f%% apart", tiny.MACs, swin.MACs, 100*d)
	}
	if tiny.MACs < 4_300_000_000 || tiny.MACs > 4_600_000_000 {
		t.Errorf("ConvNeXt-T: %d MACs, the paper says 4.5G", tiny.MACs)
	}
	if float64(r50.MACs) > 0.95*float64(tiny.MACs) {
		t.Errorf("3:4:6:3 (%d) should cost clearly less than 3:3:9:3 (%d)", r50.MACs, tiny.MACs)
	}
}

func TestForBudget(t *testing.T) {
	full, test := ForBudget(lesson.Full), ForBudget(lesson.Test)
	if full.Seeds != 3 || !slices.Equal(full.Cardinalities, []int{1, 2, 4, 8, 32}) || len(full.Complexity) == 0 {
		t.Errorf("full budget: %+v", full)
	}
	if test.Base.TrainSize >= full.Base.TrainSize || test.Seeds > full.Seeds {
		t.Errorf("test budget is not smaller: %+v", test)
	}
	// Same networks at both budgets: only sizes shrink.
	if !slices.Equal(test.Base.Planes, full.Base.Planes) || test.ConvNeXt.Arch != full.ConvNeXt.Arch {
		t.Error("the budgets train different networks")
	}
	for _, c := range []LessonConfig{full, test} {
		for _, n := range append(c.TableNets(), c.Complexity...) {
			rc := c.RunConfig(n)
			if err := rc.Validate(); err != nil {
				t.Errorf("%s: %v", n.Label(), err)
			}
		}
	}
}

func TestRegisteredForAblateAndExport(t *testing.T) {
	r, err := experiment.Lookup(Name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.NewConfig().(*Config)
	for k, v := range map[string]string{"arch": "resnext", "cardinality": "8", "cost_scale": "2", "blocks": "[2,2,2]"} {
		if err := experiment.Set(cfg, k, v); err != nil {
			t.Fatalf("set %s=%s: %v", k, v, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Net.Label() != "resnext 8×6d [2 2 2]" {
		t.Errorf("label %q", cfg.Net.Label())
	}
	cfg.Arch = "vgg"
	if cfg.Validate() == nil {
		t.Error("unknown arch accepted")
	}
}

// TestTrainExportAndFeatureMaps trains the plain bottleneck network at the test budget on the
// default backend (xla:cpu here), checks it learned, exports it and draws its feature maps.
func TestTrainExportAndFeatureMaps(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: training skipped")
	}
	cfg := ForBudget(lesson.Test)
	dir := t.TempDir()
	r, err := Train(context.Background(), cfg, cfg.Base.Net, 0, TrainOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: test acc %.4f, %d steps, step %v, wall %v", r.Label, r.TestAcc, r.Steps, r.StepTime, r.Wall)
	// 80 steps of 32 digits; chance is 0.10. Measured 0.83 (val 0.83) on xla:cpu.
	if r.TestAcc < 0.6 || r.Steps != 80 || r.StepTime <= 0 {
		t.Errorf("test acc %.4f after %d steps (step time %v), want ≥ 0.6 after 80", r.TestAcc, r.Steps, r.StepTime)
	}
	// Running again reuses the finished run, its step time included.
	again, err := Train(context.Background(), cfg, cfg.Base.Net, 0, TrainOptions{Dir: dir})
	if err != nil || again.TestAcc != r.TestAcc || again.StepTime != r.StepTime {
		t.Errorf("rerun: %+v, %v; want the same run", again, err)
	}

	run, err := experiment.OpenRun(r.RunDir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "model.safetensors")
	if _, err := export.Safetensors(run, path); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[string][]int{"conv1.weight": {16, 1, 3, 3}, "layer1.0.conv2.weight": {16, 16, 3, 3},
		"layer3.0.conv3.weight": {256, 64, 1, 1}, "fc.weight": {10, 256}}
	for k, want := range shapes {
		tensor, ok := f.Tensors[k]
		if !ok {
			t.Errorf("export lacks %s", k)
			continue
		}
		if got := tensor.Shape().Dimensions; !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", k, got, want)
		}
	}

	x, _, err := Digits(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	maps, err := FeatureMaps(r.RunDir, cfg.Base.Net, x, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int{{1, 14, 14, 16}, {1, 14, 14, 64}, {1, 7, 7, 128}, {1, 4, 4, 256}}
	for i, m := range maps {
		if !slices.Equal(m.Shape().Dimensions, want[i]) {
			t.Errorf("feature map %d: %v, want %v", i, m.Shape().Dimensions, want[i])
		}
	}
}

func goBackend(t *testing.T) compute.Backend {
	t.Helper()
	b, err := countingBackend()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
