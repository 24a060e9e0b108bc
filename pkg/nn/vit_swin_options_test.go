package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
)

// These tests check the switches and intermediates of ViTForward and SwinForward that have no
// timm counterpart to compare with (the ones timm has are in fixtureCases). They run on the
// pure-Go backend: they are about which values reach which output, not about numerics.

// seededStore returns a store whose variables are initialized from a fixed seed.
func seededStore(t *testing.T, seed int64) *model.Store {
	t.Helper()
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(seed); err != nil {
		t.Fatal(err)
	}
	return store
}

// randImages returns b random images [b, h, w, c] with values in [−1, 1).
func randImages(seed uint64, b, h, w, c int) *tensors.Tensor {
	return randTensor(rand.New(rand.NewPCG(seed, seed)), b, h, w, c)
}

// withPixel returns a copy of images [1, H, W, C] with pixel (y, x) of every channel raised by 3.
func withPixel(t *testing.T, images *tensors.Tensor, y, x int) *tensors.Tensor {
	t.Helper()
	d := images.Shape().Dimensions
	v := tensors.MustCopyFlatData[float32](images)
	for c := range d[3] {
		v[(y*d[2]+x)*d[3]+c] += 3
	}
	return tensors.FromFlatDataAndDimensions(v, d...)
}

// changedCells runs fn on a and b with the same variables and returns the h×w cells of its
// first output (a map [1, h, w, C]) whose features differ. fn returns the model's logits last:
// the pure-Go backend needs an output built after the model's last variable.
func changedCells(t *testing.T, store *model.Store, fn func(*model.Scope, *graph.Node) []*graph.Node, a, b *tensors.Tensor) [][]bool {
	t.Helper()
	exec, err := model.NewExec(goBackend(t), store, fn)
	if err != nil {
		t.Fatal(err)
	}
	var shape []int
	run := func(x *tensors.Tensor) []float32 {
		outs, err := exec.Call(x)
		if err != nil {
			t.Fatal(err)
		}
		y := outs[0]
		shape = y.Shape().Dimensions
		return tensors.MustCopyFlatData[float32](y)
	}
	ya, yb := run(a), run(b)
	h, w, c := shape[1], shape[2], shape[3]
	out := make([][]bool, h)
	for i := range h {
		out[i] = make([]bool, w)
		for j := range w {
			for k := range c {
				if math.Abs(float64(ya[(i*w+j)*c+k]-yb[(i*w+j)*c+k])) > 1e-5 {
					out[i][j] = true
				}
			}
		}
	}
	return out
}

// cellsWhere lists the cells that are set.
func cellsWhere(m [][]bool) [][2]int {
	var out [][2]int
	for i, row := range m {
		for j, v := range row {
			if v {
				out = append(out, [2]int{i, j})
			}
		}
	}
	return out
}

// TestViTStemsReceptiveField checks what each stem's token sees: raising pixel (5, 5) of a
// 16×16 image with p = 4 changes one token with the patchify stem (patches don't overlap) and
// the four tokens whose windows hold it with the overlapping (8×8 windows, stride 4) and conv
// stems, and each stem gives the same 4×4 token grid.
func TestViTStemsReceptiveField(t *testing.T) {
	base := ViTConfig{ImageSize: 16, InChans: 2, PatchSize: 4, EmbedDim: 8, Depth: 0, NumHeads: 2, QKVBias: true,
		ClassToken: true, Pool: ViTPoolToken}
	x := randImages(3, 1, 16, 16, 2)
	for _, c := range []struct {
		stem   string
		tokens [][2]int
		params int64 // the stem's parameters
	}{
		{ViTStemPatch, [][2]int{{1, 1}}, 8*2*4*4 + 8},
		{ViTStemOverlap, [][2]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}}, 8*2*8*8 + 8},
		// conv: 3×3/2 to 4 channels, ReLU, 3×3/2 to 8: token i sees rows 4i−3 … 4i+3.
		{ViTStemConv, [][2]int{{1, 1}, {1, 2}, {2, 1}, {2, 2}}, (4*2*9 + 4) + (8*4*9 + 8)},
	} {
		cfg := base
		cfg.Stem = c.stem
		stem := func(scope *model.Scope, x *graph.Node) []*graph.Node {
			o := ViTForward(scope, x, cfg, ViTOptions{})
			return []*graph.Node{o.Stem, o.Logits}
		}
		store := seededStore(t, 1)
		got := cellsWhere(changedCells(t, store, stem, x, withPixel(t, x, 5, 5)))
		if len(got) != len(c.tokens) {
			t.Errorf("%s stem: pixel (5, 5) changes tokens %v, want %v", c.stem, got, c.tokens)
		} else {
			for i := range got {
				if got[i] != c.tokens[i] {
					t.Errorf("%s stem: pixel (5, 5) changes tokens %v, want %v", c.stem, got, c.tokens)
					break
				}
			}
		}
		stemParams := int64(0)
		for v := range store.IterVariables() {
			if len(v.Path()) > len("/patch_embed/") && v.Path()[:len("/patch_embed/")] == "/patch_embed/" {
				stemParams += int64(v.Shape().Size())
			}
		}
		if stemParams != c.params {
			t.Errorf("%s stem: %d parameters, want %d", c.stem, stemParams, c.params)
		}
	}
	bad := base
	bad.Stem, bad.PatchSize, bad.ImageSize = ViTStemConv, 3, 15
	if bad.Validate() == nil {
		t.Error("a conv stem with p = 3 (not a power of two) must be rejected")
	}
}

// vitTestConfig is a small ViT with a class token for the intermediates tests.
var vitTestConfig = ViTConfig{ImageSize: 8, InChans: 1, PatchSize: 4, NumClasses: 3, EmbedDim: 8, Depth: 2,
	NumHeads: 2, QKVBias: true, ClassToken: true, Pool: ViTPoolToken}

// TestViTOutputs checks that ViTOutput's intermediates are the values the model computes:
// Tokens = [class; flattened Stem] + Pos, each block maps the previous output, every attention
// row is a distribution over the 1 + 4 tokens, and Pooled/Logits are the class token's final
// LayerNorm and the head on it.
func TestViTOutputs(t *testing.T) {
	cfg := vitTestConfig
	store := seededStore(t, 2)
	x := randImages(4, 2, 8, 8, 1)
	outs := runModel(t, goTestBackend(t), store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
		o := ViTForward(scope, x, cfg, ViTOptions{})
		g := x.Graph()
		cls := scope.GetVariable("cls_token").NodeValue(g)
		flat := graph.Reshape(o.Stem, 2, 4, 8)
		want := graph.Add(graph.Concatenate([]*graph.Node{graph.BroadcastToDims(cls, 2, 1, 8), flat}, 1), o.Pos)
		block1 := Block(scope.At("blocks").At("1"), o.Blocks[0], cfg.Block(1))
		pooled := graph.Reshape(graph.Slice(LayerNorm(scope.At("norm"), o.Blocks[1], 1e-6),
			graph.AxisRange(), graph.AxisElem(0)), 2, 8)
		head := Linear(scope.At("head"), o.Pooled, 3, true)
		rowSums := graph.ReduceSum(graph.Concatenate(o.Attn, 1), -1) // [2, 2·heads, 5]
		return []*graph.Node{o.Tokens, want, o.Blocks[1], block1, o.Pooled, pooled, o.Logits, head, rowSums}
	}, x)
	for i, what := range []string{"Tokens", "Blocks[1]", "Pooled", "Logits"} {
		nntest.AssertClose(t, "ViTOutput."+what, outs[2*i], outs[2*i+1], 1e-5)
	}
	for _, s := range tensors.MustCopyFlatData[float32](outs[8]) {
		if math.Abs(float64(s)-1) > 1e-5 {
			t.Fatalf("an attention row sums to %g, want 1", s)
		}
	}
}

// TestViTPosOverride checks ViTOptions.Pos: the learned embedding passed back in changes
// nothing; zeros give exactly the model without a position embedding (ViTPosNone) on the same
// weights, which differs from the learned one.
func TestViTPosOverride(t *testing.T) {
	cfg := vitTestConfig
	noPos := cfg
	noPos.PosEmbed = ViTPosNone
	store := seededStore(t, 3)
	x := randImages(5, 2, 8, 8, 1)
	outs := runModel(t, goTestBackend(t), store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
		learned := ViTForward(scope, x, cfg, ViTOptions{})
		again := ViTForward(scope.ResetVisited(), x, cfg, ViTOptions{Pos: learned.Pos})
		zeros := ViTForward(scope.ResetVisited(), x, cfg, ViTOptions{Pos: graph.ZerosLike(learned.Pos)})
		none := ViTForward(scope.ResetVisited(), x, noPos, ViTOptions{})
		if none.Pos != nil {
			t.Error("ViTPosNone: Pos should be nil")
		}
		return []*graph.Node{learned.Logits, again.Logits, zeros.Logits, none.Logits}
	}, x)
	nntest.AssertClose(t, "learned pos passed as Pos", outs[1], outs[0], 0)
	nntest.AssertClose(t, "zero Pos vs pos_embed none", outs[2], outs[3], 0)
	if d := maxDiff(flat(outs[0]), flat(outs[3])); d < 1e-4 {
		t.Errorf("the position embedding changes the logits by only %g", d)
	}
}

// swinTestConfig is a small Swin: 16×16 images, 2×2 patches → an 8×8 map of 2×2 windows of
// M = 4 (stage 0), then a 4×4 map (stage 1, one window).
var swinTestConfig = SwinConfig{InChans: 1, NumClasses: 3, PatchSize: 2, EmbedDim: 8, Depths: []int{2, 2},
	NumHeads: []int{2, 2}, WindowSize: 4, QKVBias: true}

// TestSwinNoShiftKeepsWindowsApart checks the paper's reason for shifting: without it,
// raising a pixel of the top-left window changes stage 0's output only inside that 4×4
// window; with the shifted second block it reaches tokens of other windows.
func TestSwinNoShiftKeepsWindowsApart(t *testing.T) {
	x := randImages(6, 1, 16, 16, 1)
	moved := withPixel(t, x, 5, 5) // token (2, 2), inside window (0, 0)
	for _, noShift := range []bool{true, false} {
		cfg := swinTestConfig
		cfg.NoShift = noShift
		stage0 := func(scope *model.Scope, x *graph.Node) []*graph.Node {
			o := SwinForward(scope, x, cfg)
			return []*graph.Node{o.Stages[0], o.Logits}
		}
		changed := cellsWhere(changedCells(t, seededStore(t, 7), stage0, x, moved))
		outside := 0
		for _, c := range changed {
			if c[0] >= 4 || c[1] >= 4 {
				outside++
			}
		}
		switch {
		case len(changed) == 0:
			t.Errorf("NoShift=%v: the pixel changes nothing", noShift)
		case noShift && outside > 0:
			t.Errorf("NoShift: %d tokens outside the pixel's window changed: %v", outside, changed)
		case !noShift && outside == 0:
			t.Errorf("shifted windows: no token outside the pixel's window changed (%v)", changed)
		}
	}
}

// isBiasTable tells whether a variable path or state_dict key is a relative position bias table.
func isBiasTable(name string) bool {
	return strings.HasSuffix(name, "relative_position_bias_table")
}

// TestSwinNoRelPosBias checks the "no pos." switch: the tables stay (timm's state_dict keys),
// zero and frozen, so the trainable count drops by exactly their size; the output equals the
// model with bias on the same weights with zero tables, and differs from it with random ones.
func TestSwinNoRelPosBias(t *testing.T) {
	noBias := swinTestConfig
	noBias.NoRelPosBias = true
	x := randImages(8, 2, 16, 16, 1)
	without := seededStore(t, 9)
	got := runModel(t, goTestBackend(t), without, Swin(noBias), x)[0]
	trainWithout, frozen := CountParams(without)
	trainWith := buildCount(t, Swin(swinTestConfig), 1, 16, 16, 1)
	// Stage 0: 4×4 windows, table (2·4−1)² × 2 heads; stage 1: the 4×4 map is the window.
	tables := int64(2 * 2 * 49 * 2)
	if trainWith-trainWithout != tables || frozen != tables {
		t.Errorf("trainable %d → %d, frozen %d: want the %d table entries moved to frozen", trainWith, trainWithout, frozen, tables)
	}
	for v := range without.IterVariables() {
		if isBiasTable(v.Path()) && (v.Trainable || nntest.MaxAbs(v.MustValue()) != 0) {
			t.Errorf("%s: trainable=%v, max |v| = %g; want frozen zeros", v.Path(), v.Trainable, nntest.MaxAbs(v.MustValue()))
		}
	}
	withTables := func(table func(shapes.Shape) *tensors.Tensor) *tensors.Tensor {
		sd, err := StateDict(without)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range sd {
			if isBiasTable(k) {
				sd[k] = table(v.Shape())
			}
		}
		store := model.NewStore()
		setVars(t, store, sd)
		return runModel(t, goTestBackend(t), store, Swin(swinTestConfig), x)[0]
	}
	zero := withTables(func(s shapes.Shape) *tensors.Tensor { return tensors.FromShape(s) })
	nntest.AssertClose(t, "no bias vs bias with zero tables", got, zero, 1e-6)
	r := rand.New(rand.NewPCG(12, 12))
	random := withTables(func(s shapes.Shape) *tensors.Tensor { return randTensor(r, s.Dimensions...) })
	if d := maxDiff(flat(got), flat(random)); d < 1e-3 {
		t.Errorf("a random relative position bias changes the logits by only %g", d)
	}
}

// TestSwinOutputs checks SwinOutput's intermediates: each stage's map is its last block's
// output with the expected shape, attention is per window (stage 0: 2·4 windows of 16 tokens;
// stage 1: one 16-token window), rows are distributions, and Pooled/Logits are the mean of the
// final LayerNorm and the head on it.
func TestSwinOutputs(t *testing.T) {
	cfg := swinTestConfig
	store := seededStore(t, 10)
	x := randImages(11, 2, 16, 16, 1)
	var shapes [][]int
	outs := runModel(t, goTestBackend(t), store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
		o := SwinForward(scope, x, cfg)
		shapes = nil
		for _, n := range []*graph.Node{o.Stem, o.Stages[0], o.Stages[1], o.Attn[0][1], o.Attn[1][0]} {
			shapes = append(shapes, n.Shape().Dimensions)
		}
		pooled := GlobalAvgPool2d(LayerNorm(scope.At("norm"), o.Stages[1], 1e-5))
		head := Linear(scope.At("head").At("fc"), o.Pooled, 3, true)
		var sums []*graph.Node
		for _, stage := range o.Attn {
			for _, a := range stage {
				sums = append(sums, graph.Reshape(graph.ReduceSum(a, -1), -1))
			}
		}
		return []*graph.Node{o.Stages[0], o.Blocks[0][1], o.Stages[1], o.Blocks[1][1], o.Pooled, pooled, o.Logits, head,
			graph.Concatenate(sums, 0)}
	}, x)
	want := [][]int{{2, 8, 8, 8}, {2, 8, 8, 8}, {2, 4, 4, 16}, {2 * 4, 2, 16, 16}, {2, 2, 16, 16}}
	for i := range want {
		if len(shapes[i]) != len(want[i]) {
			t.Fatalf("shape %d: %v, want %v", i, shapes[i], want[i])
		}
		for j := range want[i] {
			if shapes[i][j] != want[i][j] {
				t.Errorf("shape %d: %v, want %v", i, shapes[i], want[i])
				break
			}
		}
	}
	for i, what := range []string{"Stages[0]", "Stages[1]", "Pooled", "Logits"} {
		nntest.AssertClose(t, "SwinOutput."+what, outs[2*i], outs[2*i+1], 1e-5)
	}
	for _, s := range tensors.MustCopyFlatData[float32](outs[8]) {
		if math.Abs(float64(s)-1) > 1e-5 {
			t.Fatalf("an attention row sums to %g, want 1", s)
		}
	}
}
