package nn

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
	"github.com/gostudy/gostudy/pkg/safetensors"
)

// block adapts a block function with a config to a ModelFn.
func block[C any](f func(*model.Scope, *graph.Node, C) *graph.Node, cfg C) ModelFn {
	return func(scope *model.Scope, x *graph.Node) *graph.Node { return f(scope, x, cfg) }
}

// tokens runs PatchEmbed and flattens its grid to timm's token sequence [B, N, D].
func tokens(cfg PatchEmbedConfig) ModelFn {
	return func(scope *model.Scope, x *graph.Node) *graph.Node {
		y := PatchEmbed(scope, x, cfg)
		d := y.Shape().Dimensions
		return graph.Reshape(y, d[0], d[1]*d[2], d[3])
	}
}

// vitBlocks returns cfg's ViT logits and every block's output, timm's forward_intermediates.
func vitBlocks(cfg ViTConfig) func(*model.Scope, *graph.Node) (*graph.Node, []*graph.Node) {
	return func(scope *model.Scope, x *graph.Node) (*graph.Node, []*graph.Node) {
		o := ViTForward(scope, x, cfg, ViTOptions{})
		return o.Logits, o.Blocks
	}
}

// swinStages returns cfg's Swin logits and every stage's output map, timm's
// forward_intermediates.
func swinStages(cfg SwinConfig) func(*model.Scope, *graph.Node) (*graph.Node, []*graph.Node) {
	return func(scope *model.Scope, x *graph.Node) (*graph.Node, []*graph.Node) {
		o := SwinForward(scope, x, cfg)
		return o.Logits, o.Stages
	}
}

// maskedWindowAttention is WindowAttention with the shift mask of a 6×6 map, 3×3 windows,
// shift 1, built in Go (ShiftedWindowMask); TestShiftMaskMatchesTimm compares the mask itself.
func maskedWindowAttention(scope *model.Scope, x *graph.Node) *graph.Node {
	mask := ShiftedWindowMask(6, 6, [2]int{3, 3}, [2]int{1, 1})
	m := graph.Const(x.Graph(), tensors.FromFlatDataAndDimensions(mask, 4, 9, 9))
	return WindowAttention(scope, x, m, WindowAttentionConfig{NumHeads: 3, WindowSize: [2]int{3, 3}, QKVBias: true})
}

// The configs of the fixtures that several tests use.
var (
	vitTokenFixture = ViTConfig{ImageSize: 28, InChans: 1, PatchSize: 7, NumClasses: 10, EmbedDim: 32, Depth: 2,
		NumHeads: 4, MLPRatio: 2, QKVBias: true, ClassToken: true, Pool: ViTPoolToken}
	// vitSmallFixture is the 16×16 ViT the pooling and position-embedding fixtures vary.
	vitSmallFixture = ViTConfig{ImageSize: 16, InChans: 3, PatchSize: 4, NumClasses: 5, EmbedDim: 24, Depth: 2,
		NumHeads: 2, QKVBias: true, ClassToken: true, Pool: ViTPoolToken}
	swinFixture = SwinConfig{InChans: 1, NumClasses: 10, PatchSize: 2, EmbedDim: 16, Depths: []int{2, 2},
		NumHeads: []int{2, 4}, WindowSize: 7, MLPRatio: 2, QKVBias: true}
	// swinAlwaysFixture has a last stage (4×4) smaller than its window (6): only
	// AlwaysPartition keeps the 6×6 window (and its bias table) and the shift there.
	swinAlwaysFixture = SwinConfig{InChans: 1, NumClasses: 10, PatchSize: 2, EmbedDim: 16, Depths: []int{2, 2},
		NumHeads: []int{2, 4}, WindowSize: 6, MLPRatio: 2, QKVBias: true, AlwaysPartition: true}
	convNeXtFixture = ConvNeXtConfig{InChannels: 1, NumClasses: 10, PatchSize: 2, Depths: []int{1, 1, 2, 1},
		Dims: []int{8, 16, 24, 32}}
	// convNeXtP4Fixture's stage 0 keeps the map (stride 1): it has no downsample layer.
	convNeXtP4Fixture = ConvNeXtConfig{InChannels: 1, NumClasses: 10, PatchSize: 4, Depths: []int{1, 1, 2, 1},
		Dims: []int{8, 16, 24, 32}}
	poolFormerFixture = PoolFormerConfig{InChans: 1, NumClasses: 10, Depths: []int{1, 1, 2}, Dims: []int{8, 16, 24},
		LayerScaleInit: 1e-5}
)

// vitSmall returns vitSmallFixture changed by edit.
func vitSmall(edit func(*ViTConfig)) ViTConfig {
	c := vitSmallFixture
	edit(&c)
	return c
}

// fixtureCases lists every model fixture under pkg/nn/testdata with the Go function that must
// reproduce it (TestEveryFixtureHasACase keeps the two in step).
var fixtureCases = []fixtureCase{
	{name: "acmix/h2_ka3", fn: block(ACmix, ACmixConfig{Out: 8, Heads: 2, KernelAtt: 3, KernelConv: 3})},
	{name: "acmix/h4_ka5", fn: block(ACmix, ACmixConfig{Out: 8, Heads: 4, KernelAtt: 5, KernelConv: 3})},

	{name: "convnext/block_s1", fn: block(ConvNeXtBlock, ConvNeXtBlockConfig{})},
	{name: "convnext/block_s2", fn: block(ConvNeXtBlock, ConvNeXtBlockConfig{Out: 16, Stride: 2})},
	{name: "convnext/stage_s1", fn: block(ConvNeXtStage, ConvNeXtStageConfig{Out: 16, Depth: 1, Stride: 1})},
	{name: "convnext/stage_s2", fn: block(ConvNeXtStage, ConvNeXtStageConfig{Out: 16, Depth: 2, Stride: 2})},
	{name: "convnext/model_32", fn: ConvNeXt(convNeXtFixture)},
	{name: "convnext/model_p4_32", fn: ConvNeXt(convNeXtP4Fixture)},

	{name: "poolformer/poolformer_block_d16_r8", fn: block(PoolFormerBlock, PoolFormerBlockConfig{LayerScaleInit: 1e-5})},
	{name: "poolformer/poolformer_block_d24_r7x5", fn: block(PoolFormerBlock, PoolFormerBlockConfig{LayerScaleInit: 1e-5})},
	{name: "poolformer/poolformer_block_d8_r6_nols", fn: block(PoolFormerBlock, PoolFormerBlockConfig{})},
	{name: "poolformer/poolformer_d8_16_24", fn: PoolFormer(poolFormerFixture)},

	{name: "repvgg/id_s1", fn: block(RepVGGBlock, repVGGFixtures["id_s1"])},
	{name: "repvgg/s2", fn: block(RepVGGBlock, repVGGFixtures["s2"])},
	{name: "repvgg/group_s1", fn: block(RepVGGBlock, repVGGFixtures["group_s1"])},

	{name: "resnet/basic_s1", fn: block(BasicBlock, BasicBlockConfig{Planes: 8})},
	{name: "resnet/basic_s2", fn: block(BasicBlock, BasicBlockConfig{Planes: 16, Stride: 2})},
	{name: "resnet/bottleneck_s1", fn: block(Bottleneck, BottleneckConfig{Planes: 4})},
	{name: "resnet/bottleneck_s2", fn: block(Bottleneck, BottleneckConfig{Planes: 4, Stride: 2})},
	{name: "resnet/resnext_s1", fn: block(Bottleneck, resNeXtFixtures["resnext_s1"])},
	{name: "resnet/resnext_s2", fn: block(Bottleneck, resNeXtFixtures["resnext_s2"])},
	{name: "resnet/resnext_w6", fn: block(Bottleneck, resNeXtFixtures["resnext_w6"])},

	{name: "swin/window_attention_d32_h4_w4", fn: func(scope *model.Scope, x *graph.Node) *graph.Node {
		return WindowAttention(scope, x, nil, WindowAttentionConfig{NumHeads: 4, WindowSize: [2]int{4, 4}, QKVBias: true})
	}},
	{name: "swin/window_attention_d24_h3_w3_mask", fn: maskedWindowAttention},
	{name: "swin/swin_block_d32_h2_r8_w4_s0", fn: block(SwinTransformerBlock, SwinBlockConfig{NumHeads: 2, WindowSize: 4, QKVBias: true})},
	{name: "swin/swin_block_d32_h2_r8_w4_s2", fn: block(SwinTransformerBlock, SwinBlockConfig{NumHeads: 2, WindowSize: 4, ShiftSize: 2, QKVBias: true})},
	// 7×9 padded to 8×12; 5×3: the window clamps to 4×3, shift (2, 0); 4×4 = window: no shift.
	{name: "swin/swin_block_d16_h2_r7x9_w4_s2", fn: block(SwinTransformerBlock, SwinBlockConfig{NumHeads: 2, WindowSize: 4, ShiftSize: 2, QKVBias: true})},
	{name: "swin/swin_block_d16_h2_r5x3_w4_s2", fn: block(SwinTransformerBlock, SwinBlockConfig{NumHeads: 2, WindowSize: 4, ShiftSize: 2, QKVBias: true})},
	{name: "swin/swin_block_d16_h2_r4_w4_s2", fn: block(SwinTransformerBlock, SwinBlockConfig{NumHeads: 2, WindowSize: 4, ShiftSize: 2, QKVBias: true})},
	{name: "swin/patch_merging_d16_r8", fn: func(scope *model.Scope, x *graph.Node) *graph.Node { return PatchMerging(scope, x, 0, 0) }},
	{name: "swin/patch_merging_d12_r7x5", fn: func(scope *model.Scope, x *graph.Node) *graph.Node { return PatchMerging(scope, x, 0, 0) }},
	{name: "swin/swin_p2_d16_w7", fn: Swin(swinFixture), intermediates: swinStages(swinFixture)},
	{name: "swin/swin_p2_d16_w6_always", fn: Swin(swinAlwaysFixture), intermediates: swinStages(swinAlwaysFixture)},

	{name: "vit/patch_embed_p4_c1_d16", fn: tokens(PatchEmbedConfig{PatchSize: 4, EmbedDim: 16})},
	{name: "vit/patch_embed_p8_c3_d24", fn: tokens(PatchEmbedConfig{PatchSize: 8, EmbedDim: 24})},
	{name: "vit/block_d32_h4", fn: block(Block, BlockConfig{NumHeads: 4, QKVBias: true})},
	{name: "vit/block_d48_h3_noqkvbias_ls", fn: block(Block, BlockConfig{NumHeads: 3, MLPRatio: 2, InitValues: 0.1})},
	// Input "big" is 42×35: a 6×5 grid, so the 4×4 position embedding is resampled in the
	// graph, as timm's dynamic_img_size does.
	{name: "vit/vit_p7_d32_token", fn: ViT(vitTokenFixture), intermediates: vitBlocks(vitTokenFixture)},
	{name: "vit/vit_p4_d24_avg", fn: ViT(vitSmall(func(c *ViTConfig) { c.ClassToken, c.Pool = false, ViTPoolAvg }))},
	{name: "vit/vit_p4_d24_cls_avg", fn: ViT(vitSmall(func(c *ViTConfig) { c.Pool = ViTPoolAvg }))},
	{name: "vit/vit_p4_d24_noembedcls", fn: ViT(vitSmall(func(c *ViTConfig) { c.NoEmbedClass = true }))},
	{name: "vit/vit_p4_d24_noposembed", fn: ViT(vitSmall(func(c *ViTConfig) { c.PosEmbed = ViTPosNone }))},
}

// TestFixtures checks every model against its reference fixture (timm's module, or for ACmix
// the paper's equations in numpy): names, parameter count, outputs on every backend,
// intermediates, and the export for the round trip (see checkFixture).
func TestFixtures(t *testing.T) {
	for _, c := range fixtureCases {
		t.Run(c.name, func(t *testing.T) { checkFixture(t, c) })
	}
}

// TestEveryFixtureHasACase fails when a model fixture under testdata has no entry in
// fixtureCases (it would never be checked) or an entry names a missing file.
func TestEveryFixtureHasACase(t *testing.T) {
	root := nntest.FixturePath(t, "")
	cases := map[string]bool{}
	for _, c := range fixtureCases {
		if cases[c.name] {
			t.Errorf("fixture %s listed twice", c.name)
		}
		cases[c.name] = true
	}
	found := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".safetensors") || strings.HasSuffix(path, ".roundtrip.safetensors") {
			return err
		}
		f, err := safetensors.ReadFile(path)
		if err != nil {
			return err
		}
		if f.Metadata["num_params"] == "" { // a function's fixture (e.g. a resize), not a model's
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		name := strings.TrimSuffix(filepath.ToSlash(rel), ".safetensors")
		found[name] = true
		if !cases[name] {
			t.Errorf("fixture %s has no case in fixtureCases", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range cases {
		if !found[name] {
			t.Errorf("fixtureCases lists %s, which is not a model fixture under testdata", name)
		}
	}
}

// TestPresetsMatchTimmCounts builds every preset that has a timm counterpart and compares its
// trainable parameter count with timm's (counts.json, written by the family's fixture script
// from timm's constructor with the same arguments, or timm.create_model for the named models).
func TestPresetsMatchTimmCounts(t *testing.T) {
	for _, c := range []struct {
		family, name string // the counts.json file and key
		fn           ModelFn
		input        []int
	}{
		{"vit", "ViTTiny28", ViT(ViTTiny28()), []int{1, 28, 28, 1}},
		{"vit", "ViTTiny64", ViT(ViTTiny64()), []int{1, 64, 64, 3}},
		{"vit", "vit_base_patch16_224", ViT(ViTBase224()), []int{1, 224, 224, 3}},
		{"swin", "SwinTiny28", Swin(SwinTiny28()), []int{1, 28, 28, 1}},
		{"swin", "SwinTiny64", Swin(SwinTiny64()), []int{1, 64, 64, 3}},
		{"swin", "swin_tiny_patch4_window7_224", Swin(SwinTiny224()), []int{1, 224, 224, 3}},
		{"poolformer", "PoolFormerTiny28", PoolFormer(PoolFormerTiny28()), []int{1, 28, 28, 1}},
		{"poolformer", "PoolFormerTiny64", PoolFormer(PoolFormerTiny64()), []int{1, 64, 64, 3}},
		{"poolformer", "poolformer_s12", PoolFormer(PoolFormerS12()), []int{1, 224, 224, 3}},
	} {
		want, ok := presetCounts(t, c.family)[c.name]
		if !ok {
			t.Errorf("%s/counts.json has no %s", c.family, c.name)
			continue
		}
		if got := buildCount(t, c.fn, c.input...); got != want {
			t.Errorf("%s: %d parameters, timm has %d", c.name, got, want)
		} else {
			t.Logf("%s: %d parameters (= timm)", c.name, got)
		}
	}
}
