package acmix

import (
	"fmt"
	"slices"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// countingBackend is the kit's pure-Go backend, for graphs that are only built and counted.
var countingBackend = lesson.CountingBackend

// stem is a fixed random 3×3 stride-2 conv to c channels: real digits become real feature maps.
func stem(scope *model.Scope, x *graph.Node, c int) *graph.Node {
	return nn.Conv2d(scope.In("stem"), x, nn.Conv2dConfig{Out: c, Kernel: 3, Stride: 2, Padding: 1, Bias: true})
}

func maxAbs(v *graph.Node) *graph.Node { return graph.ReduceAllMax(graph.Abs(v)) }

// Shifted1x1 is the proof that a k×k convolution is k² 1×1 convolutions of shifted inputs,
// summed — and that without the shifts it is not.
type Shifted1x1 struct {
	K int
	// Diff is max |conv − Σ shifted 1×1 convs| (nn.ConvAsShifted1x1); Scale the largest |conv|.
	Diff, Scale float64
	// NoShift is max |conv − Σ unshifted 1×1 convs|: the k² outputs added at the same position, as
	// the notes write it.
	NoShift float64
}

// ProveShifted1x1 compares, on the feature maps of a random stem (8 channels) applied to images
// [B, 28, 28, 1], a k×k conv (8 → 8, padding k/2, random weights) with the sum of its k² 1×1
// convs with and without the shifts, on backend.
func ProveShifted1x1(backend compute.Backend, images *tensors.Tensor, k int) (Shifted1x1, error) {
	return lesson.Catch("k×k conv as shifted 1×1 convs", func() (Shifted1x1, error) {
		s := Shifted1x1{K: k}
		out, err := model.CallOnceN(backend, model.NewStore(), func(scope *model.Scope, x *graph.Node) []*graph.Node {
			x = stem(scope, x, 8)
			convScope := scope.In("conv")
			conv := nn.Conv2d(convScope, x, nn.Conv2dConfig{Out: 8, Kernel: k, Padding: k / 2})
			w := convScope.GetVariable("weight").NodeValue(x.Graph())
			shifted := nn.ConvAsShifted1x1(x, w, k/2)
			var noShift *graph.Node
			for i := range k {
				for j := range k {
					tap := graph.Slice(w, graph.AxisRange(), graph.AxisRange(), graph.AxisElem(i), graph.AxisElem(j))
					y := nn.Conv2dApply(x, tap, nil, nn.Conv2dConfig{})
					if noShift == nil {
						noShift = y
					} else {
						noShift = graph.Add(noShift, y)
					}
				}
			}
			return []*graph.Node{maxAbs(graph.Sub(conv, shifted)), maxAbs(conv), maxAbs(graph.Sub(conv, noShift))}
		}, images)
		if err != nil {
			return s, err
		}
		v := func(i int) float64 { return shapes.ConvertTo[float64](out[i].Value()) }
		s.Diff, s.Scale, s.NoShift = v(0), v(1), v(2)
		return s, nil
	})
}

// VecStep is one of the notes' four steps from "k² 1×1 convs" to ACmix's shift group conv.
type VecStep struct {
	Step string `display:"step"`
	// Notes is the notes' words for it.
	Notes string `display:"the notes"`
	// Op is what the step computes the shift-and-sum with.
	Op string `display:"shift-and-sum by"`
	// Learnable is its learnable parameters (the shift kernels), for C output channels.
	Learnable int `display:"learnable parameters"`
	// Diff is max |step's output − the k×k conv| (step 4: against each output's channel of the
	// conv, see ProveVectorisation).
	Diff float64 `display:"max |difference| from the conv;format=%.2g"`
}

// Vectorisation is the four steps measured.
type Vectorisation struct {
	C, K, Heads int
	Scale       float64
	Steps       []VecStep
	// LibraryKernel is max |ACmix's initial dep_conv weight − step 2's fixed shift kernel|: the
	// library's group conv starts as that shift.
	LibraryKernel float64
}

// ProveVectorisation follows the notes' four steps on real feature maps (a random stem, c
// channels, from images [B, 28, 28, 1]) for a k×k conv c → c (random weights), starting from its
// k² 1×1 convs F_t (ACmix's stage I: F_t = W[:, :, i, j]·x):
//
//  1. shift each F_t with its own depthwise conv whose kernel is one-hot at tap t, and add;
//  2. concatenate the k² maps channel by channel and run one group conv (c groups of k² maps),
//     every group with the same fixed one-hot kernels;
//  3. the same with the kernel learnable, initialised as the shift;
//  4. ACmix's form: the group conv of nn.ACmix (dep_conv, initialised by the library), with
//     d = c/heads groups producing heads outputs each, on the maps of d channels only — each
//     group's heads outputs start identical (output o equals the conv's channel o/heads).
func ProveVectorisation(backend compute.Backend, images *tensors.Tensor, c, k, heads int) (Vectorisation, error) {
	return lesson.Catch("the notes' four steps", func() (Vectorisation, error) {
		v := Vectorisation{C: c, K: k, Heads: heads}
		if c%heads != 0 {
			return v, fmt.Errorf("%d channels do not split into %d heads", c, heads)
		}
		d, kk := c/heads, k*k
		oneHot := func(t int) []float32 { // one k×k kernel, 1 at tap t
			h := make([]float32, kk)
			h[t] = 1
			return h
		}
		shiftKernel := make([]float32, 0, c*kk*kk) // [c, k², k, k]: group o's input map t uses tap t
		for range c {
			for t := range kk {
				shiftKernel = append(shiftKernel, oneHot(t)...)
			}
		}
		store := model.NewStore()
		defer store.Finalize()
		out, err := model.CallOnceN(backend, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
			g := x.Graph()
			x = stem(scope, x, c)
			convScope := scope.In("conv")
			conv := nn.Conv2d(convScope, x, nn.Conv2dConfig{Out: c, Kernel: k, Padding: k / 2})
			w := convScope.GetVariable("weight").NodeValue(g)
			dims := conv.Shape().Dimensions
			var maps []*graph.Node // stage I: F_t, one 1×1 conv per tap
			for t := range kk {
				tap := graph.Slice(w, graph.AxisRange(), graph.AxisRange(), graph.AxisElem(t/k), graph.AxisElem(t%k))
				maps = append(maps, nn.Conv2dApply(x, tap, nil, nn.Conv2dConfig{}))
			}
			// Step 1: one depthwise conv per map, its kernel one-hot at the map's tap.
			var step1 *graph.Node
			for t, f := range maps {
				kern := make([]float32, 0, c*kk)
				for range c {
					kern = append(kern, oneHot(t)...)
				}
				dw := graph.Const(g, tensors.FromFlatDataAndDimensions(kern, c, 1, k, k))
				y := nn.Conv2dApply(f, dw, nil, nn.Conv2dConfig{Padding: k / 2, Groups: c})
				if step1 == nil {
					step1 = y
				} else {
					step1 = graph.Add(step1, y)
				}
			}
			// Step 2: channel o·k² + t holds F_t's channel o; c groups of k², one fixed kernel.
			cat := graph.Reshape(graph.Stack(maps, 4), dims[0], dims[1], dims[2], c*kk)
			fixed := graph.Const(g, tensors.FromFlatDataAndDimensions(shiftKernel, c, kk, k, k))
			step2 := nn.Conv2dApply(cat, fixed, nil, nn.Conv2dConfig{Padding: k / 2, Groups: c})
			// Step 3: the same kernel as a learnable variable, initialised as the shift.
			learn := scope.In("learnable").VariableWithValue("weight", tensors.FromFlatDataAndDimensions(shiftKernel, c, kk, k, k)).NodeValue(g)
			step3 := nn.Conv2dApply(cat, learn, nil, nn.Conv2dConfig{Padding: k / 2, Groups: c})
			// Step 4: ACmix's own dep_conv as the library initialises it (built on a dummy input so the
			// variable exists), on d channels' maps, d groups of `heads` outputs.
			acmixScope := scope.In("acmix")
			nn.ACmix(acmixScope, x, nn.ACmixConfig{Out: c, Heads: heads, KernelAtt: 3, KernelConv: k})
			dep := scope.Store().GetVariable("/acmix/dep_conv/weight").NodeValue(g) // [c, k², k, k]
			firstD := graph.Slice(cat, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(0, d*kk))
			step4 := nn.Conv2dApply(firstD, dep, nil, nn.Conv2dConfig{Padding: k / 2, Groups: d})
			// Output o of group o/heads should be the conv's channel o/heads.
			ref4 := graph.Slice(conv, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(0, d))
			ref4 = graph.Reshape(graph.BroadcastToDims(graph.InsertAxes(ref4, 4), dims[0], dims[1], dims[2], d, heads), dims...)
			return []*graph.Node{maxAbs(conv), maxAbs(graph.Sub(step1, conv)), maxAbs(graph.Sub(step2, conv)), maxAbs(graph.Sub(step3, conv)),
				maxAbs(graph.Sub(step4, ref4)), maxAbs(graph.Sub(dep, fixed))}
		}, images)
		if err != nil {
			return v, err
		}
		val := func(i int) float64 { return shapes.ConvertTo[float64](out[i].Value()) }
		v.Scale, v.LibraryKernel = val(0), val(5)
		v.Steps = []VecStep{
			{Step: "1", Notes: "对9个特征图分别进行depthwise卷积，一个特征图对应一类位置卷积核", Op: fmt.Sprintf("%d depthwise convs, fixed one-hot kernels", kk), Diff: val(1)},
			{Step: "2", Notes: "按照维度方向进行拼接…每组都与相同的卷积核进行卷积", Op: fmt.Sprintf("one group conv, %d groups of %d maps, fixed kernel", c, kk), Diff: val(2)},
			{Step: "3", Notes: "组卷积对应的卷积核变成了可变的参数", Op: "the same, kernel learnable (initialised as the shift)", Learnable: c * kk * kk, Diff: val(3)},
			{Step: "4", Notes: "对上一种方式重复了N次", Op: fmt.Sprintf("ACmix's dep_conv: %d groups × %d outputs, on %d channels' maps", d, heads, d), Learnable: c * kk * kk, Diff: val(4)},
		}
		return v, nil
	})
}

// CodeVsFigure is one form of ACmix's conv path, by its variables.
type CodeVsFigure struct {
	Form string `display:"form"`
	// FC and DepConv are the weights of the light fully connected layer and the group conv.
	FC      int    `display:"fc weights"`
	FCShape string `display:"fc weight shape"`
	DepConv int    `display:"dep_conv weights"`
	// Module is every parameter of the ACmix module.
	Module int64 `display:"module parameters"`
}

// CompareCodeAndFigure builds ACmix with c channels and heads heads on a 14×14 map both ways (the
// authors' code and the paper's figure, nn.ACmixConfig.FigureFC) and counts their parameters.
func CompareCodeAndFigure(c, heads int) ([]CodeVsFigure, error) {
	b, err := countingBackend()
	if err != nil {
		return nil, err
	}
	var out []CodeVsFigure
	for _, fig := range []bool{false, true} {
		store := model.NewStore()
		_, err := nn.Build(b, store, func(s *model.Scope, x *graph.Node) *graph.Node {
			return nn.ACmix(s, x, nn.ACmixConfig{Out: c, Heads: heads, FigureFC: fig})
		}, shapes.Make(dtypes.Float32, 1, 14, 14, c))
		if err != nil {
			return nil, err
		}
		row := CodeVsFigure{Form: "authors' code: k² maps shared by the heads"}
		if fig {
			row.Form = "paper's figure: k² maps per head"
		}
		fc, dep := store.GetVariable("/fc/weight"), store.GetVariable("/dep_conv/weight")
		row.FC, row.DepConv = fc.Shape().Size(), dep.Shape().Size()
		row.FCShape = fmt.Sprint(fc.Shape().Dimensions)
		row.Module, _ = nn.CountParams(store)
		store.Finalize()
		out = append(out, row)
	}
	return out, nil
}

// Cost is one module's multiply-accumulates per pixel.
type Cost struct {
	Module string `display:"module"`
	// Formula is the multiply-accumulates per output pixel, every product counted; Counted is
	// what nn.CountMACs finds on the built graph per pixel — convolutions and matrix products
	// only, so not the attention's elementwise products.
	Formula int64 `display:"MACs per pixel (formula)"`
	Counted int64 `display:"MACs per pixel (counted: convs and matmuls)"`
	Params  int64 `display:"parameters"`
}

// Costs counts, per pixel of a side×side map of c channels: a k×k conv c → c, the attention path
// alone (its shared 1×1 projections and local attention over a kAtt×kAtt window), the conv path
// alone, and ACmix. Formulas: conv k²C²; projections 3C²; attention 2·kAtt²·C (logits and the
// weighted sum); fc 3N·k² per channel position (3k²C); dep_conv k²·k² per output channel (k⁴C);
// the position encoding conv_p 2·d (once per pixel, not per image).
func Costs(c, heads, k, kAtt, side int) ([]Cost, error) {
	b, err := countingBackend()
	if err != nil {
		return nil, err
	}
	cc, n, kk, ka := int64(c), int64(heads), int64(k*k), int64(kAtt*kAtt)
	d := cc / n
	proj, att, pe := 3*cc*cc, 2*ka*cc, 2*d
	fc, dep := 3*kk*cc, kk*kk*cc
	rows := []struct {
		name    string
		formula int64
		fn      nn.ModelFn
	}{
		{fmt.Sprintf("%d×%d conv", k, k), kk * cc * cc, func(s *model.Scope, x *graph.Node) *graph.Node {
			return nn.Conv2d(s, x, nn.Conv2dConfig{Out: c, Kernel: k, Padding: k / 2})
		}},
		{fmt.Sprintf("local attention (%d×%d window): ACmix's attention path", kAtt, kAtt), proj + att + pe, func(s *model.Scope, x *graph.Node) *graph.Node {
			return nn.ACmix(s, x, nn.ACmixConfig{Out: c, Heads: heads, KernelAtt: kAtt, KernelConv: k, Paths: nn.ACmixAttentionOnly})
		}},
		{"ACmix's conv path alone", proj + fc + dep, func(s *model.Scope, x *graph.Node) *graph.Node {
			return nn.ACmix(s, x, nn.ACmixConfig{Out: c, Heads: heads, KernelAtt: kAtt, KernelConv: k, Paths: nn.ACmixConvOnly})
		}},
		{"ACmix (both paths, shared projections)", proj + att + pe + fc + dep, func(s *model.Scope, x *graph.Node) *graph.Node {
			return nn.ACmix(s, x, nn.ACmixConfig{Out: c, Heads: heads, KernelAtt: kAtt, KernelConv: k})
		}},
	}
	var out []Cost
	px := int64(side * side)
	for _, r := range rows {
		m, err := nn.Measure(b, r.fn, shapes.Make(dtypes.Float32, 1, side, side, c))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.name, err)
		}
		out = append(out, Cost{Module: r.name, Formula: r.formula, Counted: m.MACs / px, Params: m.Params})
	}
	return out, nil
}

// Rate is one ACmix module's learned mixing weights.
type Rate struct {
	Block string
	// Side is the map side the module ran on.
	Side int
	// Alpha weighs the attention path (rate1), Beta the conv path (rate2); both start at 0.5.
	Alpha, Beta float64
}

// Rates reads α and β of every ACmix module of a trained network (variables in store).
func Rates(store *model.Store, net Net) ([]Rate, error) {
	if net.Block != BlockACmix {
		return nil, fmt.Errorf("rates: %s has no α and β to compare", net.Label())
	}
	experiment.LoadAllVariables(store)
	var out []Rate
	for _, b := range net.BlockList() {
		get := func(name string) (float64, error) {
			v := store.GetVariable(b.Path + "/conv2/" + name)
			if v == nil {
				return 0, fmt.Errorf("rates: no %s/conv2/%s", b.Path, name)
			}
			flat, err := tensors.CopyFlatData[float32](v.MustValue())
			if err != nil {
				return 0, err
			}
			return float64(flat[0]), nil
		}
		a, err := get("rate1")
		if err != nil {
			return nil, err
		}
		bb, err := get("rate2")
		if err != nil {
			return nil, err
		}
		out = append(out, Rate{Block: b.Name, Side: b.Side, Alpha: a, Beta: bb})
	}
	return out, nil
}

// AttentionTiming compares window attention (W-MSA, Swin: the map cut into non-overlapping M×M
// windows, the queries of a window sharing its keys) with sliding-window attention (every pixel
// attends to the M×M pixels around it) at the same window, heads and channels: their
// multiply-accumulates per token are the same (4C² projections + 2·M²·C attention), their
// memory access is not.
type AttentionTiming struct {
	Batch, Side, C, Heads, M, Rounds int
	// WMSAMS and SlidingMS are the median forward time per batch in milliseconds; Ratio is
	// SlidingMS / WMSAMS.
	WMSAMS, SlidingMS, Ratio float64
	// MACsPerToken is 4C² + 2M²C, the same for both; WMSACounted the per-token count on W-MSA's
	// graph (its attention is matrix products, which nn.CountMACs counts).
	MACsPerToken, WMSACounted int64
	// Params are each module's parameters (W-MSA adds its relative position bias table).
	WMSAParams, SlidingParams int64
}

// TimeAttention times W-MSA against sliding-window attention on a batch of side×side maps with c
// channels (side a multiple of m), in alternating rounds of one run on backend, each call
// waiting for its result. Both read the same random input; each has its own random weights.
func TimeAttention(backend compute.Backend, batch, side, c, heads, m, rounds int) (AttentionTiming, error) {
	return lesson.Catch("time W-MSA and sliding windows", func() (AttentionTiming, error) {
		t := AttentionTiming{Batch: batch, Side: side, C: c, Heads: heads, M: m, Rounds: rounds,
			MACsPerToken: int64(4*c*c + 2*m*m*c)}
		if side%m != 0 || rounds < 1 {
			return t, fmt.Errorf("side %d must be a multiple of the window %d, rounds %d positive", side, m, rounds)
		}
		wmsa := func(s *model.Scope, x *graph.Node) *graph.Node {
			w := nn.WindowAttention(s, nn.WindowPartition(x, [2]int{m, m}), nil, nn.WindowAttentionConfig{NumHeads: heads, WindowSize: [2]int{m, m}, QKVBias: true})
			return nn.WindowReverse(w, [2]int{m, m}, side, side)
		}
		sliding := func(s *model.Scope, x *graph.Node) *graph.Node {
			return nn.SlidingWindowAttention(s, x, nn.SlidingWindowAttentionConfig{NumHeads: heads, Window: m, QKVBias: true})
		}
		cb, err := countingBackend()
		if err != nil {
			return t, err
		}
		one := shapes.Make(dtypes.Float32, 1, side, side, c)
		cw, err := nn.Measure(cb, wmsa, one)
		if err != nil {
			return t, err
		}
		cs, err := nn.Measure(cb, sliding, one)
		if err != nil {
			return t, err
		}
		t.WMSACounted, t.WMSAParams, t.SlidingParams = cw.MACs/int64(side*side), cw.Params, cs.Params
		data := make([]float32, batch*side*side*c)
		for i := range data {
			data[i] = float32((i*7919)%211-105) / 105
		}
		x := tensors.FromFlatDataAndDimensions(data, batch, side, side, c)
		var execs [2]*model.Exec
		for i, fn := range []nn.ModelFn{wmsa, sliding} {
			store := model.NewStore()
			defer store.Finalize()
			e, err := model.NewExec(backend, store, fn)
			if err != nil {
				return t, err
			}
			defer e.Finalize()
			execs[i] = e
		}
		call := func(e *model.Exec) (time.Duration, error) {
			t0 := time.Now()
			out, err := e.Call1(x)
			if err != nil {
				return 0, err
			}
			if _, err := tensors.CopyFlatData[float32](out); err != nil { // waits for the result
				return 0, err
			}
			d := time.Since(t0)
			out.FinalizeAll()
			return d, nil
		}
		for _, e := range execs { // compile and warm up
			if _, err := call(e); err != nil {
				return t, err
			}
		}
		var times [2][]time.Duration
		for r := range rounds {
			for k := range 2 {
				i := (r + k) % 2
				d, err := call(execs[i])
				if err != nil {
					return t, err
				}
				times[i] = append(times[i], d)
			}
		}
		med := func(d []time.Duration) float64 {
			slices.Sort(d)
			return float64(d[len(d)/2]) / 1e6
		}
		t.WMSAMS, t.SlidingMS = med(times[0]), med(times[1])
		t.Ratio = t.SlidingMS / t.WMSAMS
		return t, nil
	})
}

// shapeOf is a float32 shape.
func shapeOf(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }

// CostOf is a run's network's parameters and multiply-accumulates on one 28×28 digit (the
// attention's elementwise products not counted; see Costs).
func CostOf(net Net) (nn.Cost, error) {
	if err := net.Validate(); err != nil {
		return nn.Cost{}, err
	}
	b, err := countingBackend()
	if err != nil {
		return nn.Cost{}, err
	}
	return nn.Measure(b, net.Logits, shapeOf(1, 28, 28, 1))
}
