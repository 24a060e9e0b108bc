package dropout

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// NetConfig is the config of the lesson's network and of its registered experiment: the model
// knobs (width, depth, the two kinds of drop) and the data sizes. Every field is a flag of
// `gostudy ablate dropout` under its json name.
type NetConfig struct {
	experiment.Train
	// Width is the number of channels of the stem and of the first stage; each later stage
	// doubles it.
	Width int `json:"width" help:"channels of the stem and first stage (doubled per stage)"`
	// Depths is the number of residual blocks per stage. Every stage after the first starts
	// with a stride-2 block.
	Depths []int `json:"depths" help:"residual blocks per stage"`
	// Hidden is the width of the classifier's hidden layer (flattened features → fc1 → ReLU →
	// Dropout → fc).
	Hidden int `json:"hidden" help:"hidden units of the classifier head"`
	// Dropout is the element-wise drop probability p of the head's hidden units — where
	// Srivastava et al. (2014) put dropout, and where ViT's MLP has it.
	Dropout float64 `json:"dropout" help:"element-wise drop probability p of the head's hidden units"`
	// BranchDropout is an element-wise drop probability inside every residual branch, between
	// its two convolutions (as in Wide ResNets); 0 by default.
	BranchDropout float64 `json:"branch_dropout" help:"element-wise drop probability inside residual branches"`
	// DropPath is the stochastic-depth rate of the last residual block; earlier blocks get
	// linearly smaller rates, from 0 at the first block (timm's drop_path_rate schedule).
	DropPath float64 `json:"drop_path" help:"stochastic depth: drop rate of the last block's branch (linear from 0)"`
	// NoRescale drops without dividing the kept units by 1−p (the naive dropout whose
	// train/eval mismatch the lesson measures); it applies to Dropout and DropPath alike.
	NoRescale bool `json:"no_rescale" help:"drop without the 1/(1-p) factor"`
	// TrainSize and ValSize are drawn, disjoint, from MNIST's training split (the same images
	// for every seed); TestSize images come from the test split.
	TrainSize int `json:"train_size" help:"training images (from MNIST train)"`
	ValSize   int `json:"val_size" help:"validation images (from MNIST train, disjoint)"`
	TestSize  int `json:"test_size" help:"test images (from MNIST test)"`
	// EvalBatch is the batch size of validation and test; it should divide both sizes, so
	// that one evaluation graph serves them all.
	EvalBatch int `json:"eval_batch" help:"evaluation batch size"`
	// MaxShift is the training augmentation: random shifts of up to this many pixels.
	MaxShift int `json:"max_shift" help:"random shift augmentation (pixels)"`
}

// Validate implements the check the experiment runner calls before training.
func (c *NetConfig) Validate() error {
	switch {
	case c.Width <= 0 || len(c.Depths) == 0:
		return fmt.Errorf("width %d and depths %v must be positive and non-empty", c.Width, c.Depths)
	case c.Hidden <= 0:
		return fmt.Errorf("hidden %d must be positive", c.Hidden)
	case c.Dropout < 0 || c.Dropout >= 1 || c.BranchDropout < 0 || c.BranchDropout >= 1:
		return fmt.Errorf("dropout %g and branch_dropout %g must be in [0, 1)", c.Dropout, c.BranchDropout)
	case c.DropPath < 0 || c.DropPath >= 1:
		return fmt.Errorf("drop_path %g outside [0, 1)", c.DropPath)
	case c.BatchSize <= 0 || c.TrainSize < c.BatchSize:
		return fmt.Errorf("batch size %d and train size %d", c.BatchSize, c.TrainSize)
	case c.ValSize <= 0 || c.TestSize <= 0 || c.EvalBatch <= 0:
		return fmt.Errorf("val %d, test %d and eval batch %d must be positive", c.ValSize, c.TestSize, c.EvalBatch)
	case c.TrainSize+c.ValSize > 60000 || c.TestSize > 10000:
		return fmt.Errorf("train %d + val %d exceed MNIST's 60000 training images, or test %d its 10000",
			c.TrainSize, c.ValSize, c.TestSize)
	case c.MaxShift < 0 || c.MaxShift > 4:
		return fmt.Errorf("max_shift %d outside [0, 4]", c.MaxShift)
	}
	for _, d := range c.Depths {
		if d <= 0 {
			return fmt.Errorf("depths %v: every stage needs a block", c.Depths)
		}
	}
	return nil
}

// dropSite is one place of the network where a drop happens, as built into a graph: the
// activation before and after the drop. Kind is "dropout" or "drop_path".
type dropSite struct {
	Name          string
	Kind          string
	P             float64
	Before, After *graph.Node
}

// forward holds the options of one graph construction of the network.
type forward struct {
	cfg NetConfig
	// dropOnly makes only the drop ops run in training mode while everything else (BatchNorm)
	// runs in eval mode: MC dropout on a trained net, as PyTorch's model.eval() followed by
	// enabling the Dropout modules alone. Graph construction is sequential, so the training
	// flag can be switched on around each drop call and off after it.
	dropOnly bool
	// sites collects every drop site when not nil.
	sites *[]dropSite
}

// drop applies one drop (Dropout or DropPath, rescaled or not) and records the site.
func (f forward) drop(scope *model.Scope, name, kind string, x *graph.Node, p float64) *graph.Node {
	store := scope.Store()
	g := x.Graph()
	if f.dropOnly {
		store.SetTraining(g, true)
	}
	var y *graph.Node
	switch {
	case kind == "dropout" && !f.cfg.NoRescale:
		y = nn.Dropout(scope, x, p)
	case kind == "dropout":
		y = nn.DropoutNoRescale(scope, x, p)
	case !f.cfg.NoRescale:
		y = nn.DropPath(scope, x, p)
	default:
		y = nn.DropPathNoRescale(scope, x, p)
	}
	if f.dropOnly {
		store.SetTraining(g, false)
	}
	if f.sites != nil {
		*f.sites = append(*f.sites, dropSite{Name: name, Kind: kind, P: p, Before: x, After: y})
	}
	return y
}

// block is the lesson's residual block, ResNet's BasicBlock (He et al. 2015, Fig. 2) with the
// two kinds of drop the notes meet in ViT and Swin:
//
//	branch = BN(conv3×3(Dropout_p(ReLU(BN(conv3×3_stride(x))))))
//	y      = ReLU(shortcut(x) + DropPath_q(branch))
//
// Dropout zeroes single activations of the branch; DropPath zeroes the whole branch of a
// sample, so that sample's block is just its shortcut for this step. Names follow timm's
// BasicBlock (conv1, bn1, conv2, bn2, downsample.0/1).
func (f forward) block(scope *model.Scope, x *graph.Node, name string, planes, stride int, dropPath float64) *graph.Node {
	shortcut := x
	if stride != 1 || x.Shape().Dimensions[3] != planes {
		ds := scope.In("downsample")
		shortcut = nn.Conv2d(ds.In("0"), x, nn.Conv2dConfig{Out: planes, Kernel: 1, Stride: stride})
		shortcut = nn.BatchNorm2d(ds.In("1"), shortcut, nn.BatchNormConfig{})
	}
	y := nn.Conv2d(scope.In("conv1"), x, nn.Conv2dConfig{Out: planes, Kernel: 3, Stride: stride, Padding: 1})
	y = nn.ReLU(nn.BatchNorm2d(scope.In("bn1"), y, nn.BatchNormConfig{}))
	y = f.drop(scope.In("drop"), name+".drop", "dropout", y, f.cfg.BranchDropout)
	y = nn.Conv2d(scope.In("conv2"), y, nn.Conv2dConfig{Out: planes, Kernel: 3, Padding: 1})
	y = nn.BatchNorm2d(scope.In("bn2"), y, nn.BatchNormConfig{})
	y = f.drop(scope.In("drop_path"), name+".drop_path", "drop_path", y, dropPath)
	return nn.ReLU(graph.Add(shortcut, y))
}

// features returns the stem's output and each stage's output.
func (f forward) features(scope *model.Scope, x *graph.Node) []*graph.Node {
	cfg := f.cfg
	// A stride-2 3×3 stem: 28×28 → 14×14 keeps the CPU budget small; the pure-Go backend
	// also lacks max-pool's gradient, so no max-pool.
	x = nn.Conv2d(scope.In("conv1"), x, nn.Conv2dConfig{Out: cfg.Width, Kernel: 3, Stride: 2, Padding: 1})
	x = nn.ReLU(nn.BatchNorm2d(scope.In("bn1"), x, nn.BatchNormConfig{}))
	feats := []*graph.Node{x}
	rates := nn.DropPathRates(cfg.DropPath, cfg.Depths...)
	planes := cfg.Width
	for s, n := range cfg.Depths {
		if s > 0 {
			planes *= 2
		}
		layer := scope.In("layer%d", s+1)
		for i := range n {
			stride := 1
			if i == 0 && s > 0 {
				stride = 2
			}
			x = f.block(layer.In("%d", i), x, fmt.Sprintf("layer%d.%d", s+1, i), planes, stride, rates[s][i])
		}
		feats = append(feats, x)
	}
	return feats
}

// logits is the classifier head: flatten → fc1 → ReLU → Dropout_p → fc. A flattened head
// (rather than global average pooling) keeps where a stroke is, which learns MNIST fast.
func (f forward) logits(scope *model.Scope, last *graph.Node) *graph.Node {
	h := graph.Reshape(last, last.Shape().Dimensions[0], -1)
	h = nn.ReLU(nn.Linear(scope.In("fc1"), h, f.cfg.Hidden, true))
	h = f.drop(scope.In("head_drop"), "head.drop", "dropout", h, f.cfg.Dropout)
	return nn.Linear(scope.In("fc"), h, 10, true)
}

// Features returns a function computing, for images [B, 28, 28, 1], the feature maps after
// the stem and after each stage (the same variables as [Model]), for plots.
func Features(cfg NetConfig) func(scope *model.Scope, x *graph.Node) []*graph.Node {
	return func(scope *model.Scope, x *graph.Node) []*graph.Node { return forward{cfg: cfg}.features(scope, x) }
}

// Classifier returns the network as an nn.ModelFn: images [B, 28, 28, 1] to logits [B, 10].
func Classifier(cfg NetConfig) nn.ModelFn {
	return func(scope *model.Scope, x *graph.Node) *graph.Node {
		f := forward{cfg: cfg}
		feats := f.features(scope, x)
		return f.logits(scope, feats[len(feats)-1])
	}
}

// Model is the experiment's model function: inputs[0] is [B, 28, 28, 1] standardized MNIST,
// the output [B, 10] logits. In training mode (set by GoMLX's trainer) every drop is active;
// in evaluation mode the network is deterministic.
func Model(scope *model.Scope, cfg NetConfig, inputs []*graph.Node) []*graph.Node {
	return []*graph.Node{Classifier(cfg)(scope, inputs[0])}
}

// withSites builds the network and returns the logits, the stage features and every drop
// site; with dropOnly only the drops run in training mode.
func withSites(scope *model.Scope, cfg NetConfig, x *graph.Node, dropOnly bool) (logits *graph.Node, feats []*graph.Node, sites []dropSite) {
	f := forward{cfg: cfg, dropOnly: dropOnly, sites: &sites}
	feats = f.features(scope, x)
	logits = f.logits(scope, feats[len(feats)-1])
	return logits, feats, sites
}
