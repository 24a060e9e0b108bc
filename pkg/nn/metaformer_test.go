package nn

import (
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// TestTokenMixers builds every MetaFormer mixer in a PoolFormer block on a [2, 7, 7, 32] map and
// checks its variables, and that identity and pooling keep the block's PoolFormer form.
func TestTokenMixers(t *testing.T) {
	x := tensors.FromFlatDataAndDimensions(ramp(2*7*7*32), 2, 7, 7, 32)
	// The mixer's own parameters: pooling and identity none, a depthwise 3×3 C·9 + C, attention
	// (one head of 32) qkv 3C·C + proj C·C + C, the spatial MLP (HW)² + HW.
	want := map[string]int64{MixerPooling: 0, MixerIdentity: 0, MixerDepthwise: 32*9 + 32, MixerAttention: 3*32*32 + 32*32 + 32,
		MixerSpatialMLP: 49*49 + 49}
	base := int64(0)
	outs := map[string][]float32{}
	for _, name := range TokenMixers {
		store := model.NewStore()
		out, err := model.CallOnce(goBackend(t), store, func(s *model.Scope, x *graph.Node) *graph.Node {
			return PoolFormerBlock(s, x, PoolFormerBlockConfig{TokenMixer: name})
		}, x)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		params, _ := CountParams(store)
		if name == MixerPooling {
			base = params
		}
		if got := params - base; got != want[name] {
			t.Errorf("%s: the mixer has %d parameters, want %d", name, got, want[name])
		}
		outs[name], _ = tensors.CopyFlatData[float32](out)
	}
	same := func(a, b []float32) bool {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	if same(outs[MixerPooling], outs[MixerIdentity]) || same(outs[MixerPooling], outs[MixerSpatialMLP]) {
		t.Error("different mixers gave the same block output")
	}
	if ValidateTokenMixer("mlp") == nil || ValidateTokenMixer("") != nil {
		t.Error("ValidateTokenMixer")
	}
}

// The spatial MLP mixes positions with one fixed matrix: it is linear in x (up to its bias) and
// does not commute with a shift of the map, unlike pooling.
func TestSpatialMLPIsAFixedMatrix(t *testing.T) {
	x1 := tensors.FromFlatDataAndDimensions(ramp(1*5*5*4), 1, 5, 5, 4)
	out, err := model.CallOnceN(goBackend(t), model.NewStore(), func(s *model.Scope, x *graph.Node) []*graph.Node {
		mix := func(v *graph.Node) *graph.Node { return TokenMixer(s.ResetVisited(), v, MixerSpatialMLP, 0) }
		zero := mix(graph.ZerosLike(x)) // the bias alone
		x2 := graph.Mul(x, x)
		lin := graph.Sub(graph.Add(graph.Sub(mix(x), zero), graph.Sub(mix(x2), zero)), graph.Sub(mix(graph.Add(x, x2)), zero))
		shift := func(v *graph.Node) *graph.Node { return Roll(v, 2, 1) }
		pool := graph.Sub(shift(PoolingMixer(x, 3)), PoolingMixer(shift(x), 3))
		// Inside the map (away from the wrap-around column) pooling commutes with the shift.
		inner := func(v *graph.Node) *graph.Node {
			return graph.Slice(v, graph.AxisRange(), graph.AxisRange(1, 4), graph.AxisRange(2, 4), graph.AxisRange())
		}
		equiv := graph.Sub(inner(shift(mix(x))), inner(mix(shift(x))))
		m := func(v *graph.Node) *graph.Node { return graph.ReduceAllMax(graph.Abs(v)) }
		return []*graph.Node{m(lin), m(inner(pool)), m(equiv)}
	}, x1)
	if err != nil {
		t.Fatal(err)
	}
	lin, pool, equiv := out[0].Value().(float32), out[1].Value().(float32), out[2].Value().(float32)
	if lin > 1e-5 || pool > 1e-6 || equiv < 1e-2 {
		t.Errorf("linearity error %g, pooling shift error %g, spatial MLP shift error %g", lin, pool, equiv)
	}
}
