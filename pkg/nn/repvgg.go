package nn

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// This file: RepVGG (Ding et al., "RepVGG: Making VGG-style ConvNets Great Again", 2021,
// Fig. 4 and Sec. 3.3) with timm's names (timm.models.byobnet.RepVggBlock): the training-time
// branches conv_kxk.{conv,bn}, conv_1x1.{conv,bn} and identity (a BN), and the inference-time
// reparam_conv (weight and bias).

// repVGGBNEps is the BatchNorm epsilon of timm's RepVGG branches.
const repVGGBNEps = 1e-5

// RepVGGBlockConfig configures one RepVGG block.
type RepVGGBlockConfig struct {
	Out    int // output channels
	Stride int // 0 means 1
	Groups int // 0 means 1
	// Fused selects the inference-time form: one 3×3 conv with bias ("reparam_conv"), whose
	// weights come from RepVGGReparameterize.
	Fused bool
	// Plain keeps only the 3×3 branch (conv_kxk: conv + BN): the single-branch VGG-style block
	// the paper trains as its baseline ("plain" in Table 6). It fuses like the full block.
	Plain bool
}

func (c RepVGGBlockConfig) withDefaults() RepVGGBlockConfig {
	c.Stride = max(c.Stride, 1)
	c.Groups = max(c.Groups, 1)
	return c
}

// hasIdentity tells whether the block has the identity (BN-only) branch: only when the
// output can be added to the input, as in the paper.
func (c RepVGGBlockConfig) hasIdentity(in int) bool {
	return !c.Plain && in == c.Out && c.Stride == 1
}

// RepVGGBlock is ReLU(BN(conv3×3(x)) + BN(conv1×1(x)) + BN(x)) at training time (the identity
// branch only when shapes allow), or ReLU(conv3×3'(x) + b') once fused (cfg.Fused). Every
// branch is linear in x in eval mode, so the three collapse into one 3×3 conv: the network
// trains like a ResNet (multi-branch) and runs like a VGG (one conv per layer).
func RepVGGBlock(scope *model.Scope, x *graph.Node, cfg RepVGGBlockConfig) *graph.Node {
	cfg = cfg.withDefaults()
	if cfg.Fused {
		y := Conv2d(scope.In("reparam_conv"), x, Conv2dConfig{Out: cfg.Out, Kernel: 3, Stride: cfg.Stride,
			Padding: 1, Groups: cfg.Groups, Bias: true})
		return ReLU(y)
	}
	in := channels(x)
	kxk := scope.In("conv_kxk")
	y := Conv2d(kxk.In("conv"), x, Conv2dConfig{Out: cfg.Out, Kernel: 3, Stride: cfg.Stride, Padding: 1, Groups: cfg.Groups})
	y = BatchNorm2d(kxk.In("bn"), y, BatchNormConfig{Eps: repVGGBNEps})
	if cfg.Plain {
		return ReLU(y)
	}
	one := scope.In("conv_1x1")
	z := Conv2d(one.In("conv"), x, Conv2dConfig{Out: cfg.Out, Kernel: 1, Stride: cfg.Stride, Groups: cfg.Groups})
	y = graph.Add(y, BatchNorm2d(one.In("bn"), z, BatchNormConfig{Eps: repVGGBNEps}))
	if cfg.hasIdentity(in) {
		y = graph.Add(y, BatchNorm2d(scope.In("identity"), x, BatchNormConfig{Eps: repVGGBNEps}))
	}
	return ReLU(y)
}

// foldBN folds an eval-mode BN into the conv before it: W·γ/σ and β − μ·γ/σ, σ = √(var+eps).
func foldBN(w *graph.Node, bn bnParams) (*graph.Node, *graph.Node) {
	t := graph.Div(bn.gamma, graph.Sqrt(graph.AddScalar(bn.variance, repVGGBNEps))) // [Out]
	wf := graph.Mul(w, graph.Reshape(t, -1, 1, 1, 1))
	return wf, graph.Sub(bn.beta, graph.Mul(bn.mean, t))
}

// RepVGGFusedKernel computes, as graph ops over the block's branch variables in scope, the
// single 3×3 kernel [Out, In/Groups, 3, 3] and bias [Out] equal to the three branches in eval
// mode (Sec. 3.3): each BN is folded into its conv, the 1×1 kernel is zero-padded to 3×3
// (its value sits at the centre), and the identity becomes a 3×3 kernel with a 1 at the
// centre of channel i → i; the three kernels and biases are summed.
func RepVGGFusedKernel(scope *model.Scope, g *graph.Graph, in int, cfg RepVGGBlockConfig) (kernel, bias *graph.Node) {
	cfg = cfg.withDefaults()
	inPerGroup := in / cfg.Groups
	kxk, one := scope.In("conv_kxk"), scope.In("conv_1x1")
	w3 := convWeight(kxk.In("conv"), g, cfg.Out, inPerGroup, 3)
	kernel, bias = foldBN(w3, getBN(kxk.In("bn"), g, cfg.Out))
	if cfg.Plain {
		return kernel, bias
	}
	w1 := convWeight(one.In("conv"), g, cfg.Out, inPerGroup, 1)
	k1, b1 := foldBN(w1, getBN(one.In("bn"), g, cfg.Out))
	k1 = graph.Pad(k1, graph.ScalarZero(g, DType), compute.PadAxis{}, compute.PadAxis{},
		compute.PadAxis{Start: 1, End: 1}, compute.PadAxis{Start: 1, End: 1})
	kernel, bias = graph.Add(kernel, k1), graph.Add(bias, b1)
	if cfg.hasIdentity(in) {
		id := make([]float32, cfg.Out*inPerGroup*9)
		for i := range cfg.Out {
			id[(i*inPerGroup+i%inPerGroup)*9+4] = 1 // centre of the 3×3
		}
		idKernel := graph.Const(g, tensors.FromFlatDataAndDimensions(id, cfg.Out, inPerGroup, 3, 3))
		ki, bi := foldBN(idKernel, getBN(scope.In("identity"), g, cfg.Out))
		kernel, bias = graph.Add(kernel, ki), graph.Add(bias, bi)
	}
	return kernel, bias
}

// RepVGGReparameterize computes the fused kernel of the block whose variables live under
// scopePath in store (as RepVGGFusedKernel, run once on backend) and stores it as the
// block's "reparam_conv/weight" and "reparam_conv/bias", so RepVGGBlock with Fused set uses
// it. The branch variables are kept; in is the block's input channel count.
func RepVGGReparameterize(backend compute.Backend, store *model.Store, scopePath string, in int, cfg RepVGGBlockConfig) error {
	// Fusing must read trained values: refuse rather than let the graph create fresh random
	// variables for a wrong path.
	cfg = cfg.withDefaults()
	required := []string{"conv_kxk/conv/weight"}
	branches := []string{"conv_kxk/bn"}
	if !cfg.Plain {
		required = append(required, "conv_1x1/conv/weight")
		branches = append(branches, "conv_1x1/bn")
	}
	for _, branch := range branches {
		for _, name := range []string{"weight", "bias", "running_mean", "running_var"} {
			required = append(required, branch+"/"+name)
		}
	}
	if cfg.hasIdentity(in) {
		required = append(required, "identity/weight", "identity/bias", "identity/running_mean", "identity/running_var")
	}
	for _, r := range required {
		if v := store.GetVariable(model.JoinPath(scopePath, r)); v == nil || !v.HasValue() {
			return fmt.Errorf("reparameterize RepVGG block %s: variable %s missing or not initialized", scopePath, r)
		}
	}
	scope := store.Scope(scopePath)
	outs, err := model.ExecOnceN(backend, store, func(_ *model.Scope, g *graph.Graph) []*graph.Node {
		k, b := RepVGGFusedKernel(scope.ResetVisited(), g, in, cfg)
		return []*graph.Node{k, b}
	})
	if err != nil {
		return fmt.Errorf("reparameterize RepVGG block %s: %w", scopePath, err)
	}
	for i, name := range []string{"weight", "bias"} {
		path := model.JoinPath(scopePath, "reparam_conv", name)
		if v := store.GetVariable(path); v != nil {
			if err := v.SetValue(outs[i]); err != nil {
				return fmt.Errorf("reparameterize RepVGG block %s: set %s: %w", scopePath, name, err)
			}
			continue
		}
		if _, err := store.CreateVariable(path, outs[i]); err != nil {
			return fmt.Errorf("reparameterize RepVGG block %s: create %s: %w", scopePath, name, err)
		}
	}
	return nil
}

// RepVGGNetConfig configures a small RepVGG classifier: a stride-2 stem block, stages of
// blocks whose first block has stride 2, global average pooling and a linear head.
type RepVGGNetConfig struct {
	InChannels int
	NumClasses int
	StemWidth  int
	Depths     []int // blocks per stage
	Widths     []int // channels per stage
	Fused      bool  // build the inference-time (single 3×3 conv per block) network
	// Plain trains every block with its 3×3 branch only (RepVGGBlockConfig.Plain): the same
	// network as the fused one, trained as a VGG with BatchNorm.
	Plain bool
}

// RepVGGTiny28 is a small RepVGG for 28×28 one-channel images: stem to 14×14, stages at 7
// and 4 (rounded up by the padded stride-2 convs).
func RepVGGTiny28() RepVGGNetConfig {
	return RepVGGNetConfig{InChannels: 1, NumClasses: 10, StemWidth: 16, Depths: []int{2, 2}, Widths: []int{32, 64}}
}

// blocks lists every block of the network as (scope path, input channels, config), in order.
func (cfg RepVGGNetConfig) blocks() (paths []string, ins []int, cfgs []RepVGGBlockConfig) {
	paths = append(paths, "/stem")
	ins = append(ins, cfg.InChannels)
	cfgs = append(cfgs, RepVGGBlockConfig{Out: cfg.StemWidth, Stride: 2, Fused: cfg.Fused, Plain: cfg.Plain})
	in := cfg.StemWidth
	for s, depth := range cfg.Depths {
		for b := range depth {
			stride := 1
			if b == 0 {
				stride = 2
			}
			paths = append(paths, fmt.Sprintf("/stages/%d/%d", s, b))
			ins = append(ins, in)
			cfgs = append(cfgs, RepVGGBlockConfig{Out: cfg.Widths[s], Stride: stride, Fused: cfg.Fused, Plain: cfg.Plain})
			in = cfg.Widths[s]
		}
	}
	return
}

// Blocks lists the network's blocks in order: each one's scope path under the model's root
// ("/stem", "/stages/<i>/<j>"), input channels and config — what RepVGGReparameterize takes,
// and what a lesson needs to run or fuse a single block of a trained network.
func (cfg RepVGGNetConfig) Blocks() (paths []string, ins []int, cfgs []RepVGGBlockConfig) {
	return cfg.blocks()
}

// RepVGGNet returns the model function for cfg (input [B, H, W, InChannels], logits
// [B, NumClasses]). Variables are stem, stages.i.j and head.fc.
func RepVGGNet(cfg RepVGGNetConfig) ModelFn {
	return func(scope *model.Scope, x *graph.Node) *graph.Node {
		_, _, cfgs := cfg.blocks()
		x = RepVGGBlock(scope.In("stem"), x, cfgs[0])
		stages := scope.In("stages")
		i := 1
		for s, depth := range cfg.Depths {
			stage := stages.In("%d", s)
			for b := range depth {
				x = RepVGGBlock(stage.In("%d", b), x, cfgs[i])
				i++
			}
		}
		return Linear(scope.In("head").In("fc"), GlobalAvgPool2d(x), cfg.NumClasses, true)
	}
}

// RepVGGReparameterizeNet fuses every block of a trained RepVGGNet whose variables are at the
// store's root, after which RepVGGNet with Fused set computes the same function with one conv
// per block (the branch variables stay in the store; the fused model does not read them).
func RepVGGReparameterizeNet(backend compute.Backend, store *model.Store, cfg RepVGGNetConfig) error {
	cfg.Fused = false
	paths, ins, cfgs := cfg.blocks()
	for i, p := range paths {
		if err := RepVGGReparameterize(backend, store, p, ins[i], cfgs[i]); err != nil {
			return err
		}
	}
	return nil
}
