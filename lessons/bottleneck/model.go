package bottleneck

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn"
)

// The block families the lesson compares. Every network shares one macro layout — stem,
// stages that halve the map, global average pool, fc — and differs only in its block.
const (
	// ArchBasic is ResNet's BasicBlock: two 3×3 convs at the stage's width (ResNet-18/34).
	ArchBasic = "basic"
	// ArchBottleneck is ResNet's bottleneck: 1×1 reduce → 3×3 → 1×1 expand ×4 (ResNet-50).
	ArchBottleneck = "bottleneck"
	// ArchResNeXt is the bottleneck whose 3×3 is split into Cardinality paths (a grouped conv).
	ArchResNeXt = "resnext"
	// ArchConvNeXt is ConvNeXt: patchify stem, depthwise 7×7, LayerNorm, inverted bottleneck
	// MLP (hidden 4×), GELU.
	ArchConvNeXt = "convnext"
)

// Archs lists the block families in the order the lesson's table shows them.
var Archs = []string{ArchBasic, ArchBottleneck, ArchResNeXt, ArchConvNeXt}

// Net describes one network of the lesson. The ResNet family (basic, bottleneck, resnext)
// is timm's ResNet layout — conv1/bn1 stem, layer1…layerN, fc — with a 3×3 stride-2 stem
// instead of ImageNet's 7×7 + max-pool (a 28×28 digit would be 7×7 after that; the pure-Go
// backend also lacks max-pool's gradient). ConvNeXt is timm's ConvNeXt (stem, stages, head).
type Net struct {
	// Arch is one of ArchBasic, ArchBottleneck, ArchResNeXt, ArchConvNeXt.
	Arch string `json:"arch" help:"block family: basic, bottleneck, resnext or convnext"`
	// Planes per stage: the width of a basic block, the width of the 3×3 of a plain
	// bottleneck (whose output is 4·planes), or ConvNeXt's stage widths.
	Planes []int `json:"planes" help:"planes per stage (basic width; bottleneck middle, output 4x; convnext dims)"`
	// Blocks per stage.
	Blocks []int `json:"blocks" help:"blocks per stage"`
	// StemWidth is the output width of the ResNet stem (ConvNeXt's stem outputs Planes[0]).
	StemWidth int `json:"stem_width" help:"ResNet stem width"`
	// Cardinality is the number of ResNeXt paths: the groups of the 3×3 (resnext only).
	Cardinality int `json:"cardinality" help:"resnext: number of paths (groups of the 3x3)"`
	// GroupWidth is d, the channels of one path in the first stage (doubling with the planes
	// in later stages, as in the paper's C×d notation). 0 chooses, stage by stage, the d that
	// brings the block's parameters closest to CostScale × those of a plain bottleneck with
	// the same planes: the paper's "similar complexity" templates (Table 2).
	GroupWidth int `json:"group_width" help:"resnext: channels per path in stage 1 (0: match cost_scale x plain bottleneck params)"`
	// CostScale is the parameter budget of an automatically sized ResNeXt block, relative to a
	// plain bottleneck (1: equal cost; 2: the paper's "2× complexity" comparisons).
	CostScale float64 `json:"cost_scale" help:"resnext with group_width 0: block params / plain bottleneck params"`
	// Kernel is ConvNeXt's depthwise kernel (0: 7, the paper's).
	Kernel int `json:"kernel" help:"convnext depthwise kernel (0: 7)"`
	// LayerScale is the initial value of ConvNeXt's per-channel residual scale γ (0: 1e-6,
	// the paper's, which makes a deep network start as the identity).
	LayerScale float64 `json:"layer_scale" help:"convnext: initial residual scale gamma (0: the paper's 1e-6)"`
	// Stem is ConvNeXt's stem: "" for its own (a 2×2 patchify conv + LayerNorm) or
	// StemResNet for the ResNets' (3×3 stride-2 conv + BatchNorm + ReLU), to compare the two
	// families with the stem held equal.
	Stem string `json:"stem" help:"convnext stem: \"\" (2x2 patchify + LayerNorm) or resnet (3x3 stride-2 conv + BN + ReLU)"`
	// PadDownsample pads an odd map by one row and column of zeros before ConvNeXt's 2×2
	// stride-2 downsampling, so the last stage runs on 4×4 instead of 3×3 and no row of the
	// 7×7 map is dropped (the ResNets' padded stride-2 3×3 convs see the whole map).
	PadDownsample bool `json:"pad_downsample" help:"convnext: pad odd maps before downsampling (7x7 -> 4x4, not 3x3)"`
}

// StemResNet is the ResNets' stem given to a ConvNeXt (Net.Stem).
const StemResNet = "resnet"

// Validate reports a Net that cannot be built.
func (n Net) Validate() error {
	if !slices.Contains(Archs, n.Arch) {
		return fmt.Errorf("arch %q: want one of %v", n.Arch, Archs)
	}
	if len(n.Planes) == 0 || len(n.Planes) != len(n.Blocks) {
		return fmt.Errorf("planes %v and blocks %v must be non-empty and of equal length", n.Planes, n.Blocks)
	}
	for i := range n.Planes {
		if n.Planes[i] <= 0 || n.Blocks[i] <= 0 {
			return fmt.Errorf("stage %d: planes %d and blocks %d must be positive", i+1, n.Planes[i], n.Blocks[i])
		}
	}
	if n.Arch != ArchConvNeXt && n.StemWidth <= 0 {
		return fmt.Errorf("stem_width %d must be positive", n.StemWidth)
	}
	if n.Stem != "" && n.Stem != StemResNet {
		return fmt.Errorf("stem %q: want \"\" (the arch's own) or %q", n.Stem, StemResNet)
	}
	if n.Arch != ArchConvNeXt && (n.Stem != "" || n.PadDownsample || n.LayerScale != 0 || n.Kernel != 0) {
		return fmt.Errorf("stem, pad_downsample, layer_scale and kernel are convnext knobs, not %s's", n.Arch)
	}
	if n.Arch == ArchResNeXt {
		if n.Cardinality < 1 {
			return fmt.Errorf("resnext: cardinality %d must be ≥ 1", n.Cardinality)
		}
		if n.GroupWidth < 0 || (n.GroupWidth == 0 && n.CostScale <= 0) {
			return fmt.Errorf("resnext: group_width %d with cost_scale %g: give a group width or a positive cost scale",
				n.GroupWidth, n.CostScale)
		}
	}
	return nil
}

// Label names the network the way the papers do: "basic", "bottleneck", "resnext 4×6d"
// (cardinality × width of a path in the first stage; "resnext 1×16d" is the plain
// bottleneck), "convnext"; a depth other than one block per stage is appended ("[2 2 2]").
func (n Net) Label() string {
	s := n.Arch
	if n.Arch == ArchResNeXt {
		s = fmt.Sprintf("resnext %d×%dd", n.Cardinality, n.StageGroupWidth(0))
	}
	if slices.ContainsFunc(n.Blocks, func(b int) bool { return b != 1 }) {
		s += fmt.Sprint(" ", n.Blocks)
	}
	return s
}

// BottleneckParams is the parameter count of a bottleneck block's three convolutions and
// their BatchNorms when its input and output have `out` channels and its middle has `width`
// channels in `groups` groups: out·w (1×1 reduce) + 9·w·w/groups (3×3) + w·out (1×1 expand)
// + 2·(w + w + out) (BN γ, β).
func BottleneckParams(out, width, groups int) int {
	return out*width + 9*width*width/groups + width*out + 2*(2*width+out)
}

// MatchedGroupWidth returns d, the per-path width of a ResNeXt block with the given planes and
// cardinality whose parameters come closest to scale × those of the plain bottleneck
// (cardinality 1, width = planes). It is how the paper builds Table 2's templates
// (1×64d, 2×40d, 4×24d, 8×14d, 32×4d at planes 64).
func MatchedGroupWidth(planes, cardinality int, scale float64) int {
	out := planes * nn.BottleneckExpansion
	target := scale * float64(BottleneckParams(out, planes, 1))
	best, bestErr := 1, math.Inf(1)
	for d := 1; d <= 4*planes; d++ {
		p := float64(BottleneckParams(out, cardinality*d, cardinality))
		if e := math.Abs(p - target); e < bestErr {
			best, bestErr = d, e
		}
	}
	return best
}

// StageGroupWidth is d for stage s (0-based): GroupWidth scaled with the planes, or the
// matched width. Plain bottlenecks have one path of Planes[s] channels.
func (n Net) StageGroupWidth(s int) int {
	switch n.Arch {
	case ArchResNeXt:
		if n.GroupWidth > 0 {
			return max(1, n.GroupWidth*n.Planes[s]/n.Planes[0])
		}
		return MatchedGroupWidth(n.Planes[s], n.Cardinality, n.CostScale)
	case ArchBottleneck:
		return n.Planes[s]
	}
	return 0
}

// blockConfig is the pkg/nn bottleneck config of stage s. pkg/nn (like timm) derives the
// middle width as ⌊planes·base_width/64⌋·cardinality; base_width = ⌈64·d/planes⌉ makes that
// exactly d·cardinality for planes ≤ 64·d.
func (n Net) blockConfig(s int) nn.BottleneckConfig {
	card := 1
	if n.Arch == ArchResNeXt {
		card = n.Cardinality
	}
	d := n.StageGroupWidth(s)
	p := n.Planes[s]
	cfg := nn.BottleneckConfig{Planes: p, Cardinality: card, BaseWidth: (64*d + p - 1) / p}
	if cfg.Width() != card*d {
		// Only reachable for d < planes/64, far outside this lesson's sizes.
		panic(fmt.Errorf("bottleneck stage %d: cannot express %d×%dd at planes %d in timm's base_width", s+1, card, d, p))
	}
	return cfg
}

// convNeXtConfig is the pkg/nn ConvNeXt for 28×28 digits: a 2×2 patchify stem (14×14), then
// stages that halve the map (14, 7, 3).
func (n Net) convNeXtConfig() nn.ConvNeXtConfig {
	strides := make([]int, len(n.Planes))
	for i := range strides {
		strides[i] = 2
	}
	strides[0] = 1
	return nn.ConvNeXtConfig{InChannels: 1, NumClasses: Classes, PatchSize: 2, Depths: n.Blocks, Dims: n.Planes,
		Kernel: n.Kernel, Strides: strides}
}

// Classes is the number of MNIST digits.
const Classes = 10

// Features computes the network's feature maps — after the stem and after each stage — for
// images [B, 28, 28, 1], with the same variables as Logits. It panics (GoMLX's convention) on
// an invalid Net.
func (n Net) Features(scope *model.Scope, x *Node) []*Node {
	if err := n.Validate(); err != nil {
		panic(err)
	}
	if n.Arch == ArchConvNeXt {
		return n.convNeXtFeatures(scope, x)
	}
	return nn.ResNetFeatures(n.resNetConfig())(scope, x)
}

// resNetConfig is the pkg/nn ResNet of a basic, bottleneck or ResNeXt Net: a 3×3 stride-2
// stem (14×14), then stages that halve the map, each stage's 3×3 as wide as the Net asks.
func (n Net) resNetConfig() nn.ResNetConfig {
	cfg := nn.ResNetConfig{InChannels: 1, NumClasses: Classes, StemWidth: n.StemWidth, StemStride: 2,
		Bottleneck: n.Arch != ArchBasic, Layers: n.Blocks, Planes: n.Planes}
	if cfg.Bottleneck {
		for s := range n.Planes {
			b := n.blockConfig(s)
			cfg.Cardinality = b.Cardinality
			cfg.BaseWidths = append(cfg.BaseWidths, b.BaseWidth)
		}
	}
	return cfg
}

// convNeXtFeatures is nn.ConvNeXt up to the head, keeping the stem's and each stage's output,
// with the lesson's two controls: the ResNets' stem and padded downsampling.
func (n Net) convNeXtFeatures(scope *model.Scope, x *Node) []*Node {
	cfg := n.convNeXtConfig()
	ls := n.LayerScale
	if ls == 0 {
		ls = 1e-6
	}
	if n.Stem == StemResNet {
		stem := scope.In("stem")
		x = nn.Conv2d(stem.In("0"), x, nn.Conv2dConfig{Out: cfg.Dims[0], Kernel: 3, Stride: 2, Padding: 1})
		x = nn.ReLU(nn.BatchNorm2d(stem.In("1"), x, nn.BatchNormConfig{}))
	} else {
		x = nn.ConvNeXtStem(scope.In("stem"), x, cfg.Dims[0], cfg.PatchSize)
	}
	feats := []*Node{x}
	stages := scope.In("stages")
	for i, depth := range cfg.Depths {
		if n.PadDownsample && cfg.Strides[i] == 2 {
			x = padToEven(x)
		}
		x = nn.ConvNeXtStage(stages.In("%d", i), x, nn.ConvNeXtStageConfig{
			Out: cfg.Dims[i], Depth: depth, Stride: cfg.Strides[i], Kernel: cfg.Kernel, LayerScale: ls,
		})
		feats = append(feats, x)
	}
	return feats
}

// padToEven pads a [B, H, W, C] map with a zero row at the bottom and a zero column on the
// right where H or W is odd, so a 2×2 stride-2 conv covers every row and column. It
// concatenates zeros rather than calling Pad, which has no gradient in GoMLX v0.28.2.
func padToEven(x *Node) *Node {
	for _, axis := range []int{1, 2} {
		d := x.Shape().Dimensions
		if d[axis]%2 == 0 {
			continue
		}
		zd := slices.Clone(d)
		zd[axis] = 1
		x = Concatenate([]*Node{x, Zeros(x.Graph(), shapes.Make(x.DType(), zd...))}, axis)
	}
	return x
}

// Logits is the classifier: features, global average pool, (ConvNeXt: head LayerNorm), fc.
func (n Net) Logits(scope *model.Scope, x *Node) *Node {
	if n.Arch != ArchConvNeXt {
		if err := n.Validate(); err != nil {
			panic(err)
		}
		return nn.ResNet(n.resNetConfig())(scope, x)
	}
	feats := n.Features(scope, x)
	head := scope.In("head")
	pooled := nn.LayerNorm(head.In("norm"), nn.GlobalAvgPool2d(feats[len(feats)-1]), 1e-6)
	return nn.Linear(head.In("fc"), pooled, Classes, true)
}

// StageNames names Features' outputs.
func (n Net) StageNames() []string {
	names := []string{"stem"}
	for s := range n.Planes {
		names = append(names, fmt.Sprintf("stage %d", s+1))
	}
	return names
}
