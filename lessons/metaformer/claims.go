package metaformer

import (
	"context"
	_ "embed"
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// NotesDumpS12 is the notes' printout of poolformer_s12's four stages and three PatchEmbeds
// ("中间的四个阶段一共7个组件：4个Transformer + 3个PatchEmbed"), copied from the notes with their
// indentation dropped, as the notes have it.
//
//go:embed testdata/notes_poolformer_s12.txt
var NotesDumpS12 string

// DumpComparison puts nn.PoolFormerS12's summary beside the notes' dump.
type DumpComparison struct {
	Notes, Ours []string
	// Mismatches lists the line numbers (0-based) where they differ, indentation ignored.
	Mismatches []int
	// Components counts "*block i*" headers; PatchEmbeds and Blocks count those modules.
	Components, PatchEmbeds, Blocks int
}

// CompareDump compares nn.PoolFormerS12().NetworkSummary() with the notes' dump line by line.
func CompareDump() DumpComparison {
	var d DumpComparison
	for _, l := range strings.Split(strings.TrimSpace(NotesDumpS12), "\n") {
		d.Notes = append(d.Notes, strings.TrimSpace(l))
	}
	for _, l := range strings.Split(strings.TrimSpace(nn.PoolFormerS12().NetworkSummary()), "\n") {
		d.Ours = append(d.Ours, strings.TrimSpace(l))
	}
	for i := range max(len(d.Notes), len(d.Ours)) {
		if i >= len(d.Notes) || i >= len(d.Ours) || d.Notes[i] != d.Ours[i] {
			d.Mismatches = append(d.Mismatches, i)
		}
	}
	for _, l := range d.Ours {
		switch {
		case strings.HasPrefix(l, "*block "):
			d.Components++
		case l == "PatchEmbed(":
			d.PatchEmbeds++
		case strings.HasSuffix(l, "PoolFormerBlock("):
			d.Blocks++
		}
	}
	return d
}

// countingBackend is the kit's pure-Go backend, for graphs that are only built and counted.
var countingBackend = lesson.CountingBackend

// CostOf is a run's network's parameters and multiply-accumulates per image.
func CostOf(c RunConfig) (nn.Cost, error) {
	if err := c.Net.Validate(); err != nil {
		return nn.Cost{}, err
	}
	b, err := countingBackend()
	if err != nil {
		return nn.Cost{}, err
	}
	s := c.ImageSize()
	return nn.Measure(b, c.Logits, shapes.Make(dtypes.Float32, 1, s, s, 1))
}

// MatchedRatio is the MLP ratio at which base's network with the given mixer has about target
// parameters: the mixer's own parameters are paid for by the MLP, so that the comparison is at
// equal parameters. Parameters grow with the ratio, so a bisection finds it; the ratio is
// rounded to 1/64.
func MatchedRatio(base RunConfig, mixer string, target int64) (float64, error) {
	params := func(r float64) (int64, error) {
		c := base
		c.TokenMixer, c.MLPRatio = mixer, r
		cost, err := CostOf(c)
		return cost.Params, err
	}
	lo, hi := 1.0/64, 16.0
	for range 20 {
		mid := (lo + hi) / 2
		p, err := params(mid)
		if err != nil {
			return 0, fmt.Errorf("match the MLP ratio of %s: %w", mixer, err)
		}
		if p < target {
			lo = mid
		} else {
			hi = mid
		}
	}
	if lo <= 1.0/64 || hi >= 16 {
		return 0, fmt.Errorf("match the MLP ratio of %s: no ratio in [1/64, 16] gives %d parameters", mixer, target)
	}
	return math.Round(64*(lo+hi)/2) / 64, nil
}

// Layer is one layer of a PoolFormer, from its variables: what it maps from and to, and
// whether it normalises.
type Layer struct {
	Layer string `display:"layer"`
	In    int    `display:"channels in"`
	Out   int    `display:"channels out"`
	// Norms lists its normalisation layers ("norm1, norm2"), or "none".
	Norms string `display:"normalisation"`
}

// Anatomy lists the stem, the patch embeddings between stages and the blocks of cfg's network
// (the first block of each stage), built on a [1, size, size, in] image, with their widths and
// norms, read from the variables.
func Anatomy(cfg nn.PoolFormerConfig, size int) ([]Layer, error) {
	b, err := countingBackend()
	if err != nil {
		return nil, err
	}
	store := model.NewStore()
	defer store.Finalize()
	if _, err := nn.Build(b, store, nn.PoolFormer(cfg), shapes.Make(dtypes.Float32, 1, size, size, cfg.InChans)); err != nil {
		return nil, err
	}
	dims := func(path string) []int {
		v := store.GetVariable(path)
		if v == nil {
			return nil
		}
		return v.Shape().Dimensions
	}
	norms := func(prefix string) string {
		var n []string
		for v := range store.IterVariables() {
			p := v.Path()
			if strings.HasPrefix(p, prefix) && strings.HasSuffix(p, "/weight") && strings.Contains(p, "norm") {
				n = append(n, strings.TrimSuffix(strings.TrimPrefix(p, prefix), "/weight"))
			}
		}
		if len(n) == 0 {
			return "none"
		}
		return strings.Join(n, ", ")
	}
	var out []Layer
	w := dims("/stem/conv/weight")
	out = append(out, Layer{Layer: "stem (7×7, stride 4)", In: w[1], Out: w[0], Norms: norms("/stem/")})
	for i := range cfg.Dims {
		stage := fmt.Sprintf("/stages/%d/", i)
		if w := dims(stage + "downsample/conv/weight"); w != nil {
			out = append(out, Layer{Layer: fmt.Sprintf("stage %d PatchEmbed (3×3, stride 2)", i+1), In: w[1], Out: w[0], Norms: norms(stage + "downsample/")})
		}
		for j := range cfg.Depths[i] {
			blk := fmt.Sprintf("%sblocks/%d/", stage, j)
			fc2 := dims(blk + "mlp/fc2/weight")
			n1 := dims(blk + "norm1/weight")
			out = append(out, Layer{Layer: fmt.Sprintf("stage %d block %d", i+1, j), In: n1[0], Out: fc2[0], Norms: norms(blk)})
		}
	}
	return out, nil
}

// PoolIdentity is the check that the residual undoes PoolFormer's subtraction.
type PoolIdentity struct {
	// MaxAbsDiff is max |x + (pool(x) − x) − pool(x)|, MaxAbsPool the largest |pool(x)|.
	MaxAbsDiff, MaxAbsPool float64
	// MixerOnly is max |(pool(x) − x)|: the mixer alone is not the pooling.
	MixerOnly float64
}

// ProvePoolIdentity computes x + PoolingMixer(x) and PyTorch's AvgPool2d(3, 1, 1,
// count_include_pad=False) on the output of a random 7×7 stride-4 stem on digits, on backend.
func ProvePoolIdentity(backend compute.Backend, images *tensors.Tensor) (PoolIdentity, error) {
	return lesson.Catch("x + (pool(x) − x)", func() (PoolIdentity, error) {
		var p PoolIdentity
		out, err := model.CallOnceN(backend, model.NewStore(), func(scope *model.Scope, x *graph.Node) []*graph.Node {
			x = nn.Conv2d(scope.In("stem"), x, nn.Conv2dConfig{Out: 32, Kernel: 7, Stride: 4, Padding: 2, Bias: true})
			mixer := nn.PoolingMixer(x, 3)
			pool := nn.AvgPool2d(x, 3, 1, 1, false)
			m := func(v *graph.Node) *graph.Node { return graph.ReduceAllMax(graph.Abs(v)) }
			return []*graph.Node{m(graph.Sub(graph.Add(x, mixer), pool)), m(pool), m(graph.Sub(mixer, pool))}
		}, images)
		if err != nil {
			return p, err
		}
		v := func(i int) float64 { return shapes.ConvertTo[float64](out[i].Value()) }
		p.MaxAbsDiff, p.MaxAbsPool, p.MixerOnly = v(0), v(1), v(2)
		return p, nil
	})
}

// Shift is a network's accuracy on digits moved by Pixels.
type Shift struct {
	Pixels int
	// Acc is the mean accuracy over the four directions (left, right, up, down).
	Acc float64
}

// ShiftDigits moves every image of a standardized [B, 28, 28, 1] batch by (dy, dx) pixels, filling
// with each image's background value (its minimum: MNIST's standardized zero).
func ShiftDigits(images *tensors.Tensor, dy, dx int) (*tensors.Tensor, error) {
	d := images.Shape().Dimensions
	flat, err := tensors.CopyFlatData[float32](images)
	if err != nil {
		return nil, err
	}
	b, h, w := d[0], d[1], d[2]
	out := make([]float32, len(flat))
	for n := range b {
		img := flat[n*h*w : (n+1)*h*w]
		bg := img[0]
		for _, v := range img {
			bg = min(bg, v)
		}
		for y := range h {
			for x := range w {
				sy, sx := y-dy, x-dx
				v := bg
				if sy >= 0 && sy < h && sx >= 0 && sx < w {
					v = img[sy*w+sx]
				}
				out[n*h*w+y*w+x] = v
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(out, d...), nil
}

// ShiftedAccuracy evaluates a trained network (variables in store) on the first n digits of set
// moved by each of shifts pixels, on backend.
func ShiftedAccuracy(ctx context.Context, backend compute.Backend, store *model.Store, cfg RunConfig, set *mnist.Set, n int, shifts []int) ([]Shift, error) {
	return lesson.Catch("shifted digits", func() ([]Shift, error) {
		experiment.LoadAllVariables(store)
		exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) *graph.Node { return cfg.Logits(scope, x) })
		if err != nil {
			return nil, err
		}
		defer exec.Finalize()
		var out []Shift
		for _, s := range shifts {
			dirs := [][2]int{{0, s}, {0, -s}, {s, 0}, {-s, 0}}
			if s == 0 {
				dirs = dirs[:1]
			}
			right, total := 0, 0
			for start := 0; start < n; start += lesson.EvalBatch {
				images, labels, err := lesson.Digits(set, start, min(lesson.EvalBatch, n-start))
				if err != nil {
					return nil, err
				}
				for _, dir := range dirs {
					if err := ctx.Err(); err != nil {
						return nil, err
					}
					moved, err := ShiftDigits(images, dir[0], dir[1])
					if err != nil {
						return nil, err
					}
					logits, err := exec.Call1(moved)
					if err != nil {
						return nil, err
					}
					flat, err := tensors.CopyFlatData[float32](logits)
					logits.FinalizeAll()
					if err != nil {
						return nil, err
					}
					for i, p := range lesson.ArgmaxRows(flat, 10) {
						if p == int(labels[i]) {
							right++
						}
						total++
					}
				}
			}
			out = append(out, Shift{Pixels: s, Acc: float64(right) / float64(total)})
		}
		return out, nil
	})
}

// Mixing holds the token-mixing matrices of the first block of two trained networks, on the
// first stage's H·W tokens: the spatial MLP's learned matrix, the same for every image, and the
// attention network's attention (head 0) for two digits, computed from each.
type Mixing struct {
	Tokens int
	// SpatialMLP is [tokens][tokens]; AttentionA and AttentionB are the two digits' maps.
	SpatialMLP, AttentionA, AttentionB [][]float64
	// AttentionChange is mean |A − B| over the entries, MeanAttention the mean entry (1/tokens).
	AttentionChange, MeanAttention float64
}

// MixingMatrices reads the spatial MLP's matrix from its trained store and computes the
// attention network's first-block attention maps for digits a and b ([1, 28, 28, 1] each).
func MixingMatrices(backend compute.Backend, mlpStore, attStore *model.Store, attCfg RunConfig, a, b *tensors.Tensor) (Mixing, error) {
	return lesson.Catch("mixing matrices", func() (Mixing, error) {
		var m Mixing
		experiment.LoadAllVariables(mlpStore)
		experiment.LoadAllVariables(attStore)
		v := mlpStore.GetVariable("/stages/0/blocks/0/token_mixer/fc/weight")
		if v == nil {
			return m, fmt.Errorf("the spatial-MLP run has no /stages/0/blocks/0/token_mixer/fc/weight")
		}
		w, err := tensors.CopyFlatData[float32](v.MustValue())
		if err != nil {
			return m, err
		}
		m.Tokens = v.Shape().Dimensions[0]
		m.SpatialMLP = square(w, m.Tokens)
		c := attCfg.PoolFormerConfig(1, 10)
		exec, err := model.NewExec(backend, attStore, func(scope *model.Scope, x *graph.Node) *graph.Node {
			x = nn.Conv2d(scope.In("stem").In("conv"), x, nn.Conv2dConfig{Out: c.Dims[0], Kernel: 7, Stride: 4, Padding: 2, Bias: true})
			blk := scope.In("stages").In("0").In("blocks").In("0")
			d := x.Shape().Dimensions
			n := nn.GroupNorm(blk.In("norm1"), x, 1, 1e-5)
			_, att := nn.AttentionWithMaps(blk.In("token_mixer"), graph.Reshape(n, d[0], d[1]*d[2], d[3]),
				nn.AttentionConfig{NumHeads: max(1, d[3]/32)})
			return graph.Slice(att, graph.AxisRange(), graph.AxisElem(0)) // head 0: [B, 1, N, N]
		})
		if err != nil {
			return m, err
		}
		defer exec.Finalize()
		for i, img := range []*tensors.Tensor{a, b} {
			out, err := exec.Call1(img)
			if err != nil {
				return m, err
			}
			flat, err := tensors.CopyFlatData[float32](out)
			if err != nil {
				return m, err
			}
			if len(flat) != m.Tokens*m.Tokens {
				return m, fmt.Errorf("attention over %d entries, the spatial MLP has %d tokens", len(flat), m.Tokens)
			}
			if i == 0 {
				m.AttentionA = square(flat, m.Tokens)
			} else {
				m.AttentionB = square(flat, m.Tokens)
			}
		}
		for i := range m.Tokens {
			for j := range m.Tokens {
				m.AttentionChange += math.Abs(m.AttentionA[i][j] - m.AttentionB[i][j])
				m.MeanAttention += m.AttentionA[i][j]
			}
		}
		m.AttentionChange /= float64(m.Tokens * m.Tokens)
		m.MeanAttention /= float64(m.Tokens * m.Tokens)
		return m, nil
	})
}

func square(flat []float32, n int) [][]float64 {
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, n)
		for j := range out[i] {
			out[i][j] = float64(flat[i*n+j])
		}
	}
	return out
}

// shapeOf is a float32 shape.
func shapeOf(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }
