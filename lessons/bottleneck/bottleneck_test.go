package bottleneck

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/mnist"
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
	cfg := ForBudget(lesson.Full)
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
	plain, err := CostOf(cfg.Run.Net)
	if err != nil {
		t.Fatal(err)
	}
	if rows[1].Cost != plain {
		t.Errorf("resnext 1×16d %v ≠ bottleneck %v", rows[1].Cost, plain)
	}
	// The complexity variants cost about twice the base (1.5–2.2×), deeper being deeper.
	for _, n := range ComplexityNets(cfg.Run.Net)[1:] {
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
	x, _, err := testDigits(t, 4)
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
	x, _, err := testDigits(t, 2)
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
	var cfgs []Config
	for _, b := range lesson.Budgets {
		cfgs = append(cfgs, ForBudget(b))
	}
	test, quick, full := cfgs[0], cfgs[1], cfgs[2]
	if full.Seeds != 3 || !slices.Equal(full.Cardinalities, []int{1, 2, 4, 8, 32}) || len(full.Complexity) != 5 ||
		len(full.GapArms()) != 7 {
		t.Errorf("full budget: %+v", full)
	}
	for i, small := range cfgs[:2] {
		big := cfgs[i+1]
		if small.Run.TrainSize > big.Run.TrainSize || small.Seeds > big.Seeds || len(small.Cardinalities) > len(big.Cardinalities) ||
			len(small.Complexity) > len(big.Complexity) || len(small.GapArms()) > len(big.GapArms()) {
			t.Errorf("%s budget is not smaller than %s: %+v", small.Budget, big.Budget, small)
		}
	}
	// Same networks at every budget: only sizes and the number of points shrink.
	for _, c := range []Config{test, quick} {
		if !slices.Equal(c.Run.Planes, full.Run.Planes) || !slices.Equal(c.ConvNeXt.Blocks, full.ConvNeXt.Blocks) ||
			c.ConvNeXt.LayerScale != full.ConvNeXt.LayerScale || c.Run.LearningRate != full.Run.LearningRate {
			t.Errorf("%s budget trains other networks", c.Budget)
		}
	}
	for _, c := range cfgs {
		var nets []Net
		nets = append(append(nets, c.TableNets()...), c.Complexity...)
		for _, n := range nets {
			rc := c.RunOf(n)
			if err := rc.Validate(); err != nil {
				t.Errorf("%s: %v", n.Label(), err)
			}
		}
		// The table and the complexity comparison share the plain bottleneck's run.
		if c.Complexity[0].Label() != c.TableNets()[1].Label() {
			t.Errorf("complexity base %s is not the table's plain bottleneck", c.Complexity[0].Label())
		}
	}
}

// TestGapArmsAreControlled: each ConvNeXt-gap arm differs from the table's ConvNeXt in exactly
// the one knob its name says, so a change in accuracy can be put down to it; the reference is
// the table's plain bottleneck (the same run).
func TestGapArmsAreControlled(t *testing.T) {
	cfg := ForBudget(lesson.Full)
	arms := cfg.GapArms()
	base := arms[0].Config
	if base.Net.Label() != cfg.ConvNeXt.Label() || arms[1].Config.Net.Label() != cfg.TableNets()[1].Label() ||
		arms[2].Config.Net.Label() != cfg.Basic.Label() {
		t.Fatalf("first arms %q, %q, %q: want the table's convnext, plain bottleneck and basic block", arms[0].Name, arms[1].Name, arms[2].Name)
	}
	baseJSON, err := experiment.ConfigJSON(base)
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]any
	if err := json.Unmarshal(baseJSON, &all); err != nil {
		t.Fatal(err)
	}
	for _, a := range arms[3:] {
		if err := a.Config.Validate(); err != nil {
			t.Errorf("%s: %v", a.Name, err)
		}
		js, err := experiment.ConfigJSON(a.Config)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(js, &m); err != nil {
			t.Fatal(err)
		}
		var changed []string
		for k, v := range m {
			if fmt.Sprint(v) != fmt.Sprint(all[k]) {
				changed = append(changed, k)
			}
		}
		if len(changed) != 1 {
			t.Errorf("%s changes %v, want exactly one knob", a.Name, changed)
		}
	}
}

func TestRegisteredForAblateAndExport(t *testing.T) {
	r, err := experiment.Lookup(Name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.NewConfig().(*RunConfig)
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
	for k, v := range map[string]string{"arch": "vgg", "stem": "resnet", "weight_decay": "-1", "val_size": "300"} {
		bad := *cfg
		if err := experiment.Set(&bad, k, v); err != nil {
			t.Fatal(err)
		}
		if bad.Validate() == nil {
			t.Errorf("%s=%s accepted for a resnext", k, v)
		}
	}
}

// TestTrainExportAndFeatureMaps trains the plain bottleneck network at the test budget on the
// default backend (xla:cpu here), checks it learned, exports it and computes its feature maps.
func TestTrainExportAndFeatureMaps(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: training skipped")
	}
	cfg := ForBudget(lesson.Test)
	opts := lesson.Options{Dir: t.TempDir()}
	r, err := TrainNet(context.Background(), cfg, cfg.Run.Net, 0, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: test acc %.4f, %d steps, step %.1f ms, wall %.0f s", r.Label, r.TestAcc, r.Steps, r.StepMS, r.WallS)
	// 80 steps of 32 digits; chance is 0.10. Measured 0.64 on xla:cpu.
	if r.TestAcc < 0.5 || r.Steps != 80 || r.StepMS <= 0 {
		t.Errorf("test acc %.4f after %d steps (step time %.1f ms), want ≥ 0.5 after 80", r.TestAcc, r.Steps, r.StepMS)
	}
	// Running again reuses the finished run, its step time included.
	again, err := TrainNet(context.Background(), cfg, cfg.Run.Net, 0, opts)
	if err != nil || again.TestAcc != r.TestAcc || again.StepMS != r.StepMS {
		t.Errorf("rerun: %+v, %v; want the same run", again, err)
	}

	run, err := experiment.OpenRun(r.RunDir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.safetensors")
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

	tr, err := lesson.Load(Experiment, cfg.Run, 0, opts.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	x, _, err := testDigits(t, 1)
	if err != nil {
		t.Fatal(err)
	}
	maps, err := FeatureMaps(tr.Store, cfg.Run.Net, x, nil)
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

// TestConvNeXtControls: the ResNets' stem and padded downsampling change ConvNeXt's maps as
// the ConvNeXt-gap section says: the stem keeps 14×14 with a BatchNorm instead of a LayerNorm,
// padding makes the last stage 4×4 instead of 3×3.
func TestConvNeXtControls(t *testing.T) {
	x, _, err := testDigits(t, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ForBudget(lesson.Test)
	shapesOf := func(n Net) [][]int {
		store := model.NewStore()
		defer store.Finalize()
		maps, err := FeatureMaps(store, n, x, goBackend(t))
		if err != nil {
			t.Fatal(err)
		}
		var out [][]int
		for _, m := range maps {
			out = append(out, m.Shape().Dimensions[1:3])
		}
		return out
	}
	base, padded, stem := cfg.ConvNeXt, cfg.ConvNeXt, cfg.ConvNeXt
	padded.PadDownsample = true
	stem.Stem = StemResNet
	if got := shapesOf(base); !slices.Equal(got[3], []int{3, 3}) || !slices.Equal(got[0], []int{14, 14}) {
		t.Errorf("convnext maps %v, want 14×14 … 3×3", got)
	}
	if got := shapesOf(padded); !slices.Equal(got[3], []int{4, 4}) || !slices.Equal(got[2], []int{7, 7}) {
		t.Errorf("padded convnext maps %v, want 7×7 then 4×4", got)
	}
	if got := shapesOf(stem); !slices.Equal(got[0], []int{14, 14}) || !slices.Equal(got[3], []int{3, 3}) {
		t.Errorf("convnext with the ResNets' stem: maps %v", got)
	}
	// Padding must be differentiable (GoMLX's Pad is not): the gradient reaches the input.
	store := model.NewStore()
	defer store.Finalize()
	grad, err := model.NewExec(goBackend(t), store, func(scope *model.Scope, x *graph.Node) *graph.Node {
		return graph.Gradient(graph.ReduceAllSum(padded.Logits(scope, x)), x)[0]
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := grad.Call1(x)
	if err != nil {
		t.Fatalf("gradient through the padded ConvNeXt: %v", err)
	}
	if !slices.Equal(g.Shape().Dimensions, []int{1, 28, 28, 1}) {
		t.Errorf("gradient shaped %v", g.Shape().Dimensions)
	}
	vars, err := Variables(stem.Logits, 1, 28, 28, 1)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range vars {
		if strings.HasPrefix(v.Name, "stem.") {
			names = append(names, v.Name)
		}
	}
	if !slices.Equal(names, []string{"stem.0.weight", "stem.1.bias", "stem.1.running_mean", "stem.1.running_var", "stem.1.weight"}) {
		t.Errorf("the ResNets' stem: variables %v, want a 3×3 conv and a BatchNorm", names)
	}
}

// testDigits returns the first n images of MNIST's test split.
func testDigits(t *testing.T, n int) (*tensors.Tensor, []int32, error) {
	t.Helper()
	test, err := mnist.Load(mnist.Test)
	if err != nil {
		t.Fatal(err)
	}
	return lesson.Digits(test, 0, n)
}

func goBackend(t *testing.T) compute.Backend {
	t.Helper()
	b, err := countingBackend()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
