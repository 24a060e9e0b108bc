package patchembed

import (
	"fmt"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer/cosineschedule"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/gostudy/gostudy/pkg/nn"
)

// Stem embeds images [B, H, W, 1] into a grid of token vectors [B, H/p, W/p, D] with the stem
// cfg.Stem names. Every stem keeps its variables under "proj" (the conv stem under "proj" and
// "proj2") so that the model's other variables are named as in timm whatever the stem.
func Stem(scope *model.Scope, images *graph.Node, cfg RunConfig) *graph.Node {
	p, d := cfg.PatchSize, cfg.EmbedDim
	switch cfg.Stem {
	case StemPatch:
		return nn.PatchEmbed(scope, images, nn.PatchEmbedConfig{PatchSize: p, EmbedDim: d})
	case StemOverlap:
		// Kernel 2p, stride p, padding p/2: output size (H + p − 2p)/p + 1 = H/p, the patch grid.
		return nn.Conv2d(scope.In("proj"), images, nn.Conv2dConfig{Out: d, Kernel: 2 * p, Stride: p, Padding: p / 2, Bias: true})
	case StemConv:
		// log2(p) stride-2 3×3 convolutions; the widths double up to D, ReLU between them.
		x := images
		n := 0
		for s := p; s > 1; s /= 2 {
			n++
		}
		for i := range n {
			out := d >> (n - 1 - i)
			name := "proj"
			if i > 0 {
				name = fmt.Sprintf("proj%d", i+1)
				x = nn.ReLU(x)
			}
			x = nn.Conv2d(scope.In("%s", name), x, nn.Conv2dConfig{Out: out, Kernel: 3, Stride: 2, Padding: 1, Bias: true})
		}
		return x
	}
	exceptions.Panicf("patchembed: unknown stem %q", cfg.Stem)
	return nil
}

// Stages holds what the model computes at each stage for one batch, for the notebook's
// figures and the claim checks.
type Stages struct {
	// Grid is the stem's output, the patch vectors on their grid [B, h, w, D].
	Grid *graph.Node
	// Tokens is the sequence the first block sees, [B, prefix + h·w, D]: the grid flattened
	// ([h, w, D] → [h·w, D]), the class token prepended, the position embedding added.
	Tokens *graph.Node
	// Pos is the position embedding that was added, [1, prefix + h·w, D].
	Pos *graph.Node
	// Blocks are the outputs of the transformer blocks, [B, prefix + h·w, D] each.
	Blocks []*graph.Node
	// Attn are the blocks' attention probabilities [B, heads, T, T] (T counts the class token
	// first).
	Attn []*graph.Node
	// Pooled is what the head reads, [B, D] (or [B, RepresentationSize] after the tanh layer).
	Pooled *graph.Node
	// Logits are the class scores [B, 10].
	Logits *graph.Node
}

// normalInit draws N(0, std²) from the store's generator: timm's trunc_normal_(std=.02) for
// pos_embed and normal_(std=1e-6) for cls_token (the truncation at ±2 never binds at these stds).
func normalInit(scope *model.Scope, std float64) model.VariableInitializer {
	return func(g *graph.Graph, shape shapes.Shape) *graph.Node {
		return graph.MulScalar(scope.RandomNormal(g, shape), std)
	}
}

// Forward runs the lesson's ViT (ViT paper Eq. 1–4) on images [B, H, W, 1]:
//
//	z0 = [x_class; x¹E; …; xᴺE] + E_pos      (patch embedding, class token, position embedding)
//	zℓ = Block(zℓ₋₁), ℓ = 1…L                 (pre-norm MSA and GELU MLP, nn.Block)
//	y  = head(LN(z_L⁰))                        (or the mean of the patch tokens with Pool "avg")
//
// For the patch stem it computes exactly nn.ViT(cfg.ViT()) with the same variables. pos, when
// not nil, replaces the learned position embedding ([1, prefix + h·w, D], the class token's
// entry first); otherwise the variable "pos_embed" is used, resampled in 2D (bicubic, as
// nn.ViT and timm do) when the image gives another grid than 28×28 does.
func Forward(scope *model.Scope, images *graph.Node, cfg RunConfig, pos *graph.Node) Stages {
	if err := cfg.Validate(); err != nil {
		exceptions.Panicf("patchembed.Forward: %v", err)
	}
	g := images.Graph()
	v := cfg.ViT()
	const eps = 1e-6 // timm's ViT LayerNorm
	var st Stages
	st.Grid = Stem(scope.In("patch_embed"), images, cfg)
	dims := st.Grid.Shape().Dimensions
	b, grid, d := dims[0], [2]int{dims[1], dims[2]}, dims[3]
	x := graph.Reshape(st.Grid, b, grid[0]*grid[1], d) // [h, w, D] → [h·w, D], row by row

	prefix := cfg.Prefix()
	if prefix == 1 {
		cls := scope.WithInitializer(normalInit(scope, 1e-6)).
			VariableWithShape("cls_token", shapes.Make(nn.DType, 1, 1, d)).NodeValue(g)
		x = graph.Concatenate([]*graph.Node{graph.BroadcastToDims(cls, b, 1, d), x}, 1)
	}
	if pos == nil {
		base := cfg.Grid()
		pos = scope.WithInitializer(normalInit(scope, 0.02)).
			VariableWithShape("pos_embed", shapes.Make(nn.DType, 1, prefix+base[0]*base[1], d)).NodeValue(g)
		pos = nn.ResamplePosEmbedGraph(pos, base, grid, prefix)
	}
	st.Pos = pos
	x = graph.Add(x, pos) // the notes: patch vectors and position embeddings are simply added
	st.Tokens = x

	blocks := scope.In("blocks")
	for i := range v.Depth {
		var a *graph.Node
		x, a = nn.BlockWithMaps(blocks.In("%d", i), x, nn.BlockConfig{
			NumHeads: v.NumHeads, MLPRatio: v.MLPRatio, QKVBias: v.QKVBias, NormEps: eps,
		})
		st.Blocks = append(st.Blocks, x)
		st.Attn = append(st.Attn, a)
	}

	if cfg.Pool == PoolToken {
		x = nn.LayerNorm(scope.In("norm"), x, eps)
		x = graph.Reshape(graph.Slice(x, graph.AxisRange(), graph.AxisElem(0)), b, d)
	} else {
		x = graph.ReduceMean(graph.Slice(x, graph.AxisRange(), graph.AxisRangeToEnd(prefix)), 1)
		x = nn.LayerNorm(scope.In("fc_norm"), x, eps)
	}
	if cfg.RepresentationSize > 0 {
		// The paper's pre-training head: one hidden layer with tanh (the blocks' MLPs use GELU).
		x = graph.Tanh(nn.Linear(scope.In("pre_logits").In("fc"), x, cfg.RepresentationSize, true))
	}
	st.Pooled = x
	st.Logits = nn.Linear(scope.In("head"), x, 10, true)
	return st
}

// Model is the experiment's model: inputs[0] is [B, 28, 28, 1], the output [B, 10] logits.
// When training it also sets the learning rate of the step: linear warm-up, then cosine decay.
func Model(scope *model.Scope, cfg RunConfig, inputs []*graph.Node) []*graph.Node {
	g := inputs[0].Graph()
	if scope.IsTraining(g) {
		cosineschedule.New(scope, g, nn.DType).LearningRate(cfg.LearningRate).
			WarmUpSteps(cfg.WarmupSteps).PeriodSteps(cfg.TotalSteps() - cfg.WarmupSteps).Done()
	}
	return []*graph.Node{Forward(scope, inputs[0], cfg, nil).Logits}
}

// ModelFn is the model as an nn.ModelFn (for nn.Measure and model.NewExec).
func ModelFn(cfg RunConfig) nn.ModelFn {
	return func(scope *model.Scope, x *graph.Node) *graph.Node { return Forward(scope, x, cfg, nil).Logits }
}
