package nn

import (
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// With the window as large as the map (M = 2·side − 1 covers it from every pixel), sliding-window
// attention is global attention with the same qkv and proj weights: the mask leaves exactly the
// map's pixels. It also has W-MSA's qkv and proj variables.
func TestSlidingWindowAttentionCoversGlobal(t *testing.T) {
	x := tensors.FromFlatDataAndDimensions(ramp(2*4*4*8), 2, 4, 4, 8)
	store := model.NewStore()
	out, err := model.CallOnceN(goBackend(t), store, func(s *model.Scope, x *graph.Node) []*graph.Node {
		local := SlidingWindowAttention(s, x, SlidingWindowAttentionConfig{NumHeads: 2, Window: 7, QKVBias: true})
		global := Attention(s.ResetVisited(), graph.Reshape(x, 2, 16, 8), AttentionConfig{NumHeads: 2, QKVBias: true})
		small := SlidingWindowAttention(s.ResetVisited(), x, SlidingWindowAttentionConfig{NumHeads: 2, Window: 3, QKVBias: true})
		m := func(v *graph.Node) *graph.Node { return graph.ReduceAllMax(graph.Abs(v)) }
		return []*graph.Node{m(graph.Sub(graph.Reshape(local, 2, 16, 8), global)), m(global), m(graph.Sub(small, local))}
	}, x)
	if err != nil {
		t.Fatal(err)
	}
	d, scale, small := out[0].Value().(float32), out[1].Value().(float32), out[2].Value().(float32)
	if scale < 0.01 || d > 1e-5*max(1, scale) || small < 1e-4 {
		t.Errorf("7×7 window vs global: %g (scale %g); 3×3 vs 7×7: %g", d, scale, small)
	}
	for _, p := range []string{"/qkv/weight", "/qkv/bias", "/proj/weight", "/proj/bias"} {
		if store.GetVariable(p) == nil {
			t.Errorf("no %s", p)
		}
	}
}

// The ACmix switches: the attention-only and conv-only modules create only their path's
// variables; the figure's fc has N times the code's weights and the same dep_conv.
func TestACmixSwitches(t *testing.T) {
	x := tensors.FromFlatDataAndDimensions(ramp(1*8*8*16), 1, 8, 8, 16)
	vars := func(cfg ACmixConfig) map[string][]int {
		store := model.NewStore()
		if _, err := model.CallOnce(goBackend(t), store, func(s *model.Scope, x *graph.Node) *graph.Node { return ACmix(s, x, cfg) }, x); err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		m := map[string][]int{}
		for v := range store.IterVariables() {
			if isModelVariable(v.Path()) {
				m[PathToKey(v.Path())] = v.Shape().Dimensions
			}
		}
		return m
	}
	both := vars(ACmixConfig{Out: 16, Heads: 4, KernelAtt: 5})
	att := vars(ACmixConfig{Out: 16, Heads: 4, KernelAtt: 5, Paths: ACmixAttentionOnly})
	conv := vars(ACmixConfig{Out: 16, Heads: 4, KernelAtt: 5, Paths: ACmixConvOnly})
	fig := vars(ACmixConfig{Out: 16, Heads: 4, KernelAtt: 5, FigureFC: true})
	if _, ok := att["fc.weight"]; ok || att["conv_p.weight"] == nil || att["rate2"] != nil {
		t.Errorf("attention-only: %v", att)
	}
	if _, ok := conv["conv_p.weight"]; ok || conv["fc.weight"] == nil || conv["rate1"] != nil {
		t.Errorf("conv-only: %v", conv)
	}
	if len(both) != len(att)+len(conv)-3*2 { // conv1..3 weight and bias are shared
		t.Errorf("%d variables in both, %d attention, %d conv", len(both), len(att), len(conv))
	}
	if f, c := fig["fc.weight"], both["fc.weight"]; f[0] != 4*c[0] || f[1] != c[1] {
		t.Errorf("figure fc %v vs code fc %v", f, c)
	}
	if f, c := fig["dep_conv.weight"], both["dep_conv.weight"]; len(f) != 4 || f[0] != c[0] || f[1] != c[1] {
		t.Errorf("figure dep_conv %v vs code %v", f, c)
	}
}
