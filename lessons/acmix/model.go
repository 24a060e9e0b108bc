package acmix

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// The blocks of the lesson's comparison: ResNet's bottleneck with its 3×3 conv, or with ACmix
// in its place (both paths, or one of them).
const (
	// BlockConv is ResNet's bottleneck: 1×1 → 3×3 conv → 1×1.
	BlockConv = "bottleneck"
	// BlockACmix is ResNet-ACmix: the 3×3 replaced by ACmix, α·attention + β·conv.
	BlockACmix = "acmix"
	// BlockAttention keeps only ACmix's attention path (α·attention): local self-attention on the
	// shared 1×1 projections.
	BlockAttention = "attention"
	// BlockShiftConv keeps only ACmix's conv path (β·conv): the 3×3 convolution rebuilt from the
	// shared 1×1 projections, the light fully connected layer and the shift group conv.
	BlockShiftConv = "conv"
)

// Blocks lists the blocks in the order the lesson shows them.
var Blocks = []string{BlockConv, BlockACmix, BlockAttention, BlockShiftConv}

// Net is the lesson's network: a 3×3 stride-2 stem (28 → 14), stages of bottleneck blocks (the
// first of each later stage halving the map: 14, 7, 4), global average pooling and a linear
// head, with timm's ResNet names (conv1, bn1, layer<i>.<j>, fc) and the authors' ACmix names
// inside a block's conv2.
type Net struct {
	Block string `json:"block" help:"bottleneck (3x3 conv), acmix (both paths), attention or conv (one ACmix path)"`
	// Planes and Depths are each stage's bottleneck width (output 4·planes) and blocks.
	Planes []int `json:"planes" help:"bottleneck width per stage (output 4x)"`
	Depths []int `json:"depths" help:"blocks per stage"`
	// StemWidth is the stem conv's channels.
	StemWidth int `json:"stem_width" help:"channels of the stride-2 stem"`
	// Heads and KernelAtt configure ACmix (0: the paper's 4 heads and 7×7 window).
	Heads     int `json:"heads" help:"ACmix heads (0: 4)"`
	KernelAtt int `json:"kernel_att" help:"ACmix attention window (0: 7)"`
	// FigureFC builds ACmix's conv path as the paper's figure draws it (nn.ACmixConfig.FigureFC).
	FigureFC bool `json:"figure_fc" help:"ACmix conv path as the paper's figure (per-head fc) instead of the authors' code"`
}

// Validate reports a Net that cannot be built.
func (n Net) Validate() error {
	if !slices.Contains(Blocks, n.Block) {
		return fmt.Errorf("block %q: want one of %v", n.Block, Blocks)
	}
	if len(n.Planes) == 0 || len(n.Planes) != len(n.Depths) || n.StemWidth <= 0 {
		return fmt.Errorf("planes %v, depths %v, stem_width %d: need one depth per stage and a positive stem", n.Planes, n.Depths, n.StemWidth)
	}
	heads := max(n.Heads, 0)
	if heads == 0 {
		heads = 4
	}
	for i, p := range n.Planes {
		if p <= 0 || n.Depths[i] <= 0 || p%heads != 0 {
			return fmt.Errorf("stage %d: planes %d (a multiple of %d heads) and depth %d must be positive", i+1, p, heads, n.Depths[i])
		}
	}
	if n.Block == BlockConv && (n.FigureFC || n.Heads != 0 || n.KernelAtt != 0) {
		return fmt.Errorf("heads, kernel_att and figure_fc are ACmix knobs, not the bottleneck's")
	}
	return nil
}

// ACmixConfig is the ACmix module of the Net's blocks (Out is set by the bottleneck).
func (n Net) ACmixConfig() nn.ACmixConfig {
	paths := map[string]string{BlockACmix: nn.ACmixBoth, BlockAttention: nn.ACmixAttentionOnly, BlockShiftConv: nn.ACmixConvOnly}[n.Block]
	return nn.ACmixConfig{Heads: n.Heads, KernelAtt: n.KernelAtt, Paths: paths, FigureFC: n.FigureFC}
}

// BlockInfo is one block of the network, in forward order.
type BlockInfo struct {
	// Name is timm's module name ("layer2.0"); Path its scope path ("/layer2/0").
	Name, Path string
	// Side is the map side the block's 3×3 (or ACmix) runs on; Width its channels.
	Side, Width int
}

// BlockList lists the blocks of the network on 28×28 digits.
func (n Net) BlockList() []BlockInfo {
	var out []BlockInfo
	side := 14 // after the stride-2 stem
	for s, depth := range n.Depths {
		in := side
		if s > 0 {
			side = (side + 1) / 2
		}
		for j := range depth {
			// A downsampling block runs ACmix on its input map and pools after it.
			bs := side
			if j == 0 && s > 0 {
				bs = in
			}
			out = append(out, BlockInfo{Name: fmt.Sprintf("layer%d.%d", s+1, j), Path: fmt.Sprintf("/layer%d/%d", s+1, j), Side: bs, Width: n.Planes[s]})
		}
	}
	return out
}

// Logits is the classifier: digits [B, 28, 28, 1] → logits [B, 10]. It panics (GoMLX's
// convention) on an invalid Net.
func (n Net) Logits(scope *model.Scope, x *graph.Node) *graph.Node {
	if err := n.Validate(); err != nil {
		panic(err)
	}
	x = nn.Conv2d(scope.In("conv1"), x, nn.Conv2dConfig{Out: n.StemWidth, Kernel: 3, Stride: 2, Padding: 1})
	x = nn.ReLU(nn.BatchNorm2d(scope.In("bn1"), x, nn.BatchNormConfig{}))
	for s, depth := range n.Depths {
		layer := scope.In("layer%d", s+1)
		for j := range depth {
			stride := 1
			if j == 0 && s > 0 {
				stride = 2
			}
			cfg := nn.BottleneckConfig{Planes: n.Planes[s], Stride: stride}
			if n.Block == BlockConv {
				x = nn.Bottleneck(layer.In("%d", j), x, cfg)
			} else {
				x = nn.ACmixBottleneck(layer.In("%d", j), x, cfg, n.ACmixConfig())
			}
		}
	}
	return nn.Linear(scope.In("fc"), nn.GlobalAvgPool2d(x), 10, true)
}

// Label names the network: "ResNet bottleneck", "ResNet-ACmix", "ACmix attention only", ….
func (n Net) Label() string {
	s := map[string]string{BlockConv: "ResNet (3×3 conv)", BlockACmix: "ResNet-ACmix", BlockAttention: "attention path only",
		BlockShiftConv: "conv path only"}[n.Block]
	if n.FigureFC {
		s += " (figure's fc)"
	}
	return s
}

// Name is the registered experiment: `gostudy ablate acmix -grid block=bottleneck,acmix,attention,conv`.
const Name = "acmix"

// RunConfig is one training run on MNIST digits.
type RunConfig struct {
	experiment.Train
	Net
	lesson.MNIST
}

// Steps is the number of training steps of a run.
func (c *RunConfig) Steps() int { return c.MNIST.Steps(c.BatchSize, c.Epochs) }

// Validate implements the check the runner calls before training.
func (c *RunConfig) Validate() error {
	if err := c.Net.Validate(); err != nil {
		return err
	}
	return c.MNIST.ValidateRun(c.BatchSize, c.Epochs)
}

// Experiment is the registered experiment; its default config is the full budget's ResNet-ACmix.
// timm has no ACmix; export writes safetensors with timm's ResNet and the authors' ACmix
// names, and ONNX.
var Experiment = lesson.Classifier(Name, "lesson 08: ResNet bottleneck vs ResNet-ACmix vs its attention or conv path alone, on MNIST",
	func() RunConfig { return ForBudget(lesson.Full).Run }, lesson.LogitsModel[RunConfig]())

func init() { experiment.MustRegister(Experiment) }
