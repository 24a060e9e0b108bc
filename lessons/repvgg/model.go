package repvgg

import (
	"fmt"
	"slices"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn"
)

// The three networks of the lesson's comparison. They share one layout — a stride-2 stem, then
// stages whose first layer halves the map, global average pooling and a linear head — and the
// same number of 3×3 conv layers on the main path.
const (
	// ArchRepVGG trains every layer as RepVGG's three branches (3×3 + BN, 1×1 + BN, identity
	// BN) and fuses them into one 3×3 conv for inference.
	ArchRepVGG = "repvgg"
	// ArchPlain trains the very network the fused RepVGG is — one 3×3 conv + BN + ReLU per
	// layer, a VGG with BatchNorm — without the extra branches.
	ArchPlain = "plain"
	// ArchResNet pairs the layers into ResNet basic blocks (two 3×3 convs and an identity or
	// 1×1-projection shortcut): the same depth, with shortcuts that stay at inference.
	ArchResNet = "resnet"
)

// Archs lists the networks in the order the lesson shows them.
var Archs = []string{ArchRepVGG, ArchPlain, ArchResNet}

// Net describes one network of the lesson.
type Net struct {
	// Arch is ArchRepVGG, ArchPlain or ArchResNet.
	Arch string `json:"arch" help:"repvgg (3x3 + 1x1 + identity branches, fused for inference), plain (3x3 + BN only) or resnet (basic blocks)"`
	// StemWidth is the channels of the stride-2 stem layer.
	StemWidth int `json:"stem_width" help:"channels of the stride-2 stem"`
	// Widths and Depths are each stage's channels and number of 3×3 layers (the first one has
	// stride 2). A ResNet stage of depth d has d/2 basic blocks, so d must be even there.
	Widths []int `json:"widths" help:"channels per stage"`
	Depths []int `json:"depths" help:"3x3 conv layers per stage (resnet: two per basic block)"`
}

// Validate reports a Net that cannot be built.
func (n Net) Validate() error {
	if !slices.Contains(Archs, n.Arch) {
		return fmt.Errorf("arch %q: want one of %v", n.Arch, Archs)
	}
	if n.StemWidth <= 0 || len(n.Widths) == 0 || len(n.Widths) != len(n.Depths) {
		return fmt.Errorf("stem_width %d, widths %v, depths %v: need a positive stem and one width per stage depth",
			n.StemWidth, n.Widths, n.Depths)
	}
	for i := range n.Widths {
		if n.Widths[i] <= 0 || n.Depths[i] <= 0 {
			return fmt.Errorf("stage %d: width %d and depth %d must be positive", i+1, n.Widths[i], n.Depths[i])
		}
		if n.Arch == ArchResNet && n.Depths[i]%2 != 0 {
			return fmt.Errorf("stage %d: a resnet stage pairs its %d layers into basic blocks; use an even depth", i+1, n.Depths[i])
		}
	}
	return nil
}

// Layers is the number of 3×3 conv layers on the main path: the stem and every stage layer.
func (n Net) Layers() int {
	l := 1
	for _, d := range n.Depths {
		l += d
	}
	return l
}

// RepVGGConfig is the pkg/nn RepVGG network of a repvgg or plain Net for one-channel images
// and the given number of classes; fused selects the inference-time form.
func (n Net) RepVGGConfig(classes int, fused bool) nn.RepVGGNetConfig {
	return nn.RepVGGNetConfig{InChannels: 1, NumClasses: classes, StemWidth: n.StemWidth, Depths: n.Depths, Widths: n.Widths,
		Fused: fused, Plain: n.Arch == ArchPlain}
}

// Logits is the classifier: images [B, S, S, 1] → logits [B, classes]. It panics (GoMLX's
// convention) on an invalid Net.
func (n Net) Logits(scope *model.Scope, x *Node, classes int) *Node {
	if err := n.Validate(); err != nil {
		panic(err)
	}
	if n.Arch != ArchResNet {
		return nn.RepVGGNet(n.RepVGGConfig(classes, false))(scope, x)
	}
	return n.resNet(scope, x, classes)
}

// resNet is the ResNet of equal depth, laid out like RepVGGNet (timm's ResNet names: conv1,
// bn1, layer<i>.<j>, fc): a 3×3 stride-2 stem + BN + ReLU, then per stage depth/2 basic
// blocks, the first with stride 2 (and a 1×1 projection shortcut).
func (n Net) resNet(scope *model.Scope, x *Node, classes int) *Node {
	x = nn.Conv2d(scope.In("conv1"), x, nn.Conv2dConfig{Out: n.StemWidth, Kernel: 3, Stride: 2, Padding: 1})
	x = nn.ReLU(nn.BatchNorm2d(scope.In("bn1"), x, nn.BatchNormConfig{}))
	for s, d := range n.Depths {
		layer := scope.In("layer%d", s+1)
		for b := range d / 2 {
			stride := 1
			if b == 0 {
				stride = 2
			}
			x = nn.BasicBlock(layer.In("%d", b), x, nn.BasicBlockConfig{Planes: n.Widths[s], Stride: stride})
		}
	}
	return nn.Linear(scope.In("fc"), nn.GlobalAvgPool2d(x), classes, true)
}

// Label names the network in tables and legends: "repvgg [2 4]", "plain [2 4]", "resnet [2 4]"
// (3×3 layers per stage).
func (n Net) Label() string { return fmt.Sprintf("%s %v", n.Arch, n.Depths) }
