package nn

import (
	"fmt"
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
)

// TestPatchifyConvIsLinear checks the ViT lesson's claim: the patchify convolution equals
// cutting the image into patches, flattening them and applying one linear layer with the same
// weights.
func TestPatchifyConvIsLinear(t *testing.T) {
	cfg := PatchEmbedConfig{PatchSize: 8, EmbedDim: 24}
	f := loadFixture(t, "vit/patch_embed_p8_c3_d24")
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		asLinear, err := model.NewExec(b.Backend, f.store(t), func(scope *model.Scope, x *graph.Node) *graph.Node {
			y := PatchEmbedAsLinear(scope, x, cfg)
			d := y.Shape().Dimensions
			return graph.Reshape(y, d[0], d[1]*d[2], d[3])
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := asLinear.Call1(f.input(t, ""))
		if err != nil {
			t.Fatal(err)
		}
		assertReference(t, "patchify+linear vs conv (timm output)", got, f.output(t, ""))
	})
}

func TestPosEmbedResampleMatchesTimm(t *testing.T) {
	f := loadFixture(t, "vit/posembed_resample")
	pos := f.Tensors["__input__"]
	grids := [][2]int{{6, 6}, {3, 3}, {5, 7}, {2, 9}}
	for _, ng := range grids {
		want := f.Tensors[fmt.Sprintf("__output_%dx%d__", ng[0], ng[1])]
		got, err := ResamplePosEmbed(pos, [2]int{4, 4}, ng, 1)
		if err != nil {
			t.Fatal(err)
		}
		nntest.AssertClose(t, fmt.Sprintf("host resample 4x4→%v", ng), got, want, 1e-5)
	}
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		for _, ng := range grids {
			want := f.Tensors[fmt.Sprintf("__output_%dx%d__", ng[0], ng[1])]
			exec, err := graph.NewExec(b.Backend, func(p *graph.Node) *graph.Node {
				return ResamplePosEmbedGraph(p, [2]int{4, 4}, ng, 1)
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := exec.Call1(tensors.FromFlatDataAndDimensions(tensors.MustCopyFlatData[float32](pos), pos.Shape().Dimensions...))
			if err != nil {
				t.Fatal(err)
			}
			nntest.AssertClose(t, fmt.Sprintf("graph resample 4x4→%v", ng), got, want, 1e-5)
		}
	})
	// Each output row of the resize matrix is a partition of unity (constants stay constant).
	for _, sz := range [][2]int{{4, 9}, {9, 4}, {7, 7}} {
		m := BicubicResizeMatrix(sz[0], sz[1])
		for i := range sz[1] {
			s := 0.0
			for j := range sz[0] {
				s += m[i*sz[0]+j]
			}
			if math.Abs(s-1) > 1e-12 {
				t.Errorf("resize %v row %d sums to %g", sz, i, s)
			}
		}
	}
}

// buildCount builds fn for one input in a fresh store (pure-Go backend, nothing is run) and
// returns its trainable parameter count.
func buildCount(t *testing.T, fn ModelFn, dims ...int) int64 {
	t.Helper()
	store := model.NewStore()
	if _, err := Build(goBackend(t), store, fn, shapes.Make(dtypes.Float32, dims...)); err != nil {
		t.Fatal(err)
	}
	n, _ := CountParams(store)
	return n
}

// TestViTTanhHead checks the pre-training head option: a hidden layer with tanh before the
// classifier (ViT §3.1), present only when asked for.
func TestViTTanhHead(t *testing.T) {
	cfg := ViTConfig{ImageSize: 8, InChans: 1, PatchSize: 4, EmbedDim: 8, Depth: 1, NumHeads: 2, QKVBias: true,
		ClassToken: true, Pool: "token", RepresentationSize: 6}
	plain := cfg
	plain.RepresentationSize = 0
	if d := buildCount(t, ViT(cfg), 1, 8, 8, 1) - buildCount(t, ViT(plain), 1, 8, 8, 1); d != 8*6+6 {
		t.Errorf("tanh head adds %d parameters, want %d", d, 8*6+6)
	}
	b := goBackend(t)
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(3); err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 4*8*8)
	for i := range x {
		x[i] = float32(math.Sin(float64(i))) * 3
	}
	out, err := model.NewExec(b, store, ViT(cfg))
	if err != nil {
		t.Fatal(err)
	}
	y, err := out.Call1(tensors.FromFlatDataAndDimensions(x, 4, 8, 8, 1))
	if err != nil {
		t.Fatal(err)
	}
	if got := y.Shape().Dimensions; got[0] != 4 || got[1] != 6 {
		t.Fatalf("features %v, want [4 6]", got)
	}
	if m := nntest.MaxAbs(y); m >= 1 || m < 1e-3 {
		t.Errorf("tanh features max |v| = %g, want in (0, 1)", m)
	}
}

// TestSharedQK checks the shared query/key switch: one C×C projection (and its bias) fewer,
// and symmetric logits, seen in the attention probabilities through Kolmogorov's cycle
// criterion: softmax rows of a symmetric matrix make a reversible Markov chain, so around any
// three tokens A_ij·A_jk·A_ki = A_ik·A_kj·A_ji. Separate q and k break it.
func TestSharedQK(t *testing.T) {
	cfg := AttentionConfig{NumHeads: 2, QKVBias: true}
	shared := cfg
	shared.SharedQK = true
	const c = 8
	attn := func(cfg AttentionConfig) ModelFn {
		return func(scope *model.Scope, x *graph.Node) *graph.Node { return Attention(scope, x, cfg) }
	}
	if d := buildCount(t, attn(cfg), 1, 5, c) - buildCount(t, attn(shared), 1, 5, c); d != c*c+c {
		t.Errorf("sharing q and k saves %d parameters, want %d", d, c*c+c)
	}
	x := make([]float32, 2*5*c)
	for i := range x {
		x[i] = float32(math.Sin(1.7*float64(i))) * 2
	}
	cycleGap := func(cfg AttentionConfig) float64 {
		store := model.NewStore()
		if err := store.SetRNGStateFromSeed(5); err != nil {
			t.Fatal(err)
		}
		exec, err := model.NewExec(goBackend(t), store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
			out, a := AttentionWithMaps(scope, x, cfg)
			return []*graph.Node{a, out} // the output last: the pure-Go backend's rule (see ViTOutput)
		})
		if err != nil {
			t.Fatal(err)
		}
		res, err := exec.Call(tensors.FromFlatDataAndDimensions(x, 2, 5, c))
		if err != nil {
			t.Fatal(err)
		}
		a := tensors.MustCopyFlatData[float32](res[0]) // [2, heads, 5, 5]
		at := func(m, i, j int) float64 { return math.Log(float64(a[m*25+i*5+j])) }
		worst := 0.0
		for m := range 2 * cfg.NumHeads {
			for i := range 5 {
				for j := range 5 {
					for k := range 5 {
						g := at(m, i, j) + at(m, j, k) + at(m, k, i) - at(m, i, k) - at(m, k, j) - at(m, j, i)
						worst = max(worst, math.Abs(g))
					}
				}
			}
		}
		return worst
	}
	if g := cycleGap(shared); g > 1e-4 {
		t.Errorf("shared q and k: cycle products differ by %g (log), want symmetric logits", g)
	}
	if g := cycleGap(cfg); g < 1e-2 {
		t.Errorf("separate q and k: cycle products differ by only %g (log)", g)
	}
}
