package windowattention

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/backend"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

func TestPaddingOneSide(t *testing.T) {
	p := MeasurePadding(14, 14, 4)
	if p.PadH != 2 || p.PadW != 2 || p.Windows != 16 || p.PaddedTokens != 60 {
		t.Fatalf("14×14, M = 4: %+v", p)
	}
	// Padding one side touches the last row and column of windows only (4 + 4 − 1); split
	// padding touches the first ones too, and moves every window border.
	if p.MixedOneSide != 7 || p.MixedSplit != 12 {
		t.Errorf("windows with padding: one side %d (want 7), split %d (want 12)", p.MixedOneSide, p.MixedSplit)
	}
	if p.SameWindowsOneSide != 196 || p.SameWindowsSplit != 0 {
		t.Errorf("tokens keeping their window: one side %d (want 196), split %d (want 0)", p.SameWindowsOneSide, p.SameWindowsSplit)
	}
	if q := MeasurePadding(14, 14, 7); q.PaddedTokens != 0 || q.MixedOneSide != 0 {
		t.Errorf("M = 7 divides 14, yet %+v", q)
	}
}

// TestShiftGeometryMatchesNN checks the lesson's bookkeeping of where each token lands against
// the real ops: token ids pushed through nn.Roll, padding and nn.WindowPartition.
func TestShiftGeometryMatchesNN(t *testing.T) {
	b, err := graphBackend()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ h, m, s int }{{14, 7, 3}, {7, 4, 2}, {14, 4, 2}, {9, 4, 1}} {
		for _, order := range []Order{RollThenPad, PadThenRoll} {
			hp, _ := Padded(c.h, c.h, c.m)
			pad := hp - c.h
			ids := make([]float32, c.h*c.h)
			for i := range ids {
				ids[i] = float32(i + 1) // 0 is padding
			}
			out, err := graph.CallOnce(b, func(x *graph.Node) *graph.Node {
				roll := func(x *graph.Node) *graph.Node { return nn.Roll(nn.Roll(x, 1, -c.s), 2, -c.s) }
				if order == RollThenPad {
					x = nn.PadHW(roll(x), 0, 0, pad, 0, pad)
				} else {
					x = roll(nn.PadHW(x, 0, 0, pad, 0, pad))
				}
				return nn.WindowPartition(x, [2]int{c.m, c.m})
			}, tensors.FromFlatDataAndDimensions(ids, 1, c.h, c.h, 1))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := tensors.CopyFlatData[float32](out)
			orig := shiftedOrigin(c.h, c.h, c.m, c.s, order)
			n, nw := c.m*c.m, hp/c.m
			for wi := range len(got) / n {
				for q := range n {
					y, x := (wi/nw)*c.m+q/c.m, (wi%nw)*c.m+q%c.m
					oy, ox, ok := orig(y, x)
					want := float32(0)
					if ok {
						want = float32(oy*c.h + ox + 1)
					}
					if got[wi*n+q] != want {
						t.Fatalf("%+v %s: window %d token %d holds id %v, bookkeeping says %v", c, order, wi, q, got[wi*n+q], want)
					}
				}
			}
		}
	}
}

func TestShiftedWindowMask(t *testing.T) {
	st, err := MeasureMask(14, 14, 7, 3, RollThenPad)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pairs != 4*49*49 || st.Masked != 4128 || st.Allowed != st.Pairs-st.Masked {
		t.Errorf("pair counts %+v", st)
	}
	// The mask's whole point: allowed pairs are neighbours in the image, masked ones are not.
	if st.MaxAllowedDist != 6 || st.MinMaskedDist != 8 || st.AllowedFar != 0 || st.MaskedNear != 0 {
		t.Errorf("mask vs geometry: %+v", st)
	}
	if st.FarPairs != st.Masked {
		t.Errorf("%d far pairs but %d masked", st.FarPairs, st.Masked)
	}
	want := []int{1, 2, 2, 4}
	for i, r := range st.RegionsPerWindow {
		if r != want[i] {
			t.Errorf("regions per window %v, want %v", st.RegionsPerWindow, want)
			break
		}
	}
	if k := st.VisibleKeys; k[0] != 49 || k[3] > 13 {
		t.Errorf("keys seen per window %v: the corner window should see fewest", k)
	}
	// With padding, rolling before padding (timm, pkg/nn) lets wrapped tokens mix on a 7×7 map
	// with M = 4; padding first does not.
	rp, _ := MeasureMask(7, 7, 4, 2, RollThenPad)
	pr, _ := MeasureMask(7, 7, 4, 2, PadThenRoll)
	if rp.AllowedFar != 80 || rp.MaxAllowedDist != 6 || pr.AllowedFar != 0 || pr.MaskedNear != 0 || pr.MaxAllowedDist != 3 {
		t.Errorf("order: roll→pad %+v; pad→roll %+v", rp, pr)
	}
	if _, err := MeasureMask(14, 14, 7, 0, RollThenPad); err == nil {
		t.Error("shift 0 has no mask and must be refused")
	}
}

func TestRelativePositionIndexHasNoCollisions(t *testing.T) {
	for _, c := range []struct{ m, sumColl, strideColl int }{{2, 4, 2}, {4, 36, 18}, {7, 144, 72}} {
		st := MeasureIndex(c.m)
		rows := (2*c.m - 1) * (2*c.m - 1)
		if st.Offsets != rows || st.Indices != rows || st.Collisions != 0 || !st.Consistent ||
			st.MinIndex != 0 || st.MaxIndex != rows-1 {
			t.Errorf("M = %d: %+v", c.m, st)
		}
		if st.SumCollisions != c.sumColl || st.StrideMCollisions != c.strideColl {
			t.Errorf("M = %d: naive collisions %d (want %d), stride-M collisions %d (want %d)",
				c.m, st.SumCollisions, c.sumColl, st.StrideMCollisions, c.strideColl)
		}
	}
}

func TestCostFormulaEqualsCount(t *testing.T) {
	pts, err := MeasureCost([]int{7, 14, 28, 56}, 32, 7, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pts {
		if !p.FormulaEqualsCount {
			t.Errorf("side %d: MSA %d vs %d, W-MSA %d vs %d", p.Side, p.MSAFormula, p.MSACounted, p.WMSAFormula, p.WMSACounted)
		}
		if i > 0 && p.Ratio <= pts[i-1].Ratio {
			t.Errorf("the MSA/W-MSA ratio must grow with the map: %v then %v", pts[i-1].Ratio, p.Ratio)
		}
	}
	if pts[0].Ratio != 1 {
		t.Errorf("one window covering the map costs the same as MSA; ratio %v", pts[0].Ratio)
	}
	if _, err := MeasureCost([]int{10}, 32, 7, 2); err == nil {
		t.Error("a side that is not a multiple of M must be refused")
	}
}

func TestReach(t *testing.T) {
	for _, c := range []struct {
		shifts   []int
		lo, hi   float64
		min, max int
	}{
		{[]int{0, 0}, 49, 49, 49, 49},    // the same windows twice: no further than one block
		{[]int{3, 3}, 27, 29, 9, 49},     // shifted twice: the masked corners see even less
		{[]int{0, 3}, 110, 111, 49, 196}, // W-MSA then SW-MSA
		{[]int{0, 3, 0, 3}, 196, 196, 196, 196},
	} {
		r := Reach(14, 14, 7, c.shifts)
		if r.Mean < c.lo || r.Mean > c.hi || r.Min != c.min || r.Max != c.max {
			t.Errorf("shifts %v: %+v", c.shifts, r)
		}
	}
}

func TestPatchMergingIsAConvolution(t *testing.T) {
	b, err := graphBackend()
	if err != nil {
		t.Fatal(err)
	}
	x := tensors.FromShape(shapes.Make(dtypes.Float32, 2, 6, 6, 8))
	tensors.MutableFlatData(x, func(f []float32) {
		for i := range f {
			f[i] = float32(math.Sin(0.37 * float64(i)))
		}
	})
	st, err := MergingAsConv(b, x)
	if err != nil {
		t.Fatal(err)
	}
	if st.Concat != 32 || st.Out[1] != 3 || st.Out[3] != 16 || st.MaxDiff > 1e-5 {
		t.Errorf("%+v", st)
	}
}

func TestModelAndSwitches(t *testing.T) {
	cfg := ForBudget(lesson.Test).Run
	cost, err := ModelCost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// nn.SwinTiny28 (= timm's SwinTransformer with the same arguments): 95,510 parameters.
	if cost.Params != 95510 {
		t.Errorf("params %d, want 95510", cost.Params)
	}
	blocks := Blocks(cfg)
	if len(blocks) != 4 || blocks[1].Shift != 3 || blocks[3].Shift != 0 || blocks[3].Window != 7 {
		t.Errorf("blocks %+v", blocks)
	}
	noShift := cfg
	noShift.Shift = false
	for _, bl := range Blocks(noShift) {
		if bl.Shift != 0 {
			t.Errorf("no-shift variant has a shifted block: %+v", bl)
		}
	}
	if Timm(noShift) != nil || Timm(cfg) == nil {
		t.Error("only the shifted model is timm's")
	}
	// Without the relative bias the tables exist (timm's variables) but stay zero and frozen.
	noBias := cfg
	noBias.RelBias = false
	gb, _ := graphBackend()
	store := model.NewStore()
	if _, err := nn.Build(gb, store, nn.Swin(noBias.Swin()), shapes.Make(nn.DType, 1, 28, 28, 1)); err != nil {
		t.Fatal(err)
	}
	for _, bl := range blocks {
		v := store.GetVariable(BiasTablePath(bl.Stage, bl.Block))
		if v == nil || v.Trainable {
			t.Fatalf("table of block %d/%d: %v", bl.Stage, bl.Block, v)
		}
		vals, _ := tensors.CopyFlatData[float32](v.MustValue())
		for _, x := range vals {
			if x != 0 {
				t.Fatalf("table of block %d/%d is not zero", bl.Stage, bl.Block)
			}
		}
	}
	if p, _ := nn.CountParams(store); p != 95510-2*169*2-2*169*4 {
		t.Errorf("trainable params without bias %d", p)
	}
	if _, err := experiment.Lookup(Name); err != nil {
		t.Error(err)
	}
}

// TestBlockKinds checks the names the notebook's figures and tables use: a block is SW-MSA only
// when it really shifts on its map (the left attention panel was once titled W-MSA while it
// drew the shifted block).
func TestBlockKinds(t *testing.T) {
	cfg := ForBudget(lesson.Test).Run
	var kinds []string
	for _, b := range Blocks(cfg) {
		kinds = append(kinds, b.Kind())
	}
	// M = 7: stage 2's 7×7 map is one window, so its second block does not shift.
	if want := []string{"W-MSA", "SW-MSA", "W-MSA", "W-MSA"}; !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
	if got := Blocks(cfg)[1].Name(); got != "stage 1, block 1 (SW-MSA)" {
		t.Errorf("name %q", got)
	}
	want := []string{"patch embed", "stage 1 (W-MSA, SW-MSA)", "stage 2 (patch merging, W-MSA, W-MSA)"}
	if got := StageNames(cfg); !slices.Equal(got, want) {
		t.Errorf("stage names %q, want %q", got, want)
	}
	// M = 4: both stages pad and shift.
	small := cfg
	small.Window = 4
	if got := StageNames(small); got[2] != "stage 2 (patch merging, W-MSA, SW-MSA)" {
		t.Errorf("M = 4: %q", got)
	}
	noShift := cfg
	noShift.Shift = false
	for _, b := range Blocks(noShift) {
		if b.Kind() != "W-MSA" {
			t.Errorf("no-shift model: %s", b.Name())
		}
	}
}

// TestRunIDsKept pins the run ids of the configs users had before the lesson moved onto the kit
// (its own split fields became the embedded lesson.MNIST in the same JSON place, and its split
// rule was already the kit's): a finished run is found again.
func TestRunIDsKept(t *testing.T) {
	for _, c := range []struct {
		budget lesson.Budget
		ids    []string // main run, then the ablation arms
	}{
		{lesson.Test, []string{"c04e0c19dabd", "c04e0c19dabd", "d858a0645334", "bbae18e695ab"}},
		{lesson.Full, []string{"1cb85dde695c", "4d8821077f73", "76534b438ccc", "37c9697b7fa2"}},
	} {
		cfg := ForBudget(c.budget)
		configs := []RunConfig{cfg.Run}
		for _, a := range cfg.AblationArms() {
			configs = append(configs, a.Config)
		}
		for i, rc := range configs {
			id, err := experiment.ConfigID(rc)
			if err != nil {
				t.Fatal(err)
			}
			if id != c.ids[i] {
				t.Errorf("%s budget, config %d: id %s, want %s", c.budget, i, id, c.ids[i])
			}
		}
	}
}

func TestForBudget(t *testing.T) {
	for _, b := range lesson.Budgets {
		cfg := ForBudget(b)
		for _, a := range cfg.AblationArms() {
			if err := a.Config.Validate(); err != nil {
				t.Errorf("%s, %s: %v", b, a.Name, err)
			}
		}
		if err := cfg.Run.Validate(); err != nil {
			t.Errorf("%s main run: %v", b, err)
		}
		arms := cfg.AblationArms()
		// Each arm differs from the full Swin in exactly its switch.
		if arms[1].Config.Shift || !arms[1].Config.RelBias || !arms[2].Config.Shift || arms[2].Config.RelBias {
			t.Errorf("%s: arms %+v", b, arms)
		}
		if b != lesson.Full && arms[0].Config != cfg.Run {
			t.Errorf("%s: the ablation's full Swin must be the main run (reused)", b)
		}
	}
	bad := ForBudget(lesson.Test).Run
	bad.ValSize = 300
	if err := bad.Validate(); err == nil {
		t.Error("a validation size that is not a multiple of the evaluation batch was accepted")
	}
}

func TestCropTable(t *testing.T) {
	table := tensors.FromShape(shapes.Make(dtypes.Float32, 9, 2)) // M = 2, 2 heads
	tensors.MutableFlatData(table, func(f []float32) {
		for i := range f {
			f[i] = float32(i)
		}
	})
	same, err := CropTable(table, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := tensors.CopyFlatData[float32](same)
	for i, v := range a {
		if v != float32(i) {
			t.Fatalf("same window must keep the table: %v", a)
		}
	}
	big, err := CropTable(table, 2, 3) // 5×5: centre 3×3 is the old table, the rim repeats its edge
	if err != nil {
		t.Fatal(err)
	}
	g, _ := BiasGrid(big)
	if g[0][2][2] != 8 || g[0][0][0] != 0 || g[0][4][4] != 16 || g[1][1][3] != 5 {
		t.Errorf("cropped/extended grid %v", g[0])
	}
}

// TestTrainTestBudget trains the test-budget run and checks what the notebook shows: it learns
// (accuracy above chance), the mask removes all attention from masked pairs in the trained
// model, a query's attention drawn back on the map is a distribution, and evaluating with the
// same window through EvalAtWindow reproduces the run's accuracy.
func TestTrainTestBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for ~30 s")
	}
	b, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg := ForBudget(lesson.Test).Run
	tr, err := lesson.Train(context.Background(), Experiment, cfg, 0, lesson.Options{Dir: t.TempDir(), Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	acc := tr.Accuracy()
	t.Logf("test budget: %d steps, test accuracy %.4f, %.0f s", tr.Record.Step, acc, tr.Record.WallSeconds)
	// Chance is 0.10 ± 0.01 on 1,000 images; the test budget reaches about 0.23.
	if acc < 0.15 {
		t.Errorf("test accuracy %.4f after %d steps: not learning", acc, tr.Record.Step)
	}
	_, _, test, err := cfg.Splits()
	if err != nil {
		t.Fatal(err)
	}
	imgs, labels, err := lesson.Digits(test, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	an, err := Analyze(b, tr.Store, cfg, imgs, labels)
	if err != nil {
		t.Fatal(err)
	}
	st, err := an.MeasureAttention()
	if err != nil {
		t.Fatal(err)
	}
	if st.MaskedMass > 1e-6 || st.MaskedPairs != 4128 || st.RowSumErr > 1e-4 || st.PaddedBlocks != 0 {
		t.Errorf("attention stats %+v", st)
	}
	if d := an.Stages[2].Map.Shape().Dimensions; d[1] != 7 || d[3] != 64 || an.Stages[2].Name != StageNames(cfg)[2] {
		t.Errorf("stage 2 map %v %q", d, an.Stages[2].Name)
	}
	for _, k := range []int{0, 1} { // a token near the centre, in the W-MSA and the SW-MSA block
		qm, err := an.QueryMap(k, 0, 6, 7)
		if err != nil {
			t.Fatal(err)
		}
		sum, nonzero := 0.0, 0
		for _, row := range qm {
			for _, v := range row {
				sum += v
				if v > 0 {
					nonzero++
				}
			}
		}
		// The whole row of one window's attention, mapped back: sums to 1 over at most M² keys
		// (fewer when the mask cuts the shifted window into regions).
		if math.Abs(sum-1) > 1e-4 || nonzero > 49 || nonzero == 0 {
			t.Errorf("block %d: query map sums to %g over %d tokens", k, sum, nonzero)
		}
	}
	res, err := EvalAtWindow(context.Background(), b, tr.Store, cfg, cfg.Window, test, []TableInit{Resized, Cropped})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if math.Abs(r.Acc-acc) > 0.002 {
			t.Errorf("same window, table by %s: accuracy %.4f, the run measured %.4f", r.Init, r.Acc, acc)
		}
	}
}

// TestBiasIsTheOnlyPositionSignal: without the relative bias, window attention cannot tell
// where a token sits (a permutation of the window's tokens permutes the output, nothing else);
// with it, it can.
func TestBiasIsTheOnlyPositionSignal(t *testing.T) {
	b, err := graphBackend()
	if err != nil {
		t.Fatal(err)
	}
	st, err := MeasurePermutation(b, 4, 16, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", st)
	if st.Tokens != 16 || st.Scale < 0.1 || st.WithoutBias > 1e-5*st.Scale || st.WithBias < 0.05*st.Scale {
		t.Errorf("%+v", st)
	}
}
