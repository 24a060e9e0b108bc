package ensembles

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn"
)

// The networks of the lesson. The first three share one layout — a 3×3 stride-2 stem, stages of
// basic blocks (the first block of every stage after the first halves the map), global average
// pooling, a linear head — and differ only in the block; the DenseNet concatenates instead.
const (
	// ArchResNet is the original (post-activation) ResNet: ReLU(x + F(x)).
	ArchResNet = "resnet"
	// ArchPlain is the same network without shortcuts: ReLU(F(x)), a VGG-style stack.
	ArchPlain = "plain"
	// ArchPreAct is the pre-activation ResNet (He et al. 2016): x + F(x), BN and ReLU inside F.
	ArchPreAct = "preact"
	// ArchDenseNet concatenates every layer's output to its input (DenseNet-BC).
	ArchDenseNet = "densenet"
)

// Archs lists the networks in the order the lesson shows them.
var Archs = []string{ArchResNet, ArchPlain, ArchPreAct, ArchDenseNet}

// Net describes one network of the lesson.
type Net struct {
	Arch string `json:"arch" help:"resnet (post-activation), plain (no shortcuts), preact (pre-activation) or densenet"`
	// StemWidth is the channels of the stride-2 stem conv.
	StemWidth int `json:"stem_width" help:"channels of the stride-2 stem"`
	// Widths are the stages' channels (resnet, plain, preact); Blocks the basic blocks per stage,
	// or, for a DenseNet, the dense layers per block.
	Widths []int `json:"widths" help:"channels per stage (resnet, plain, preact)"`
	Blocks []int `json:"blocks" help:"basic blocks per stage, or dense layers per dense block"`
	// Growth is a DenseNet's k: the channels each dense layer adds.
	Growth int `json:"growth" help:"densenet: channels each layer adds (k)"`
}

// Classes is the number of MNIST digits.
const Classes = 10

// Validate reports a Net that cannot be built.
func (n Net) Validate() error {
	if !slices.Contains(Archs, n.Arch) {
		return fmt.Errorf("arch %q: want one of %v", n.Arch, Archs)
	}
	if n.StemWidth <= 0 || len(n.Blocks) == 0 {
		return fmt.Errorf("stem_width %d, blocks %v: need a positive stem and at least one stage", n.StemWidth, n.Blocks)
	}
	for i, b := range n.Blocks {
		if b <= 0 {
			return fmt.Errorf("stage %d: %d blocks", i+1, b)
		}
	}
	if n.Arch == ArchDenseNet {
		if n.Growth <= 0 {
			return fmt.Errorf("densenet: growth %d must be positive", n.Growth)
		}
		return nil
	}
	if len(n.Widths) != len(n.Blocks) {
		return fmt.Errorf("widths %v and blocks %v: one width per stage", n.Widths, n.Blocks)
	}
	for i, w := range n.Widths {
		if w <= 0 {
			return fmt.Errorf("stage %d: width %d", i+1, w)
		}
	}
	return nil
}

// ResNetConfig is the pkg/nn ResNet of a resnet, plain or preact Net.
func (n Net) ResNetConfig() nn.ResNetConfig {
	return nn.ResNetConfig{InChannels: 1, NumClasses: Classes, StemWidth: n.StemWidth, StemStride: 2, Layers: n.Blocks,
		Planes: n.Widths, PreAct: n.Arch == ArchPreAct, NoShortcut: n.Arch == ArchPlain}
}

// Block is one basic block of a resnet-family network, in forward order.
type Block struct {
	// Name is timm's module name, "layer2.0".
	Name  string
	Stage int
	// In and Out are the block's channels; Stride 2 when it halves the map.
	In, Out, Stride int
}

// Downsampling tells whether the block changes the map size (and the channels).
func (b Block) Downsampling() bool { return b.Stride != 1 || b.In != b.Out }

// BlockList lists the basic blocks of a resnet-family network (none for a DenseNet).
func (n Net) BlockList() []Block {
	if n.Arch == ArchDenseNet {
		return nil
	}
	var out []Block
	in := n.StemWidth
	for s, count := range n.Blocks {
		for i := range count {
			stride := 1
			if i == 0 && s > 0 {
				stride = 2
			}
			out = append(out, Block{Name: fmt.Sprintf("layer%d.%d", s+1, i), Stage: s, In: in, Out: n.Widths[s], Stride: stride})
			in = n.Widths[s]
		}
	}
	return out
}

// Logits is the classifier: images [B, 28, 28, 1] → logits [B, 10]. It panics (GoMLX's
// convention) on an invalid Net.
func (n Net) Logits(scope *model.Scope, x *graph.Node) *graph.Node {
	if err := n.Validate(); err != nil {
		panic(err)
	}
	if n.Arch == ArchDenseNet {
		return n.denseNet(scope, x)
	}
	return nn.ResNet(n.ResNetConfig())(scope, x)
}

// LogitsKeeping is Logits of a resnet-family network with block i's residual branch scaled by
// keep[i] (a [blocks] float input): 1 keeps the block, 0 deletes it at test time — the block is
// replaced by its shortcut, as in Veit et al. (2016), so one compiled graph evaluates every
// deletion. A deleted block of the network without shortcuts is replaced by the parameter-free
// shortcut (nn.ShortcutOptionA: the identity, subsampled and zero-padded where the block
// downsamples), the only replacement that keeps the shape and learns nothing. With keep all
// ones it computes exactly Logits (the test checks it), on the same variables.
func (n Net) LogitsKeeping(scope *model.Scope, x, keep *graph.Node) *graph.Node {
	if err := n.Validate(); err != nil {
		panic(err)
	}
	if n.Arch == ArchDenseNet {
		panic(fmt.Errorf("deleting blocks: a densenet has no blocks to replace by a shortcut"))
	}
	cfg := n.ResNetConfig()
	x = nn.Conv2d(scope.In("conv1"), x, nn.Conv2dConfig{Out: cfg.StemWidth, Kernel: 3, Stride: cfg.StemStride, Padding: 1})
	x = nn.ReLU(nn.BatchNorm2d(scope.In("bn1"), x, nn.BatchNormConfig{}))
	stages := make([]*model.Scope, len(n.Blocks))
	for s := range stages {
		stages[s] = scope.In("layer%d", s+1)
	}
	for i, b := range n.BlockList() {
		g := graph.Reshape(graph.Slice(keep, graph.AxisElem(i))) // a scalar: broadcasts over the map
		blk := stages[b.Stage].In("%d", i-n.firstOfStage(b.Stage))
		r, s := nn.BasicBlockParts(blk, x, nn.BasicBlockConfig{Planes: b.Out, Stride: b.Stride, PreAct: cfg.PreAct, NoShortcut: cfg.NoShortcut})
		switch n.Arch {
		case ArchResNet:
			x = nn.ReLU(graph.Add(s, graph.Mul(g, r)))
		case ArchPreAct:
			x = graph.Add(s, graph.Mul(g, r))
		case ArchPlain:
			a := nn.ShortcutOptionA(x, b.Out, b.Stride)
			x = graph.Add(graph.Mul(g, nn.ReLU(r)), graph.Mul(graph.OneMinus(g), a))
		}
	}
	if cfg.PreAct {
		x = nn.PreActFinalNorm(scope, x)
	}
	return nn.Linear(scope.In("fc"), nn.GlobalAvgPool2d(x), Classes, true)
}

// firstOfStage is the index of stage s's first block.
func (n Net) firstOfStage(s int) int {
	i := 0
	for k := range s {
		i += n.Blocks[k]
	}
	return i
}

// denseNet is a DenseNet-BC for digits with timm's names: a 3×3 stride-2 stem ("features.conv0",
// "features.norm0"), dense blocks ("features.denseblock<i>") of Blocks[i] layers of growth k,
// transitions halving the channels and the map between them ("features.transition<i>"), a final
// BN ("features.norm5"), global average pooling and the classifier.
func (n Net) denseNet(scope *model.Scope, x *graph.Node) *graph.Node {
	f := scope.In("features")
	x = nn.Conv2d(f.In("conv0"), x, nn.Conv2dConfig{Out: n.StemWidth, Kernel: 3, Stride: 2, Padding: 1})
	x = nn.ReLU(nn.BatchNorm2d(f.In("norm0"), x, nn.BatchNormConfig{}))
	for i, layers := range n.Blocks {
		x = nn.DenseBlock(f.In("denseblock%d", i+1), x, nn.DenseBlockConfig{Layers: layers, Growth: n.Growth})
		if i < len(n.Blocks)-1 {
			x = nn.DenseTransition(f.In("transition%d", i+1), x, x.Shape().Dimensions[3]/2)
		}
	}
	x = nn.ReLU(nn.BatchNorm2d(f.In("norm5"), x, nn.BatchNormConfig{}))
	return nn.Linear(scope.In("classifier"), nn.GlobalAvgPool2d(x), Classes, true)
}

// Label names the network: "resnet [3 3 3]", "densenet [4 4 4] k=12".
func (n Net) Label() string {
	if n.Arch == ArchDenseNet {
		return fmt.Sprintf("%s %v k=%d", n.Arch, n.Blocks, n.Growth)
	}
	return fmt.Sprintf("%s %v", n.Arch, n.Blocks)
}
