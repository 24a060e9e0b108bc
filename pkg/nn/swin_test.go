package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
)

// TestShiftMaskMatchesTimm compares the Go shifted-window mask with timm's attn_mask (the
// window_attention_d24_h3_w3_mask fixture runs attention with the Go one).
func TestShiftMaskMatchesTimm(t *testing.T) {
	f := loadFixture(t, "swin/window_attention_d24_h3_w3_mask")
	mask := ShiftedWindowMask(6, 6, [2]int{3, 3}, [2]int{1, 1})
	nntest.AssertClose(t, "shift mask vs timm's attn_mask", tensors.FromFlatDataAndDimensions(mask, 4, 9, 9),
		f.tensor(t, "__mask__"), 0)
}

// TestWindowPartitionRoundTrip checks that partition then reverse is the identity and that a
// window holds the expected M×M block of the map.
func TestWindowPartitionRoundTrip(t *testing.T) {
	const h, w, c = 6, 9, 2
	data := make([]float32, 2*h*w*c)
	for i := range data {
		data[i] = float32(i)
	}
	win := [2]int{3, 3}
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		exec, err := graph.NewExec(b.Backend, func(x *graph.Node) (*graph.Node, *graph.Node) {
			p := WindowPartition(x, win)
			return p, WindowReverse(p, win, h, w)
		})
		if err != nil {
			t.Fatal(err)
		}
		outs, err := exec.Call(tensors.FromFlatDataAndDimensions(data, 2, h, w, c))
		if err != nil {
			t.Fatal(err)
		}
		parts, back := outs[0], outs[1]
		if d := parts.Shape().Dimensions; d[0] != 2*6 || d[1] != 9 || d[2] != c {
			t.Fatalf("partition shape %v, want [12 9 2]", d)
		}
		nntest.AssertClose(t, "reverse(partition(x))", back, tensors.FromFlatDataAndDimensions(data, 2, h, w, c), 0)
		// Window 4 of image 0 is the second window of the second window-row: rows 3..5, cols 3..5.
		p := tensors.MustCopyFlatData[float32](parts)
		for k := range 9 {
			y, x := 3+k/3, 3+k%3
			if got, want := p[(4*9+k)*c], data[(y*w+x)*c]; got != want {
				t.Fatalf("window 4 token %d = %g, want x[%d,%d] = %g", k, got, y, x, want)
			}
		}
	})
}

// TestRelativePositionIndex checks the index on a 2×2 window by hand and that it never
// collides: two (query, key) pairs share an index exactly when their offsets are equal.
func TestRelativePositionIndex(t *testing.T) {
	// timm's get_relative_position_index(2, 2).
	want := []int32{4, 3, 1, 0, 5, 4, 2, 1, 7, 6, 4, 3, 8, 7, 5, 4}
	got := RelativePositionIndex([2]int{2, 2})
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("index %v, want %v", got, want)
		}
	}
	win := [2]int{3, 4}
	idx := RelativePositionIndex(win)
	n := win[0] * win[1]
	seen := map[int32][2]int{}
	for q := range n {
		for k := range n {
			off := [2]int{q/win[1] - k/win[1], q%win[1] - k%win[1]}
			if prev, ok := seen[idx[q*n+k]]; ok && prev != off {
				t.Fatalf("index %d used by offsets %v and %v", idx[q*n+k], prev, off)
			}
			seen[idx[q*n+k]] = off
		}
	}
	if len(seen) != (2*win[0]-1)*(2*win[1]-1) {
		t.Errorf("%d distinct indices, want the table size %d", len(seen), (2*win[0]-1)*(2*win[1]-1))
	}
}

// TestWMSAEqualsMSAWithOneWindow checks the lesson's claim: when a single window covers the
// whole map and the relative position bias is zero, window attention is plain multi-head
// self-attention over all tokens.
func TestWMSAEqualsMSAWithOneWindow(t *testing.T) {
	const h, w, c, heads = 4, 5, 12, 3
	r := rand.New(rand.NewPCG(7, 7))
	x := make([]float32, 2*h*w*c)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		store := model.NewStore()
		if err := store.SetRNGStateFromSeed(5); err != nil {
			t.Fatal(err)
		}
		msa := func(scope *model.Scope, x *graph.Node) *graph.Node {
			tokens := graph.Reshape(x, 2, h*w, c)
			return Attention(scope, tokens, AttentionConfig{NumHeads: heads, QKVBias: true})
		}
		got := func(fn ModelFn) *tensors.Tensor {
			exec, err := model.NewExec(b.Backend, store, fn)
			if err != nil {
				t.Fatal(err)
			}
			y, err := exec.Call1(tensors.FromFlatDataAndDimensions(x, 2, h, w, c))
			if err != nil {
				t.Fatal(err)
			}
			return y
		}
		want := got(msa) // creates qkv and proj at the root scope
		// Zero bias table: nothing but the window distinguishes the two.
		table := tensors.FromShape(shapes.Make(dtypes.Float32, (2*h-1)*(2*w-1), heads))
		if _, err := store.RootScope().CreateVariable("relative_position_bias_table", table); err != nil {
			t.Fatal(err)
		}
		wmsa := got(func(scope *model.Scope, x *graph.Node) *graph.Node {
			win := [2]int{h, w}
			return WindowAttention(scope, WindowPartition(x, win), nil, WindowAttentionConfig{NumHeads: heads, WindowSize: win, QKVBias: true})
		})
		nntest.AssertClose(t, "W-MSA (one window) vs MSA", wmsa, want, 1e-5)
		if nntest.MaxAbs(want) < 0.1 {
			t.Fatalf("outputs too small to compare: %g", nntest.MaxAbs(want))
		}
	})
}

// TestAttentionCostFormulas checks the paper's cost formulas against the multiply-adds counted
// in the graphs of MSA and W-MSA (CountMACs counts the projections and both attention products).
func TestAttentionCostFormulas(t *testing.T) {
	const h, w, c, m, heads = 8, 8, 16, 4, 2
	in := shapes.Make(dtypes.Float32, 1, h, w, c)
	msa := func(scope *model.Scope, x *graph.Node) *graph.Node {
		return Attention(scope, graph.Reshape(x, 1, h*w, c), AttentionConfig{NumHeads: heads, QKVBias: true})
	}
	wmsa := func(scope *model.Scope, x *graph.Node) *graph.Node {
		return WindowAttention(scope, WindowPartition(x, [2]int{m, m}), nil,
			WindowAttentionConfig{NumHeads: heads, WindowSize: [2]int{m, m}, QKVBias: true})
	}
	for _, c2 := range []struct {
		name string
		fn   ModelFn
		want int64
	}{
		{"MSA", msa, MSACost(h, w, c)},
		{"W-MSA", wmsa, WMSACost(h, w, c, m)},
	} {
		g, err := Build(goBackend(t), model.NewStore(), c2.fn, in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := CountMACs(g)
		if err != nil {
			t.Fatal(err)
		}
		if got != c2.want {
			t.Errorf("%s: graph has %d multiply-adds, formula says %d", c2.name, got, c2.want)
		}
	}
	// Swin-T's first stage (56×56, C = 96, M = 7): 2.00G vs 0.145G multiply-adds, 13.8× less.
	if r := float64(MSACost(56, 56, 96)) / float64(WMSACost(56, 56, 96, 7)); r < 13.7 || r > 13.9 {
		t.Errorf("MSA/W-MSA cost ratio at 56×56 = %.2f, want 13.8", r)
	}
}

// TestShiftedWindowMaskRegions checks the mask of the paper's Fig. 4 setting by hand: an 8×8
// map, M = 4, s = 2. The top-left window holds one region (no masking), the bottom-right one
// four regions.
func TestShiftedWindowMaskRegions(t *testing.T) {
	mask := ShiftedWindowMask(8, 8, [2]int{4, 4}, [2]int{2, 2})
	const n = 16
	count := func(win int) int {
		k := 0
		for _, v := range mask[win*n*n : (win+1)*n*n] {
			if v != 0 {
				k++
			}
		}
		return k
	}
	if got := count(0); got != 0 {
		t.Errorf("window 0 has %d masked pairs, want 0", got)
	}
	// Bottom-right: four 2×2 regions of 4 tokens; each token sees its 4, masks the other 12.
	if got := count(3); got != 16*12 {
		t.Errorf("window 3 has %d masked pairs, want %d", got, 16*12)
	}
	// Top-right: two 4×2 regions of 8 tokens.
	if got := count(1); got != 16*8 {
		t.Errorf("window 1 has %d masked pairs, want %d", got, 16*8)
	}
	if ShiftedWindowMask(8, 8, [2]int{4, 4}, [2]int{0, 0}) != nil {
		t.Error("unshifted windows need no mask")
	}
}

func TestResizeRelPosBiasTableMatchesPyTorch(t *testing.T) {
	f := loadFixture(t, "swin/relpos_resize")
	for _, w := range []int{7, 2} {
		got, err := ResizeRelPosBiasTable(f.Tensors["__input__"], [2]int{4, 4}, [2]int{w, w})
		if err != nil {
			t.Fatal(err)
		}
		nntest.AssertClose(t, fmt.Sprintf("table 4→%d", w), got, f.Tensors[fmt.Sprintf("__output_%d__", w)], 1e-5)
	}
	if _, err := ResizeRelPosBiasTable(f.Tensors["__input__"], [2]int{3, 3}, [2]int{7, 7}); err == nil {
		t.Error("a table of the wrong size must be rejected")
	}
}

// TestPaperCosts checks the multiply-adds counted in the built graphs against the figures the
// papers and timm report at 224×224: Swin-T 4.5G MACs and 28.3M parameters (Liu et al.,
// Table 1), PoolFormer-S12 1.8G and 11.9M (Yu et al.), ViT-B/16 17.6G and 86.6M.
func TestPaperCosts(t *testing.T) {
	in := shapes.Make(dtypes.Float32, 1, 224, 224, 3)
	for _, c := range []struct {
		name           string
		fn             ModelFn
		macs, params   float64 // paper, in G and M
		macTol, parTol float64
	}{
		{"Swin-T", Swin(SwinTiny224()), 4.5, 28.3, 0.05, 0.05},
		{"PoolFormer-S12", PoolFormer(PoolFormerS12()), 1.8, 11.9, 0.05, 0.05},
		{"ViT-B/16", ViT(ViTBase224()), 17.6, 86.6, 0.05, 0.05},
	} {
		cost, err := Measure(goBackend(t), c.fn, in)
		if err != nil {
			t.Fatal(err)
		}
		g, m := float64(cost.MACs)/1e9, float64(cost.Params)/1e6
		t.Logf("%s: %.3fG MACs, %.2fM params (paper: %.1fG, %.1fM)", c.name, g, m, c.macs, c.params)
		if d := g - c.macs; d > c.macTol || d < -c.macTol {
			t.Errorf("%s: %.3fG MACs, paper %.1fG", c.name, g, c.macs)
		}
		if d := m - c.params; d > c.parTol || d < -c.parTol {
			t.Errorf("%s: %.2fM params, paper %.1fM", c.name, m, c.params)
		}
	}
}
