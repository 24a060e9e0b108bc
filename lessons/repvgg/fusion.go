package repvgg

import (
	"context"
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// bnEps is the BatchNorm epsilon of RepVGG's branches (timm's).
const bnEps = 1e-5

// Step is one step of the fusion (Sec. 3.3 of the paper), measured on a block of the trained
// network in eval mode, on the block's real input for real digits.
type Step struct {
	Step string `display:"step"`
	// Train and Infer are the two forms compared.
	Train string `display:"training-time form"`
	Infer string `display:"inference-time form"`
	// MaxAbsDiff is the largest |difference| of their outputs; MaxAbsOutput the largest
	// |output|, for scale.
	MaxAbsDiff   float64 `display:"max |difference|;format=%.2g"`
	MaxAbsOutput float64 `display:"outputs up to;format=%.3g"`
}

// Fusion is the fusion of one block, step by step.
type Fusion struct {
	// Block is the block's scope path ("/stages/0/1"); In its input channels.
	Block string
	In    int
	Steps []Step
	// Kernels are the folded 3×3 kernels from output channel 0 to input channel 0 of the
	// three branches and their sum, [branch][row][col]: the 3×3 branch, the 1×1 branch padded
	// (its value at the centre), the identity (γ/σ at the centre) and the fused kernel.
	Kernels [4][][]float64
	// KernelDiff is max |sum of the three folded kernels − the library's fused kernel|
	// (nn.RepVGGReparameterize's reparam_conv.weight), over every channel.
	KernelDiff float64
}

// KernelNames names Fusion.Kernels.
var KernelNames = [4]string{"3×3 branch (BN folded)", "1×1 branch, padded to 3×3", "identity branch as 3×3", "fused kernel (their sum)"}

// IdentityBlock is the index (in nn.RepVGGNetConfig.Blocks order) of the network's first block
// with all three branches: stride 1, as many channels out as in.
func (n Net) IdentityBlock() (int, error) {
	paths, ins, cfgs := n.RepVGGConfig(10, false).Blocks()
	for i := range paths {
		if cfgs[i].Stride == 1 && ins[i] == cfgs[i].Out {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%s has no block with an identity branch", n.Label())
}

// blockInput runs the network's blocks before block `upTo` (unfused, eval mode) on x.
func blockInput(root *model.Scope, x *Node, cfg nn.RepVGGNetConfig, upTo int) *Node {
	paths, _, cfgs := cfg.Blocks()
	for i := range upTo {
		x = nn.RepVGGBlock(root.Store().Scope(paths[i]), x, cfgs[i])
	}
	return x
}

// bnOf reads an eval-mode BatchNorm's four vectors from scope.
type bnOf struct{ gamma, beta, mean, variance *Node }

func readBN(scope *model.Scope, g *Graph) bnOf {
	v := func(name string) *Node { return scope.GetVariable(name).NodeValue(g) }
	return bnOf{v("weight"), v("bias"), v("running_mean"), v("running_var")}
}

// fold is the paper's Eq. 3: BN(W ⊛ x) = (W·γ/σ) ⊛ x + (β − μ·γ/σ), σ = √(var + ε), per output
// channel — a conv followed by an eval-mode BN is one conv with a bias.
func fold(w *Node, bn bnOf) (*Node, *Node) {
	t := Div(bn.gamma, Sqrt(AddScalar(bn.variance, bnEps)))
	return Mul(w, Reshape(t, -1, 1, 1, 1)), Sub(bn.beta, Mul(bn.mean, t))
}

// padTo3x3 zero-pads a [Out, In, 1, 1] kernel to [Out, In, 3, 3], its value at the centre: a 1×1
// conv is a 3×3 conv (padding 1) whose other eight taps are zero.
func padTo3x3(w *Node) *Node {
	d := w.Shape().Dimensions
	zr := Zeros(w.Graph(), shapes.Make(w.DType(), d[0], d[1], 1, 1))
	row := Concatenate([]*Node{zr, w, zr}, 3)       // [Out, In, 1, 3]
	zrow := Zeros(w.Graph(), row.Shape())           // the rows above and below
	return Concatenate([]*Node{zrow, row, zrow}, 2) // [Out, In, 3, 3]
}

// identityKernel is the 3×3 kernel of the identity map on c channels: 1 at the centre of
// channel i → i, zeros elsewhere.
func identityKernel(g *Graph, c int) *Node {
	k := make([]float32, c*c*9)
	for i := range c {
		k[(i*c+i)*9+4] = 1
	}
	return Const(g, tensors.FromFlatDataAndDimensions(k, c, c, 3, 3))
}

// ProveFusion fuses the first block with all three branches of a trained RepVGG network
// (variables in store; the block's reparam_conv is written there) and measures each step on
// images (real digits [B, 28, 28, 1]) on backend: BN folded into the 3×3 conv, the 1×1 branch
// padded to 3×3, the identity branch as a 3×3 kernel, and the three summed into one conv.
func ProveFusion(backend compute.Backend, store *model.Store, net Net, images *tensors.Tensor) (Fusion, error) {
	return lesson.Catch("prove the fusion", func() (Fusion, error) {
		if net.Arch != ArchRepVGG {
			return Fusion{}, fmt.Errorf("fusion steps need a repvgg network, not %s", net.Arch)
		}
		idx, err := net.IdentityBlock()
		if err != nil {
			return Fusion{}, err
		}
		netCfg := net.RepVGGConfig(10, false)
		paths, ins, cfgs := netCfg.Blocks()
		path, in, cfg := paths[idx], ins[idx], cfgs[idx]
		experiment.LoadAllVariables(store)
		if err := nn.RepVGGReparameterize(backend, store, path, in, cfg); err != nil {
			return Fusion{}, err
		}
		fused := cfg
		fused.Fused = true
		fn := func(root *model.Scope, x *Node) []*Node {
			g := x.Graph()
			x = blockInput(root, x, netCfg, idx)
			blk := store.Scope(path)
			kxk, one := blk.In("conv_kxk"), blk.In("conv_1x1")
			conv := nn.Conv2dConfig{Padding: 1}
			// Step 1: BN folded into the 3×3 conv.
			w3 := kxk.In("conv").GetVariable("weight").NodeValue(g)
			bn3 := readBN(kxk.In("bn"), g)
			y3 := nn.BatchNormApply(nn.Conv2dApply(x, w3, nil, conv), bn3.gamma, bn3.beta, bn3.mean, bn3.variance, bnEps)
			k3, b3 := fold(w3, bn3)
			f3 := nn.Conv2dApply(x, k3, b3, conv)
			// Step 2: the 1×1 branch, folded, as a 3×3 kernel.
			w1 := one.In("conv").GetVariable("weight").NodeValue(g)
			bn1 := readBN(one.In("bn"), g)
			y1 := nn.BatchNormApply(nn.Conv2dApply(x, w1, nil, nn.Conv2dConfig{}), bn1.gamma, bn1.beta, bn1.mean, bn1.variance, bnEps)
			k1, b1 := fold(w1, bn1)
			k1 = padTo3x3(k1)
			f1 := nn.Conv2dApply(x, k1, b1, conv)
			// Step 3: the identity branch (a BN of x) as a 3×3 kernel.
			bnI := readBN(blk.In("identity"), g)
			yI := nn.BatchNormApply(x, bnI.gamma, bnI.beta, bnI.mean, bnI.variance, bnEps)
			kI, bI := fold(identityKernel(g, in), bnI)
			fI := nn.Conv2dApply(x, kI, bI, conv)
			// Step 4: the block as trained vs the block as one conv (the library's fusion).
			kSum := Add(Add(k3, k1), kI)
			unfused := nn.RepVGGBlock(blk.ResetVisited(), x, cfg)
			one3 := nn.RepVGGBlock(blk.ResetVisited(), x, fused)
			lib := blk.In("reparam_conv").GetVariable("weight").NodeValue(g)
			maxAbs := func(a *Node) *Node { return ReduceAllMax(Abs(a)) }
			diff := func(a, b *Node) *Node { return maxAbs(Sub(a, b)) }
			pick := func(k *Node) *Node { return Slice(k, AxisElem(0), AxisElem(0)) } // [1, 1, 3, 3]
			return []*Node{diff(y3, f3), maxAbs(y3), diff(y1, f1), maxAbs(y1), diff(yI, fI), maxAbs(yI),
				diff(unfused, one3), maxAbs(unfused), diff(kSum, lib), pick(k3), pick(k1), pick(kI), pick(kSum)}
		}
		exec, err := model.NewExec(backend, store, fn)
		if err != nil {
			return Fusion{}, err
		}
		defer exec.Finalize()
		out, err := exec.Call(images)
		if err != nil {
			return Fusion{}, fmt.Errorf("run block %s: %w", path, err)
		}
		v := func(i int) float64 { return shapes.ConvertTo[float64](out[i].Value()) }
		f := Fusion{Block: path, In: in, KernelDiff: v(8), Steps: []Step{
			{Step: "1. BN into the conv", Train: "BN(3×3 conv(x))", Infer: "3×3 conv with W·γ/σ, bias β − μγ/σ", MaxAbsDiff: v(0), MaxAbsOutput: v(1)},
			{Step: "2. 1×1 padded to 3×3", Train: "BN(1×1 conv(x))", Infer: "3×3 conv, the 1×1 value at the centre", MaxAbsDiff: v(2), MaxAbsOutput: v(3)},
			{Step: "3. identity as 3×3", Train: "BN(x)", Infer: "3×3 conv, γ/σ at the centre of channel i → i", MaxAbsDiff: v(4), MaxAbsOutput: v(5)},
			{Step: "4. sum of kernels", Train: "ReLU(sum of the three branches)", Infer: "ReLU(one 3×3 conv + bias)", MaxAbsDiff: v(6), MaxAbsOutput: v(7)},
		}}
		for i := range f.Kernels {
			flat, err := tensors.CopyFlatData[float32](out[9+i])
			if err != nil {
				return f, err
			}
			f.Kernels[i] = make([][]float64, 3)
			for r := range 3 {
				f.Kernels[i][r] = []float64{float64(flat[3*r]), float64(flat[3*r+1]), float64(flat[3*r+2])}
			}
		}
		return f, nil
	})
}

// Equality compares the trained multi-branch network with its fused form on real digits.
type Equality struct {
	Images int
	// MaxAbsDiff is the largest |logit difference|; MaxAbsLogit the largest |logit|.
	MaxAbsDiff, MaxAbsLogit float64
	// Agree is the number of digits both forms classify the same way.
	Agree int
	// AccUnfused and AccFused are the two forms' accuracies on the digits.
	AccUnfused, AccFused float64
}

// FuseAndCompare fuses every block of a trained repvgg (or plain) network in store (writing each
// block's reparam_conv) and runs the first n digits of set through both forms on backend, in
// eval mode, EvalBatch at a time.
func FuseAndCompare(ctx context.Context, backend compute.Backend, store *model.Store, net Net, set *mnist.Set, n int) (Equality, error) {
	return lesson.Catch("compare fused and unfused", func() (Equality, error) {
		if net.Arch == ArchResNet {
			return Equality{}, fmt.Errorf("a resnet keeps its shortcuts: there is nothing to fuse")
		}
		experiment.LoadAllVariables(store)
		if err := nn.RepVGGReparameterizeNet(backend, store, net.RepVGGConfig(10, false)); err != nil {
			return Equality{}, err
		}
		unfused, fused := nn.RepVGGNet(net.RepVGGConfig(10, false)), nn.RepVGGNet(net.RepVGGConfig(10, true))
		exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *Node) []*Node {
			a, b := unfused(scope, x), fused(scope.ResetVisited(), x)
			return []*Node{a, b, ReduceAllMax(Abs(Sub(a, b))), ReduceAllMax(Abs(a))}
		})
		if err != nil {
			return Equality{}, err
		}
		defer exec.Finalize()
		e := Equality{Images: n}
		var rightU, rightF int
		for start := 0; start < n; start += lesson.EvalBatch {
			if err := ctx.Err(); err != nil {
				return e, err
			}
			images, labels, err := lesson.Digits(set, start, min(lesson.EvalBatch, n-start))
			if err != nil {
				return e, err
			}
			out, err := exec.Call(images)
			if err != nil {
				return e, fmt.Errorf("digits %d…: %w", start, err)
			}
			a, err := tensors.CopyFlatData[float32](out[0])
			if err != nil {
				return e, err
			}
			b, err := tensors.CopyFlatData[float32](out[1])
			if err != nil {
				return e, err
			}
			e.MaxAbsDiff = max(e.MaxAbsDiff, shapes.ConvertTo[float64](out[2].Value()))
			e.MaxAbsLogit = max(e.MaxAbsLogit, shapes.ConvertTo[float64](out[3].Value()))
			pa, pb := lesson.ArgmaxRows(a, 10), lesson.ArgmaxRows(b, 10)
			for i := range pa {
				if pa[i] == pb[i] {
					e.Agree++
				}
				if pa[i] == int(labels[i]) {
					rightU++
				}
				if pb[i] == int(labels[i]) {
					rightF++
				}
			}
			for _, t := range out {
				t.FinalizeAll()
			}
		}
		e.AccUnfused, e.AccFused = float64(rightU)/float64(n), float64(rightF)/float64(n)
		return e, nil
	})
}
