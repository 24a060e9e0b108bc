package nn

import (
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// ramp is a fixed, irregular input pattern in [−1, 1].
func ramp(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((i*7919)%211-105) / 105
	}
	return v
}

// TestBasicBlockVariants checks the pre-activation and no-shortcut switches: the block is the
// sum of its parts (with a ReLU after it only in the post-activation block), the variants read
// the variables their papers name, and the no-shortcut block has no projection.
func TestBasicBlockVariants(t *testing.T) {
	b := goBackend(t)
	x := tensors.FromFlatDataAndDimensions(ramp(2*6*6*4), 2, 6, 6, 4)
	for _, cfg := range []BasicBlockConfig{
		{Planes: 4}, {Planes: 8, Stride: 2}, {Planes: 4, PreAct: true}, {Planes: 8, Stride: 2, PreAct: true},
		{Planes: 4, NoShortcut: true}, {Planes: 8, Stride: 2, NoShortcut: true},
	} {
		store := model.NewStore()
		exec, err := model.NewExec(b, store, func(s *model.Scope, x *graph.Node) []*graph.Node {
			blk := BasicBlock(s, x, cfg)
			r, sc := BasicBlockParts(s.ResetVisited(), x, cfg)
			sum := r
			if sc != nil {
				sum = graph.Add(r, sc)
			}
			if !cfg.PreAct {
				sum = ReLU(sum)
			}
			return []*graph.Node{graph.ReduceAllMax(graph.Abs(graph.Sub(blk, sum))), graph.ReduceAllMax(graph.Abs(r))}
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Call(x)
		if err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		if d, s := out[0].Value().(float32), out[1].Value().(float32); d != 0 || s < 0.01 {
			t.Errorf("%+v: block vs parts differ by %g (residual up to %g)", cfg, d, s)
		}
		names := map[string]bool{}
		for v := range store.IterVariables() {
			names[PathToKey(v.Path())] = true
		}
		proj := cfg.Stride == 2 && !cfg.NoShortcut
		if names["downsample.0.weight"] != proj || names["downsample.1.weight"] != (proj && !cfg.PreAct) {
			t.Errorf("%+v: projection variables %v", cfg, names)
		}
		// Pre-activation normalises the block's input (bn1 over its 4 channels).
		if cfg.PreAct {
			if v := store.GetVariable("/bn1/weight"); v == nil || v.Shape().Dimensions[0] != 4 {
				t.Errorf("%+v: bn1 is not on the input", cfg)
			}
		}
		exec.Finalize()
		store.Finalize()
	}
}

// A pre-activation ResNet ends with a BN + ReLU; the switches refuse bottlenecks.
func TestResNetVariants(t *testing.T) {
	cfg := ResNetTiny28()
	cfg.PreAct = true
	store := model.NewStore()
	if _, err := Build(goBackend(t), store, ResNet(cfg), shapeOf(1, 28, 28, 1)); err != nil {
		t.Fatal(err)
	}
	if store.GetVariable("/norm/weight") == nil || store.GetVariable("/layer2/0/downsample/1/weight") != nil {
		t.Error("pre-activation ResNet: want a final norm and projection shortcuts without BN")
	}
	cfg = ResNetTiny28()
	cfg.NoShortcut = true
	store = model.NewStore()
	if _, err := Build(goBackend(t), store, ResNet(cfg), shapeOf(1, 28, 28, 1)); err != nil {
		t.Fatal(err)
	}
	if store.GetVariable("/layer2/0/downsample/0/weight") != nil {
		t.Error("a ResNet without shortcuts has a projection")
	}
	bad := ResNeXtTiny28()
	bad.PreAct = true
	if _, err := Build(goBackend(t), model.NewStore(), ResNet(bad), shapeOf(1, 28, 28, 1)); err == nil {
		t.Error("pre-activation bottlenecks accepted")
	}
}

func TestShortcutOptionA(t *testing.T) {
	x := tensors.FromFlatDataAndDimensions(ramp(1*7*7*2), 1, 7, 7, 2)
	out, err := model.CallOnce(goBackend(t), model.NewStore(), func(_ *model.Scope, x *graph.Node) *graph.Node {
		return ShortcutOptionA(x, 5, 2)
	}, x)
	if err != nil {
		t.Fatal(err)
	}
	if d := out.Shape().Dimensions; d[1] != 4 || d[2] != 4 || d[3] != 5 {
		t.Fatalf("shape %v, want [1 4 4 5]", d)
	}
	in, got := x.Value().([][][][]float32), out.Value().([][][][]float32)
	if got[0][1][2][1] != in[0][2][4][1] || got[0][3][3][4] != 0 {
		t.Errorf("subsampling or zero channels wrong: %v", got[0][1][2])
	}
}

func TestDenseBlockConcatenates(t *testing.T) {
	x := tensors.FromFlatDataAndDimensions(ramp(2*5*5*6), 2, 5, 5, 6)
	store := model.NewStore()
	out, err := model.CallOnce(goBackend(t), store, func(s *model.Scope, x *graph.Node) *graph.Node {
		return DenseBlock(s, x, DenseBlockConfig{Layers: 3, Growth: 4})
	}, x)
	if err != nil {
		t.Fatal(err)
	}
	if d := out.Shape().Dimensions; d[3] != 6+3*4 {
		t.Fatalf("%d channels, want 6 + 3·4", d[3])
	}
	in, got := x.Value().([][][][]float32), out.Value().([][][][]float32)
	for c := range 6 {
		if got[1][2][3][c] != in[1][2][3][c] {
			t.Errorf("channel %d of the input changed", c)
		}
	}
	trainable, _ := CountParams(store)
	// Layer i sees 6+4i channels: BN 2·(6+4i), 1×1 (6+4i)·16, BN 2·16, 3×3 9·16·4.
	want := int64(0)
	for i := range 3 {
		cin := int64(6 + 4*i)
		want += 2*cin + cin*16 + 2*16 + 9*16*4
	}
	if trainable != want {
		t.Errorf("%d parameters, want %d", trainable, want)
	}
}
