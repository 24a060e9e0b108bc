package windowattention

import (
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn"
)

// SwinConfig is the pkg/nn Swin the lesson trains: nn.SwinTiny28 (2×2 patches → a 14×14 map,
// stages of C = 32 and 64 channels with 2 and 4 heads, a W-MSA/SW-MSA pair per stage, MLP ratio
// 2) with the window size M taken from cfg. With the lesson's M = 4 the 14×14 map is padded to
// 16×16 (4×4 windows) and the 7×7 map of stage 2 to 8×8 (2×2 windows), so padding and the
// shifted configuration act in both stages; M = 7 is nn.SwinTiny28 itself.
func SwinConfig(cfg Config) nn.SwinConfig {
	c := nn.SwinTiny28()
	c.WindowSize = cfg.Window
	c.DropPathRate = cfg.DropPath
	return c
}

// Hooks receive what a forward pass computes on the way, for plots and measurements. Nil
// fields are skipped.
type Hooks struct {
	// Stage receives the feature map [B, H, W, C] after the patch embedding (stage −1, named
	// "patch embed") and after each stage i (its PatchMerging and its blocks).
	Stage func(stage int, name string, x *graph.Node)
	// Attn receives each block's attention probabilities [B·nW, heads, N, N], windows in
	// row-major order over the padded map of that block.
	Attn func(stage, block int, attn *graph.Node)
}

// Forward is the lesson's Swin on images [B, 28, 28, 1], returning logits [B, 10]. It is
// nn.SwinForward with the two switches the ablation needs:
//
//   - cfg.Shift false keeps every block at shift 0 (W-MSA only: no information crosses a
//     window border until the next patch merging);
//   - cfg.RelBias false freezes every relative position bias table at zero, which makes
//     softmax(QKᵀ/√d + B) exactly softmax(QKᵀ/√d) while keeping timm's variables, so the model
//     still exports to the same state_dict.
//
// Variable names are timm's SwinTransformer names ("patch_embed/proj/weight",
// "layers/0/blocks/1/attn/relative_position_bias_table", "head/fc/weight", ...).
func Forward(scope *model.Scope, images *graph.Node, cfg Config, hooks Hooks) *graph.Node {
	sc := SwinConfig(cfg)
	if err := sc.Validate(); err != nil {
		panic(err)
	}
	x := nn.PatchEmbed(scope.In("patch_embed"), images, nn.PatchEmbedConfig{
		PatchSize: sc.PatchSize, EmbedDim: sc.EmbedDim, Norm: true,
	})
	if hooks.Stage != nil {
		hooks.Stage(-1, "patch embed", x)
	}
	rates := nn.DropPathRates(sc.DropPathRate, sc.Depths...)
	layers := scope.In("layers")
	for i, depth := range sc.Depths {
		stage := layers.In("%d", i)
		dim := sc.EmbedDim << i
		if i > 0 {
			x = nn.PatchMerging(stage.In("downsample"), x, dim, 0)
		}
		blocks := stage.In("blocks")
		for j := range depth {
			shift := 0
			if j%2 == 1 && cfg.Shift {
				shift = sc.WindowSize / 2
			}
			if !cfg.RelBias {
				h, w := x.Shape().Dimensions[1], x.Shape().Dimensions[2]
				win, _ := nn.SwinWindowShift(h, w, sc.WindowSize, shift, false)
				freezeZeroBiasTable(blocks.At("%d", j).At("attn"), win, sc.NumHeads[i])
			}
			var a *graph.Node
			x, a = nn.SwinTransformerBlockWithMaps(blocks.In("%d", j), x, nn.SwinBlockConfig{
				NumHeads: sc.NumHeads[i], WindowSize: sc.WindowSize, ShiftSize: shift, MLPRatio: sc.MLPRatio,
				QKVBias: sc.QKVBias, DropPath: rates[i][j],
			})
			if hooks.Attn != nil {
				hooks.Attn(i, j, a)
			}
		}
		if hooks.Stage != nil {
			hooks.Stage(i, stageName(i), x)
		}
	}
	x = nn.LayerNorm(scope.In("norm"), x, 1e-5)
	x = nn.GlobalAvgPool2d(x)
	return nn.Linear(scope.In("head").In("fc"), x, sc.NumClasses, true)
}

func stageName(i int) string {
	if i == 0 {
		return "stage 1 (W-MSA, SW-MSA)"
	}
	return "stage 2 (patch merging, W-MSA, SW-MSA)"
}

// freezeZeroBiasTable creates the block's relative position bias table as zeros and marks it
// not trainable, before nn.WindowAttention asks for it (it then reuses this variable). At()
// is used, not In(), so that the block can still enter its "attn" scope.
func freezeZeroBiasTable(attn *model.Scope, win [2]int, heads int) {
	rows := (2*win[0] - 1) * (2*win[1] - 1)
	v := attn.VariableWithValue("relative_position_bias_table", tensors.FromShape(shapes.Make(nn.DType, rows, heads)))
	v.Trainable = false
}

// ModelFn is Forward as an nn.ModelFn (for nn.Measure, nn.Build and plain executions).
func ModelFn(cfg Config) nn.ModelFn {
	return func(scope *model.Scope, images *graph.Node) *graph.Node {
		return Forward(scope, images, cfg, Hooks{})
	}
}
