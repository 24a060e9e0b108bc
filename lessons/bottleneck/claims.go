package bottleneck

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn"

	// The pure-Go backend builds graphs for counting without compiling them with XLA.
	_ "github.com/gomlx/gomlx/backends/default"
)

// countingBackend is the pure-Go backend, used only to build graphs whose parameters and
// multiply-accumulates are counted: building is cheap there and nothing is executed.
var countingBackend = sync.OnceValues(func() (compute.Backend, error) {
	b, err := compute.NewWithConfig("go")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoBackend, err)
	}
	return b, nil
})

// orPureGo returns b, or the pure-Go backend when b is nil.
func orPureGo(b compute.Backend) (compute.Backend, error) {
	if b != nil {
		return b, nil
	}
	return countingBackend()
}

// Measure counts the parameters and multiply-accumulates of fn on one input of the given
// dimensions (nn.Measure on the pure-Go backend).
func Measure(fn nn.ModelFn, inputDims ...int) (nn.Cost, error) {
	b, err := countingBackend()
	if err != nil {
		return nn.Cost{}, err
	}
	return nn.Measure(b, fn, shapes.Make(dtypes.Float32, inputDims...))
}

// CostOf is the per-image cost of one of the lesson's networks on a 28×28 digit.
func CostOf(net Net) (nn.Cost, error) {
	if err := net.Validate(); err != nil {
		return nn.Cost{}, err
	}
	return Measure(net.Logits, imageShape.Dimensions...)
}

// Variable is one parameter tensor of a block, named like timm's state_dict.
type Variable struct {
	Name   string `display:"variable"`
	Shape  []int  `display:"shape"`
	Params int    `display:"parameters"`
}

// Variables lists the model variables (parameters and BatchNorm buffers) fn creates on an
// input of the given dimensions, sorted by name.
func Variables(fn nn.ModelFn, inputDims ...int) ([]Variable, error) {
	b, err := countingBackend()
	if err != nil {
		return nil, err
	}
	store := model.NewStore()
	defer store.Finalize()
	if _, err := nn.Build(b, store, fn, shapes.Make(dtypes.Float32, inputDims...)); err != nil {
		return nil, err
	}
	var out []Variable
	for v := range store.IterVariables() {
		name := nn.PathToKey(v.Path())
		if strings.Contains(name, "#") {
			continue
		}
		out = append(out, Variable{Name: name, Shape: v.Shape().Dimensions, Params: v.Shape().Size()})
	}
	slices.SortFunc(out, func(a, b Variable) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// --- Claim 1: "two ends wide, middle narrow" cuts FLOPs --------------------------------------

// Saving compares, at one stage of ResNet-50 (Width channels in and out, an H×H map), the
// bottleneck block with two 3×3 convs at the same width and with ResNet-34's basic block at
// the bottleneck's middle width. MACs are per image; "Formula" values are computed by hand,
// "Counted" ones are read off the built graph by nn.Measure.
type Saving struct {
	Width, Planes, H int
	// Two 3×3 convs at Width (a basic block as wide as the bottleneck's ends).
	WideMACsFormula, WideMACsCounted int64
	WideParams                       int64
	// The bottleneck: 1×1 Width→Planes, 3×3 Planes→Planes, 1×1 Planes→Width.
	BottleneckMACsFormula, BottleneckMACsCounted int64
	BottleneckParams                             int64
	// ResNet-34's basic block at Planes (two 3×3 convs at Planes).
	NarrowMACsFormula, NarrowMACsCounted int64
	// Ratio is WideMACsCounted / BottleneckMACsCounted: how much the narrow middle saves.
	Ratio float64
}

// BottleneckSaving measures the saving at ResNet-50's first stage sizes when called with
// (256, 64, 56): 18·256² against 256·64 + 9·64² + 64·256 MACs per pixel, about 17× fewer.
func BottleneckSaving(width, planes, h int) (Saving, error) {
	hw := int64(h * h)
	w, p := int64(width), int64(planes)
	s := Saving{Width: width, Planes: planes, H: h,
		WideMACsFormula:       hw * 2 * 9 * w * w,
		BottleneckMACsFormula: hw * (w*p + 9*p*p + p*w),
		NarrowMACsFormula:     hw * 2 * 9 * p * p,
	}
	if width != planes*nn.BottleneckExpansion {
		return s, fmt.Errorf("width %d must be %d × planes %d (the bottleneck's expansion)", width, nn.BottleneckExpansion, planes)
	}
	wide, err := Measure(func(scope *model.Scope, x *Node) *Node {
		return nn.BasicBlock(scope, x, nn.BasicBlockConfig{Planes: width})
	}, 1, h, h, width)
	if err != nil {
		return s, err
	}
	bott, err := Measure(func(scope *model.Scope, x *Node) *Node {
		return nn.Bottleneck(scope, x, nn.BottleneckConfig{Planes: planes})
	}, 1, h, h, width)
	if err != nil {
		return s, err
	}
	narrow, err := Measure(func(scope *model.Scope, x *Node) *Node {
		return nn.BasicBlock(scope, x, nn.BasicBlockConfig{Planes: planes})
	}, 1, h, h, planes)
	if err != nil {
		return s, err
	}
	s.WideMACsCounted, s.WideParams = wide.MACs, wide.Params
	s.BottleneckMACsCounted, s.BottleneckParams = bott.MACs, bott.Params
	s.NarrowMACsCounted = narrow.MACs
	s.Ratio = float64(wide.MACs) / float64(bott.MACs)
	return s, nil
}

// Downsampling describes a bottleneck that halves the map, as the notes describe ResNet's:
// the stride sits on the 3×3 (and on the 1×1 projection shortcut), the output is the sum of
// the residual branch and the projected shortcut.
type Downsampling struct {
	InShape, OutShape []int
	// Vars are the block's parameters: conv2 has the stride, downsample.0 is the 1×1 stride-2
	// projection shortcut.
	Vars []Variable
	// ConcatChannels is what the output would have if the shortcut were concatenated
	// (DenseNet) instead of added (ResNet).
	ConcatChannels int
}

// DownsamplingBlock builds a stride-2 bottleneck on [1, h, h, in] and reports its shapes.
func DownsamplingBlock(in, planes, h int) (Downsampling, error) {
	cfg := nn.BottleneckConfig{Planes: planes, Stride: 2}
	var out []int
	fn := func(scope *model.Scope, x *Node) *Node {
		y := nn.Bottleneck(scope, x, cfg)
		out = y.Shape().Dimensions
		return y
	}
	vars, err := Variables(fn, 1, h, h, in)
	if err != nil {
		return Downsampling{}, err
	}
	var params []Variable
	for _, v := range vars {
		if !strings.Contains(v.Name, "running_") {
			params = append(params, v)
		}
	}
	return Downsampling{InShape: []int{1, h, h, in}, OutShape: out, Vars: params,
		ConcatChannels: in + planes*nn.BottleneckExpansion}, nil
}

// --- Claim 2: split-transform-merge ≡ grouped convolution -----------------------------------

// Equivalence is the numerical proof that the ResNeXt block's three forms (the paper's
// Fig. 3a–c; the notes' variants 1 and 2 are 3b and 3c) compute the same function, and that a
// grouped convolution is a dense convolution with a block-diagonal kernel.
type Equivalence struct {
	Cardinality, GroupWidth int
	// MaxAbsOutput is the largest |output| of the grouped form, for scale.
	MaxAbsOutput float64
	// SumOfPaths (Fig. 3a) and Concat (Fig. 3b, variant 1) against Grouped (Fig. 3c,
	// variant 2): max |difference| of the block outputs.
	SumOfPaths, Concat float64
	// BlockDiagonal: the grouped 3×3 against a dense 3×3 whose kernel holds the groups'
	// kernels on its diagonal and zeros elsewhere.
	BlockDiagonal float64
	// GroupedParams and DenseParams are the 3×3's weights in the two forms: the zeros of the
	// block-diagonal kernel are the 1 − 1/C that grouping saves.
	GroupedParams, DenseParams int
}

// ProveEquivalence runs real digits through a fixed stem and a ResNeXt bottleneck (planes
// 16, block input 64 channels) at each cardinality, in training mode (BatchNorm on batch
// statistics) on backend, and compares the forms. All forms read the very same variables.
// A nil backend means the pure-Go one: exact float32 arithmetic with nothing to compile,
// which for a few digits is faster than XLA's compilation of the three forms.
func ProveEquivalence(backend compute.Backend, images *tensors.Tensor, cardinalities []int) ([]Equivalence, error) {
	backend, err := orPureGo(backend)
	if err != nil {
		return nil, err
	}
	const planes = 16
	in := planes * nn.BottleneckExpansion
	var eqs []Equivalence
	for _, c := range cardinalities {
		d := MatchedGroupWidth(planes, c, 1)
		eqs = append(eqs, Equivalence{Cardinality: c, GroupWidth: d, GroupedParams: c * d * d * 9, DenseParams: c * d * c * d * 9})
	}
	fn := func(scope *model.Scope, x *Node) []*Node {
		g := x.Graph()
		scope.Store().SetTraining(g, true)
		x = nn.Conv2d(scope.In("stem"), x, nn.Conv2dConfig{Out: in, Kernel: 3, Stride: 2, Padding: 1})
		var outs []*Node
		for i, e := range eqs {
			blk := scope.In("card%d", e.Cardinality)
			cfg := nn.BottleneckConfig{Planes: planes, Cardinality: e.Cardinality, BaseWidth: (64*e.GroupWidth + planes - 1) / planes}
			grouped := nn.ResNeXtBranches(blk, x, cfg, nn.ResNeXtGrouped)
			sum := nn.ResNeXtBranches(blk.ResetVisited(), x, cfg, nn.ResNeXtSumOfPaths)
			cat := nn.ResNeXtBranches(blk.ResetVisited(), x, cfg, nn.ResNeXtConcat)
			// The grouped 3×3 alone against its block-diagonal dense twin, on the block's
			// own conv2 weight and a middle-width input.
			w := blk.ResetVisited().In("conv2").GetVariable("weight").NodeValue(g)
			mid := nn.Conv2d(scope.In("mid%d", i), x, nn.Conv2dConfig{Out: cfg.Width(), Kernel: 1})
			conv := nn.Conv2dConfig{Padding: 1, Groups: e.Cardinality}
			gy := nn.Conv2dApply(mid, w, nil, conv)
			dy := nn.Conv2dApply(mid, BlockDiagonalKernel(w, e.Cardinality), nil, nn.Conv2dConfig{Padding: 1})
			maxAbs := func(a, b *Node) *Node { return ReduceAllMax(Abs(Sub(a, b))) }
			outs = append(outs, ReduceAllMax(Abs(grouped)), maxAbs(sum, grouped), maxAbs(cat, grouped), maxAbs(dy, gy))
		}
		return outs
	}
	store := model.NewStore()
	defer store.Finalize()
	exec, err := model.NewExec(backend, store, fn)
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	res, err := exec.Call(images)
	if err != nil {
		return nil, fmt.Errorf("run the ResNeXt forms: %w", err)
	}
	for i := range eqs {
		v := func(k int) float64 { return shapes.ConvertTo[float64](res[4*i+k].Value()) }
		eqs[i].MaxAbsOutput, eqs[i].SumOfPaths, eqs[i].Concat, eqs[i].BlockDiagonal = v(0), v(1), v(2), v(3)
	}
	return eqs, nil
}

// BlockDiagonalKernel turns a grouped conv weight [out, in/groups, k, k] into the dense weight
// [out, in, k, k] that computes the same convolution: output channel o of group g sees only
// input channels of group g, so every other input channel gets a zero kernel.
func BlockDiagonalKernel(w *Node, groups int) *Node {
	dims := w.Shape().Dimensions
	out, inPer := dims[0], dims[1]
	outPer := out / groups
	var rows []*Node
	for g := range groups {
		wg := Slice(w, AxisRange(g*outPer, (g+1)*outPer)) // [outPer, inPer, k, k]
		var parts []*Node
		if g > 0 {
			parts = append(parts, Zeros(w.Graph(), shapes.Make(w.DType(), outPer, g*inPer, dims[2], dims[3])))
		}
		parts = append(parts, wg)
		if after := groups - 1 - g; after > 0 {
			parts = append(parts, Zeros(w.Graph(), shapes.Make(w.DType(), outPer, after*inPer, dims[2], dims[3])))
		}
		rows = append(rows, Concatenate(parts, 1))
	}
	return Concatenate(rows, 0)
}

// Connectivity is the [channels, channels] matrix of a 1×1 or k×k convolution with `groups`
// groups: entry (o, i) is 1 when output channel o reads input channel i. groups = 1 is an
// ordinary convolution (all ones), groups = channels a depthwise one (the identity): grouped
// convolutions sit between the two, as the notes say.
func Connectivity(channels, groups int) ([][]float64, error) {
	if groups <= 0 || channels%groups != 0 {
		return nil, fmt.Errorf("%d channels do not split into %d groups", channels, groups)
	}
	per := channels / groups
	m := make([][]float64, channels)
	for o := range m {
		m[o] = make([]float64, channels)
		for i := range m[o] {
			if o/per == i/per {
				m[o][i] = 1
			}
		}
	}
	return m, nil
}

// --- Claim 3: ConvNeXt's stem is a patchify linear map; its block is depthwise + inverted ---

// Patchify is the proof that ConvNeXt's stem conv (kernel = stride = p) is "cut into p×p
// patches, then one linear layer".
type Patchify struct {
	Patch, Dim int
	// MaxAbsDiff between the stem conv and Patchify + linear with the conv weight viewed as a
	// [Dim, p·p·C] matrix; MaxAbsOutput for scale.
	MaxAbsDiff, MaxAbsOutput float64
	// StemVars are the stem's variables: the conv (stem.0) and a LayerNorm (stem.1), nothing
	// else — the patch vector is not transformed again inside the stem.
	StemVars []Variable
}

// ProvePatchify compares the two forms on real digits (a nil backend: the pure-Go one).
func ProvePatchify(backend compute.Backend, images *tensors.Tensor, patch, dim int) (Patchify, error) {
	p := Patchify{Patch: patch, Dim: dim}
	backend, err := orPureGo(backend)
	if err != nil {
		return p, err
	}
	fn := func(scope *model.Scope, x *Node) []*Node {
		s0 := scope.In("stem").In("0")
		conv := nn.Conv2d(s0, x, nn.Conv2dConfig{Out: dim, Kernel: patch, Stride: patch, Bias: true})
		g := x.Graph()
		w := Reshape(s0.GetVariable("weight").NodeValue(g), dim, -1)
		lin := nn.LinearApply(nn.Patchify(x, patch), w, s0.GetVariable("bias").NodeValue(g))
		return []*Node{ReduceAllMax(Abs(Sub(conv, lin))), ReduceAllMax(Abs(conv))}
	}
	store := model.NewStore()
	defer store.Finalize()
	exec, err := model.NewExec(backend, store, fn)
	if err != nil {
		return p, err
	}
	defer exec.Finalize()
	res, err := exec.Call(images)
	if err != nil {
		return p, fmt.Errorf("run the patchify forms: %w", err)
	}
	p.MaxAbsDiff = shapes.ConvertTo[float64](res[0].Value())
	p.MaxAbsOutput = shapes.ConvertTo[float64](res[1].Value())
	p.StemVars, err = Variables(func(scope *model.Scope, x *Node) *Node {
		return nn.ConvNeXtStem(scope.In("stem"), x, dim, patch)
	}, images.Shape().Dimensions...)
	return p, err
}

// ConvNeXtAnatomy breaks one ConvNeXt block at C channels on an H×H map into its parts.
type ConvNeXtAnatomy struct {
	C, H int
	Vars []Variable
	// DepthwiseParams is conv_dw's weight (C·k², one k×k filter per channel: groups = C);
	// DenseParams is what an ordinary k×k conv C→C would need (C²·k²).
	DepthwiseParams, DenseParams int
	// Hidden is the MLP's hidden width (fc1's output): 4·C, the inverted bottleneck — wide in
	// the middle, narrow at the ends, the opposite of ResNet's.
	Hidden int
	// MACs per image: the depthwise conv's share and the MLP's share of the block.
	DepthwiseMACs, MLPMACs, TotalMACs int64
}

// ConvNeXtBlockAnatomy measures one ConvNeXt block.
func ConvNeXtBlockAnatomy(c, h int) (ConvNeXtAnatomy, error) {
	a := ConvNeXtAnatomy{C: c, H: h}
	fn := func(scope *model.Scope, x *Node) *Node {
		return nn.ConvNeXtBlock(scope, x, nn.ConvNeXtBlockConfig{})
	}
	var err error
	if a.Vars, err = Variables(fn, 1, h, h, c); err != nil {
		return a, err
	}
	for _, v := range a.Vars {
		switch v.Name {
		case "conv_dw.weight":
			a.DepthwiseParams = v.Params
			a.DenseParams = v.Shape[0] * c * v.Shape[2] * v.Shape[3]
		case "mlp.fc1.weight":
			a.Hidden = v.Shape[0]
		}
	}
	total, err := Measure(fn, 1, h, h, c)
	if err != nil {
		return a, err
	}
	a.TotalMACs = total.MACs
	a.DepthwiseMACs = int64(h*h) * int64(a.DepthwiseParams)
	a.MLPMACs = int64(h*h) * int64(2*c*a.Hidden)
	return a, nil
}

// StageCost is one full-size (224×224 ImageNet) network's cost.
type StageCost struct {
	Name   string
	Depths []int
	Dims   []int
	Cost   nn.Cost
	// PerStageMACs are the MACs of each stage's blocks (downsampling layers excluded).
	PerStageMACs []int64
}

// StageRatios answers the notes' question of how ConvNeXt matched Swin-T's compute: it counts
// Swin-T, ConvNeXt-T (stage depths 3:3:9:3) and the same ConvNeXt with ResNet-50's 3:4:6:3,
// at 224×224 (graphs built on the pure-Go backend, nothing is run). With widths doubling as
// the map halves, every ConvNeXt block costs about the same in every stage, so the total is
// set by the number of blocks, and the widths (96…768) and depths were chosen so the total
// lands on Swin-T's.
func StageRatios() ([]StageCost, error) {
	var out []StageCost
	swin := nn.SwinTiny224()
	c, err := Measure(nn.Swin(swin), 1, 224, 224, 3)
	if err != nil {
		return nil, fmt.Errorf("swin-t: %w", err)
	}
	out = append(out, StageCost{Name: "Swin-T", Depths: swin.Depths, Dims: swinDims(swin), Cost: c})
	for _, v := range []struct {
		name   string
		depths []int
	}{{"ConvNeXt-T (3:3:9:3)", []int{3, 3, 9, 3}}, {"ConvNeXt, ResNet-50's 3:4:6:3", []int{3, 4, 6, 3}}} {
		cfg := nn.ConvNeXtConfig{InChannels: 3, NumClasses: 1000, PatchSize: 4, Depths: v.depths, Dims: []int{96, 192, 384, 768}}
		c, err := Measure(nn.ConvNeXt(cfg), 1, 224, 224, 3)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.name, err)
		}
		sc := StageCost{Name: v.name, Depths: v.depths, Dims: cfg.Dims, Cost: c}
		for s, d := range cfg.Dims {
			hw := int64(56 >> s)
			hw *= hw
			sc.PerStageMACs = append(sc.PerStageMACs, int64(v.depths[s])*hw*int64(49*d+8*d*d))
		}
		out = append(out, sc)
	}
	return out, nil
}

func swinDims(c nn.SwinConfig) []int {
	dims := make([]int, len(c.Depths))
	for i := range dims {
		dims[i] = c.EmbedDim << i
	}
	return dims
}

// --- Claim 4: the cost table ---------------------------------------------------------------

// CostRow is one network of the comparison table before training.
type CostRow struct {
	Label string `display:"network"`
	// Params and MFLOPs are per 28×28 image (FLOPs = 2 × multiply-accumulates).
	Params int64   `display:"parameters"`
	MFLOPs float64 `display:"FLOPs;unit=M;format=%.2f"`
	// GroupWidths are the per-stage path widths d of a ResNeXt (nil otherwise).
	GroupWidths []int   `display:"path width d per stage"`
	Net         Net     `display:"-"`
	Cost        nn.Cost `display:"-"`
}

// Costs measures every network of the comparison table.
func Costs(nets []Net) ([]CostRow, error) {
	var out []CostRow
	for _, n := range nets {
		c, err := CostOf(n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Label(), err)
		}
		row := CostRow{Label: n.Label(), Net: n, Cost: c, Params: c.Params, MFLOPs: float64(c.FLOPs) / 1e6}
		if n.Arch == ArchResNeXt || n.Arch == ArchBottleneck {
			for s := range n.Planes {
				row.GroupWidths = append(row.GroupWidths, n.StageGroupWidth(s))
			}
		}
		out = append(out, row)
	}
	return out, nil
}

// RelativeSpread is (max − min) / min of the values: how far "about equal" is from equal.
func RelativeSpread(values []int64) float64 {
	lo, hi := slices.Min(values), slices.Max(values)
	return float64(hi-lo) / math.Max(float64(lo), 1)
}
