package dropout

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn"
)

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
	cfg RunConfig
	// dropOnly makes only the drop ops run in training mode while everything else (BatchNorm)
	// runs in eval mode: MC dropout on a trained net, as PyTorch's model.eval() followed by
	// enabling the Dropout modules alone. Graph construction is sequential, so the training
	// flag can be switched on around each drop call and off after it.
	dropOnly bool
	// sites collects every drop site when not nil.
	sites *[]dropSite
}

// Drop applies one drop of kind "dropout" (single elements) or "drop_path" (whole samples)
// with probability p, in a scaling convention (Inverted, Original or None): in training mode
// pkg/nn's op with or without the 1/(1−p) factor; in evaluation mode x, or (1−p)·x for Original.
// It is the one drop the lesson's network and its measurements use.
func Drop(scope *model.Scope, x *graph.Node, p float64, kind, scaling string) *graph.Node {
	switch {
	case !scope.IsTraining(x.Graph()) || p == 0:
		if scaling == Original && p > 0 {
			return graph.MulScalar(x, 1-p)
		}
		return x
	case kind == "dropout" && scaling == Inverted:
		return nn.Dropout(scope, x, p)
	case kind == "dropout":
		return nn.DropoutNoRescale(scope, x, p)
	case scaling == Inverted:
		return nn.DropPath(scope, x, p)
	default:
		return nn.DropPathNoRescale(scope, x, p)
	}
}

// drop applies [Drop] in the config's convention, with only the drops in training mode when
// dropOnly, and records the site.
func (f forward) drop(scope *model.Scope, name, kind string, x *graph.Node, p float64) *graph.Node {
	store := scope.Store()
	g := x.Graph()
	if f.dropOnly {
		store.SetTraining(g, true)
	}
	y := Drop(scope, x, p, kind, f.cfg.Scaling)
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
	x = f.drop(scope.In("input_drop"), "input.drop", "dropout", x, cfg.InputDropout)
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

// Classifier returns the network as an nn.ModelFn: images [B, 28, 28, 1] to logits [B, 10].
func Classifier(cfg RunConfig) nn.ModelFn {
	return func(scope *model.Scope, x *graph.Node) *graph.Node {
		f := forward{cfg: cfg}
		feats := f.features(scope, x)
		return f.logits(scope, feats[len(feats)-1])
	}
}

// Model is the experiment's model function: inputs[0] is [B, 28, 28, 1] standardized MNIST,
// the output [B, 10] logits. In training mode (set by GoMLX's trainer) every drop is active;
// in evaluation mode the network is deterministic (an Original drop scales by 1−p).
func Model(scope *model.Scope, cfg RunConfig, inputs []*graph.Node) []*graph.Node {
	return []*graph.Node{Classifier(cfg)(scope, inputs[0])}
}

// withSites builds the network and returns the logits, the stage features and every drop
// site; with dropOnly only the drops run in training mode.
func withSites(scope *model.Scope, cfg RunConfig, x *graph.Node, dropOnly bool) (logits *graph.Node, feats []*graph.Node, sites []dropSite) {
	f := forward{cfg: cfg, dropOnly: dropOnly, sites: &sites}
	feats = f.features(scope, x)
	logits = f.logits(scope, feats[len(feats)-1])
	return logits, feats, sites
}
