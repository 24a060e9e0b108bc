package ggnet

import (
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/phantom"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/lessons/segkit"
	"github.com/gostudy/gostudy/pkg/nn"
)

// Lesson is the lesson's experiment as segkit's shared measures take it.
var Lesson = segkit.Lesson[RunConfig]{Experiment: Experiment, Logits: Logits, Cost: Cost,
	Test: func(c RunConfig) ([]*phantom.Sample, error) {
		_, _, test, err := c.Splits()
		return test, err
	}}

// ArmRow is one network of a comparison, over the seeds.
type ArmRow = segkit.ArmRow[RunConfig]

// Cost counts the run's GG-Net on one image (the BD modules included: they exist at inference
// too, though nothing reads them).
func Cost(cfg RunConfig) (nn.Cost, error) {
	net := cfg.Net()
	return segkit.Cost(func(s *model.Scope, x *Node) *Node { return nn.GGNetForward(s, x, net).Mask }, cfg.ImageSize)
}

// CostRow is one network of the cost table: GG-Net built up from the U-Net one part at a time.
type CostRow struct {
	Network string  `display:"network"`
	Params  int64   `display:"parameters"`
	MFLOPs  float64 `display:"FLOPs;unit=M;format=%.2f"`
	// AddedParams and AddedFLOPs are the increase over the previous row, as a fraction of the
	// U-Net's.
	AddedParams float64 `display:"added parameters;format=%.1f%%"`
	AddedFLOPs  float64 `display:"added FLOPs;format=%.1f%%"`
}

// Costs builds GG-Net from the U-Net of the same base and levels one part at a time: the BD
// modules, ASPP, then the guidance map and the two GGBs (the run's config).
func Costs(cfg RunConfig) ([]CostRow, error) {
	unet := nn.UNetConfig{InChannels: 1, NumClasses: 1, Base: cfg.Base, Levels: cfg.Levels}
	bd, aspp := cfg, cfg
	bd.Guidance, bd.ASPP = string(nn.GuideOff), false
	aspp.Guidance = string(nn.GuideOff)
	steps := []struct {
		name string
		fn   nn.ModelFn
	}{
		{"U-Net (same encoder and decoder)", nn.UNet(unet)},
		{"+ BD modules", ggnetFn(bd)},
		{"+ ASPP", ggnetFn(aspp)},
		{"+ guidance map and both GGBs (GG-Net)", ggnetFn(cfg)},
	}
	var rows []CostRow
	for i, s := range steps {
		c, err := segkit.Cost(s.fn, cfg.ImageSize)
		if err != nil {
			return nil, fmt.Errorf("cost of %s: %w", s.name, err)
		}
		r := CostRow{Network: s.name, Params: c.Params, MFLOPs: float64(c.FLOPs) / 1e6}
		if i > 0 {
			base := rows[0]
			r.AddedParams = 100 * float64(r.Params-rows[i-1].Params) / float64(base.Params)
			r.AddedFLOPs = 100 * (r.MFLOPs - rows[i-1].MFLOPs) / base.MFLOPs
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func ggnetFn(cfg RunConfig) nn.ModelFn {
	net := cfg.Net()
	return func(s *model.Scope, x *Node) *Node { return nn.GGNetForward(s, x, net).Mask }
}

// ScalingRow is the spatial GGB alone on one map size.
type ScalingRow struct {
	Map       string  `display:"map (H×W×C)"`
	Positions int     `display:"positions H·W"`
	Params    int64   `display:"parameters"`
	MFLOPs    float64 `display:"FLOPs;unit=M;format=%.2f"`
	// AttentionShare is the share of the FLOPs spent on the H·W × H·W products (W, W′ and A·V)
	// rather than on the 1×1 projections.
	AttentionShare float64 `display:"in the HW×HW products;format=%.0f%%"`
}

// GGBScaling counts the spatial GGB alone (guidance of guideChannels channels at twice the
// map's side, as GG-Net's guidance sits a level above) for square maps of the given sides and
// channels: its parameters do not depend on the map, its FLOPs grow with the square of the
// number of positions.
func GGBScaling(sides []int, channels, guideChannels int) ([]ScalingRow, error) {
	var rows []ScalingRow
	for _, side := range sides {
		ck := max(channels/8, 1)
		n := side * side
		fn := func(s *model.Scope, x *Node) *Node {
			g := nn.Resize(Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, guideChannels)), 2*side, 2*side)
			return nn.SpatialGGB(s, x, g)
		}
		c, err := lesson.Catch("count the spatial GGB", func() (nn.Cost, error) {
			b, err := compute.NewWithConfig("go")
			if err != nil {
				return nn.Cost{}, err
			}
			defer b.Finalize()
			return nn.Measure(b, fn, shapes.Make(dtypes.Float32, 1, side, side, channels))
		})
		if err != nil {
			return nil, err
		}
		quad := float64(n*n) * float64(2*ck+channels) // W, W′ and A·V, in multiply-accumulates
		rows = append(rows, ScalingRow{Map: fmt.Sprintf("%d×%d×%d", side, side, channels), Positions: n, Params: c.Params,
			MFLOPs: float64(c.FLOPs) / 1e6, AttentionShare: 100 * quad / float64(c.MACs)})
	}
	return rows, nil
}

// Affinities is what the main run's GGBs compute on test images.
type Affinities struct {
	// SpatialDiff and ChannelDiff are the largest differences between the blocks written out
	// here and pkg/nn's (the same variables, the same input).
	SpatialDiff, ChannelDiff float64
	// Asymmetry of a square matrix M is max|M − Mᵀ| / max|M|, averaged over the images: for
	// the spatial block's W = QKᵀ, W ⊙ W′ and the attention softmax(W ⊙ W′); for the channel
	// block's W_c = XᵀX/HW, W_c ⊙ W_g and its attention.
	SpatialW, SpatialProduct, SpatialAtt float64
	ChannelW, ChannelProduct, ChannelAtt float64
	// ColumnSpread is the standard deviation of the channel attention's column sums (its
	// rows sum to 1 by construction): a symmetric matrix would have columns summing to 1 too.
	// PairRatio is the largest A_ij / A_ji: with symmetric logits L, A_ij = e^L_ij / Z_i, so
	// the ratio is Z_j / Z_i, the two rows' normalizers — 1 only when every row sums alike.
	ColumnSpread, PairRatio float64
	// Guidance is the guidance map of the first image [h, w, channels]; Query the (row,
	// column) of the spatial query drawn, at the lesion's centre; AttSelf, AttGuide, AttBoth
	// that query's weights over the positions under softmax(W), softmax(W′) and
	// softmax(W⊙W′); ChannelLogits (W_c ⊙ W_g) and ChannelWeights (its row softmax) the first image's C×C matrices.
	Guidance *tensors.Tensor
	// GuideLesion is the largest correlation (Pearson, over every pixel of the probe images)
	// between one guidance channel and the lesion mask averaged down to the guidance's size,
	// GuideLesionChannel that channel; GuideLookalike and its channel the same for the
	// look-alike regions (0 on real images).
	GuideLesion, GuideLookalike               float64
	GuideLesionChannel, GuideLookalikeChannel int
	// SEMin and SEMax are the range of the channel GGB's squeeze-and-excitation ratios that
	// reweight the guidance's channels (1 would leave them as they are).
	SEMin, SEMax                  float64
	Query                         [2]int
	AttSelf, AttGuide, AttBoth    [][]float32
	ChannelLogits, ChannelWeights [][]float32
}

// spatialParts is the spatial GGB written out on the block's own variables: W = QKᵀ, W′ =
// Q′K′ᵀ, A = softmax(W ⊙ W′), out = x + γ·AV.
func spatialParts(scope *model.Scope, x, g *Node) (w, wg, att, out *Node) {
	d := x.Shape().Dimensions
	b, h, wd, c := d[0], d[1], d[2], d[3]
	ck := max(c/8, 1)
	proj := func(name string, in *Node, n int) *Node {
		y := nn.Conv2d(scope.In("%s", name), in, nn.Conv2dConfig{Out: n, Kernel: 1, Bias: true})
		return Reshape(y, b, h*wd, n)
	}
	q, k, v := proj("query", x, ck), proj("key", x, ck), proj("value", x, c)
	g = nn.Resize(g, h, wd)
	qg, kg := proj("g_query", g, ck), proj("g_key", g, ck)
	w = Einsum("bic,bjc->bij", q, k)
	wg = Einsum("bic,bjc->bij", qg, kg)
	att = Softmax(Mul(w, wg), 2)
	gamma := Reshape(scope.GetVariable("gamma").NodeValue(x.Graph())) // [1] → a scalar
	out = Add(x, Mul(gamma, Reshape(Einsum("bij,bjc->bic", att, v), b, h, wd, c)))
	return w, wg, att, out
}

// channelParts is the channel GGB written out: W_c = XᵀX/HW; the guidance projected,
// reweighted per channel by the squeeze-and-excitation ratios se and W_g = GᵀG/HW; A =
// softmax(W_c ⊙ W_g) over each row; out = x + γ·XAᵀ.
func channelParts(scope *model.Scope, x, g *Node) (wc, wcg, att, se, out *Node) {
	d := x.Shape().Dimensions
	b, h, wd, c := d[0], d[1], d[2], d[3]
	xf := Reshape(x, b, h*wd, c)
	gp := nn.Conv2d(scope.In("g_proj"), nn.Resize(g, h, wd), nn.Conv2dConfig{Out: c, Kernel: 1, Bias: true})
	ratio := nn.Linear(scope.In("fc1"), nn.GlobalAvgPool2d(gp), max(c/4, 1), true)
	se = Sigmoid(nn.Linear(scope.In("fc2"), nn.ReLU(ratio), c, true))
	gf := Reshape(Mul(gp, Reshape(se, b, 1, 1, c)), b, h*wd, c)
	wc = MulScalar(Einsum("bnc,bnd->bcd", xf, xf), 1/float64(h*wd))
	wcg = Mul(wc, MulScalar(Einsum("bnc,bnd->bcd", gf, gf), 1/float64(h*wd)))
	att = Softmax(wcg, 2)
	gamma := Reshape(scope.GetVariable("gamma").NodeValue(x.Graph())) // [1] → a scalar
	out = Add(x, Mul(gamma, Reshape(Einsum("bnd,bcd->bnc", xf, att), b, h, wd, c)))
	return wc, wcg, att, se, out
}

// MeasureAffinities runs the main run's GG-Net (guidance both, shared) on samples and reads
// its GGBs' affinities, written out here and checked against pkg/nn's blocks.
func MeasureAffinities(b compute.Backend, store *model.Store, cfg RunConfig, samples []*phantom.Sample) (*Affinities, error) {
	if cfg.Guidance != string(nn.GuideBoth) || cfg.SeparateGuidance {
		return nil, fmt.Errorf("affinities: the run must use one shared guidance map and softmax(W⊙W′), not %q (separate %v)",
			cfg.Guidance, cfg.SeparateGuidance)
	}
	return lesson.Catch("measure the GGBs' affinities", func() (*Affinities, error) {
		n := cfg.ImageSize
		imgs := make([]float32, 0, len(samples)*n*n)
		for _, s := range samples {
			imgs = append(imgs, s.Image...)
		}
		exec, err := model.NewExec(b, store, func(scope *model.Scope, x *Node) []*Node {
			out := nn.GGNetForward(scope, x, cfg.Net())
			g := out.Guidance[0]
			w, wg, att, sOut := spatialParts(scope.At("ggb_spatial"), out.GGB[0], g)
			wc, wcg, catt, se, cOut := channelParts(scope.At("ggb_channel"), out.GGB[1], g)
			wSelf, wGuide := Softmax(w, 2), Softmax(wg, 2)
			return []*Node{ReduceAllMax(Abs(Sub(sOut, out.GGB[1]))), ReduceAllMax(Abs(Sub(cOut, out.GGB[2]))),
				w, Mul(w, wg), att, wc, wcg, catt, g, wSelf, wGuide, se}
		})
		if err != nil {
			return nil, err
		}
		defer exec.Finalize()
		res, err := exec.Call(tensors.FromFlatDataAndDimensions(imgs, len(samples), n, n, 1))
		if err != nil {
			return nil, err
		}
		flat := func(i int) []float32 { return tensors.MustCopyFlatData[float32](res[i]) }
		a := &Affinities{SpatialDiff: float64(flat(0)[0]), ChannelDiff: float64(flat(1)[0]), Guidance: imageOf(res[8], 0)}
		asym := func(i int) float64 {
			dims := res[i].Shape().Dimensions
			m, all := dims[1], flat(i)
			var sum float64
			for k := range dims[0] {
				sum += asymmetry(all[k*m*m:(k+1)*m*m], m)
			}
			return sum / float64(dims[0])
		}
		a.SpatialW, a.SpatialProduct, a.SpatialAtt = asym(2), asym(3), asym(4)
		a.ChannelW, a.ChannelProduct, a.ChannelAtt = asym(5), asym(6), asym(7)
		c := res[7].Shape().Dimensions[1]
		cat := flat(7)[:c*c]
		cols := make([]float64, c)
		for r := range c {
			for k := range c {
				cols[k] += float64(cat[r*c+k])
			}
		}
		var ss float64
		for _, v := range cols {
			ss += (v - 1) * (v - 1)
		}
		a.ColumnSpread = math.Sqrt(ss / float64(c))
		a.PairRatio = 1
		for i := range c {
			for j := range c {
				if cat[j*c+i] > 0 {
					a.PairRatio = math.Max(a.PairRatio, float64(cat[i*c+j]/cat[j*c+i]))
				}
			}
		}
		a.ChannelLogits, a.ChannelWeights = square(flat(6)[:c*c], c), square(cat, c)
		// The query: the spatial position nearest the first image's lesion centre.
		side := out2D(res[4])
		cy, cx := side/2, side/2
		if s := samples[0]; len(s.Lesions) > 0 {
			f := float64(side) / float64(s.Size)
			cy, cx = min(int(s.Lesions[0].CY*f), side-1), min(int(s.Lesions[0].CX*f), side-1)
		}
		a.Query = [2]int{cy, cx}
		q := cy*side + cx
		row := func(i int) [][]float32 {
			nn2 := side * side
			return square(flat(i)[q*nn2:(q+1)*nn2], side)
		}
		a.AttSelf, a.AttGuide, a.AttBoth = row(9), row(10), row(4)
		se := flat(11)
		a.SEMin, a.SEMax = 1, 0
		for _, v := range se {
			a.SEMin, a.SEMax = math.Min(a.SEMin, float64(v)), math.Max(a.SEMax, float64(v))
		}
		a.GuideLesion, a.GuideLesionChannel = guideCorrelation(res[8], samples, func(s *phantom.Sample) []uint8 { return s.Mask })
		a.GuideLookalike, a.GuideLookalikeChannel = guideCorrelation(res[8], samples, segkit.LookalikeRegion)
		return a, nil
	})
}

// asymmetry is max|M − Mᵀ| / max|M| of an m×m row-major matrix.
func asymmetry(v []float32, m int) float64 {
	var d, s float64
	for i := range m {
		for j := range m {
			d = math.Max(d, math.Abs(float64(v[i*m+j]-v[j*m+i])))
			s = math.Max(s, math.Abs(float64(v[i*m+j])))
		}
	}
	if s == 0 {
		return 0
	}
	return d / s
}

func square(v []float32, m int) [][]float32 {
	out := make([][]float32, len(v)/m)
	for i := range out {
		out[i] = v[i*m : (i+1)*m]
	}
	return out
}

// out2D is the side of the square map whose positions an attention [B, N, N] ranges over.
func out2D(att *tensors.Tensor) int {
	return int(math.Round(math.Sqrt(float64(att.Shape().Dimensions[1]))))
}

// imageOf is batch element i of a [B, H, W, C] tensor, as [H, W, C].
func imageOf(t *tensors.Tensor, i int) *tensors.Tensor {
	d := t.Shape().Dimensions
	per := d[1] * d[2] * d[3]
	return tensors.FromFlatDataAndDimensions(tensors.MustCopyFlatData[float32](t)[i*per:(i+1)*per], d[1], d[2], d[3])
}

// Comparison is one arm against a reference arm, over the same seeds.
type Comparison struct {
	Arm, Ref     *ArmRow
	Dice, Fooled lesson.Diff
	Boundary     string // the boundary-error difference in pixels, with its verdict
	Trained      bool
}

// Against compares the rows of arm and ref (Trained is false when either was not trained at
// this budget).
func Against(rows []ArmRow, arm, ref string) Comparison {
	a, r := segkit.Row(rows, arm), segkit.Row(rows, ref)
	if a == nil || r == nil {
		return Comparison{}
	}
	return Comparison{Arm: a, Ref: r, Trained: true, Dice: lesson.Versus(a.Dice, r.Dice), Fooled: lesson.Versus(a.Fooled, r.Fooled),
		Boundary: segkit.VersusIn(a.Boundary, r.Boundary, "px")}
}

// String is one line, to follow the arm's name: "vs GG-Net: Dice 0.61 vs 0.60, +0.4 points (…);
// boundary error …; look-alikes fooled …", or says the arm was not trained.
func (c Comparison) String() string {
	if !c.Trained {
		return "not trained at this budget (GOSTUDY_BUDGET=full trains every arm)"
	}
	return fmt.Sprintf("vs %s: Dice %.3f vs %.3f, %s; boundary error %.2f vs %.2f px, %s; look-alikes fooled %.1f%% vs %.1f%%, %s",
		c.Ref.Arm, c.Arm.Dice.Mean, c.Ref.Dice.Mean, c.Dice, c.Arm.Boundary.Mean, c.Ref.Boundary.Mean, c.Boundary,
		100*c.Arm.Fooled.Mean, 100*c.Ref.Fooled.Mean, c.Fooled)
}

// guideCorrelation is the largest |Pearson correlation| over the channels of the guidance maps
// g [B, h, w, C] with a per-sample 0/1 map averaged down to h×w, and the channel reaching it.
func guideCorrelation(g *tensors.Tensor, samples []*phantom.Sample, of func(*phantom.Sample) []uint8) (float64, int) {
	d := g.Shape().Dimensions
	B, h, w, C := d[0], d[1], d[2], d[3]
	flat := tensors.MustCopyFlatData[float32](g)
	target := make([]float64, 0, B*h*w)
	for _, s := range samples[:B] {
		m := of(s)
		f := s.Size / h
		for y := range h {
			for x := range w {
				var sum float64
				for dy := range f {
					for dx := range f {
						sum += float64(m[(y*f+dy)*s.Size+x*f+dx])
					}
				}
				target = append(target, sum/float64(f*f))
			}
		}
	}
	best, channel := 0.0, -1
	for c := range C {
		v := make([]float64, len(target))
		for i := range v {
			v[i] = float64(flat[i*C+c])
		}
		if r := pearson(v, target); math.Abs(r) > math.Abs(best) {
			best, channel = r, c
		}
	}
	return best, channel
}

func pearson(a, b []float64) float64 {
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var sab, saa, sbb float64
	for i := range a {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	if saa == 0 || sbb == 0 {
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}

// PartMove is how far one part of a trained network moved from its initial weights.
type PartMove struct {
	Part string `display:"part"`
	// Moved is ‖w − w₀‖ / ‖w₀‖ over the part's conv and linear weights (BatchNorm scales and
	// the GGBs' γ, which starts at 0, left out).
	Moved float64 `display:"moved ‖w − w₀‖ / ‖w₀‖;format=%.3f"`
}

// MovedFromInit rebuilds the run's initial weights — a fresh store with the run's seed, the
// training graph built once, so every variable is drawn in the same order as when the run
// started — and measures how far each part (the first element of a variable's path: enc,
// guidance, ggb_spatial, …) of the trained store moved from them. A part whose gradient never
// arrived would not move: this is how the lesson checks that the guidance map's fuse conv
// trains although the GGBs' γ = 0 at the start blocks every gradient upstream of them at the
// first step.
func MovedFromInit(b compute.Backend, trained *model.Store, cfg RunConfig, seed int64) ([]PartMove, error) {
	return lesson.Catch("weights moved from their initial values", func() ([]PartMove, error) {
		init := model.NewStore()
		init.SetParam(model.ParamInitialSeed, seed)
		x := tensors.FromFlatDataAndDimensions(make([]float32, cfg.ImageSize*cfg.ImageSize), 1, cfg.ImageSize, cfg.ImageSize, 1)
		exec, err := model.NewExec(b, init, func(scope *model.Scope, x *Node) *Node {
			scope.Store().SetTraining(x.Graph(), true)
			return Model(scope, cfg, []*Node{x})[0]
		})
		if err != nil {
			return nil, err
		}
		if _, err := exec.Call(x); err != nil {
			return nil, err
		}
		var parts []string
		diff, norm := map[string]float64{}, map[string]float64{}
		for v0 := range init.IterVariables() {
			path := v0.Path()
			if !v0.Trainable || !strings.HasSuffix(path, "/weight") || strings.Contains(path, "/bn") {
				continue
			}
			v := trained.GetVariable(path)
			if v == nil {
				return nil, fmt.Errorf("%s: in the initial network but not in the trained one (another configuration?)", path)
			}
			w, w0 := tensors.MustCopyFlatData[float32](v.MustValue()), tensors.MustCopyFlatData[float32](v0.MustValue())
			if len(w) != len(w0) {
				return nil, fmt.Errorf("%s: %d trained values, %d initial", path, len(w), len(w0))
			}
			part := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 2)[0]
			if _, ok := norm[part]; !ok {
				parts = append(parts, part)
			}
			for i := range w {
				d := float64(w[i] - w0[i])
				diff[part] += d * d
				norm[part] += float64(w0[i]) * float64(w0[i])
			}
		}
		out := make([]PartMove, len(parts))
		for i, p := range parts {
			out[i] = PartMove{Part: p, Moved: math.Sqrt(diff[p] / norm[p])}
		}
		return out, nil
	})
}
