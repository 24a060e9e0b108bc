package patchembed

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/nn"
)

// ---------------------------------------------------------------------------------------------
// Patchify = patches + one linear layer

// Unfold cuts x [B, H, W, C] into k×k windows taken every s pixels after padding every side
// with pad zeros, and flattens each window in (channel, row, column) order — the order of a
// PyTorch conv weight [D, C, k, k] — giving [B, h, w, C·k·k]. With k = s and pad = 0 it is
// nn.Patchify (non-overlapping patches); with k > s the windows overlap (im2col). Forward only
// (nn.PadHW, slices and a concatenation).
func Unfold(x *graph.Node, k, s, pad int) *graph.Node {
	if pad > 0 {
		x = nn.PadHW(x, 0, pad, pad, pad, pad)
	}
	d := x.Shape().Dimensions
	b, c := d[0], d[3]
	h, w := (d[1]-k)/s+1, (d[2]-k)/s+1
	var taps []*graph.Node
	for i := range k {
		for j := range k {
			t := graph.Slice(x, graph.AxisRange(),
				graph.AxisRange(i, i+s*(h-1)+1).Stride(s), graph.AxisRange(j, j+s*(w-1)+1).Stride(s), graph.AxisRange())
			taps = append(taps, graph.Reshape(t, b, h, w, c, 1))
		}
	}
	return graph.Reshape(graph.Concatenate(taps, -1), b, h, w, c*k*k) // [B,h,w,C,k·k] → (c, i, j) order
}

// Equivalence is the measured difference between a stem's convolution and "cut the image into
// (possibly overlapping) patches, flatten each, apply one linear layer" with the conv's weight
// [D, C, k, k] viewed as a matrix [D, C·k·k].
type Equivalence struct {
	Stem                    string
	Kernel, Stride, Padding int
	// PatchLen is the length of one flattened patch, C·k·k: the linear layer's input width.
	PatchLen int
	// Tokens is the token grid both produce.
	Tokens [2]int
	// MaxAbsErr is max |conv − linear(patches)| over every token and channel of the batch.
	MaxAbsErr float64
	// MaxAbs is max |conv|, the scale MaxAbsErr compares with.
	MaxAbs float64
	// PatchifyErr is max |Unfold(k=s) − nn.Patchify|: the two ways of cutting patches agree
	// (only for the patch stem; 0 otherwise).
	PatchifyErr float64
}

// ProvePatchify runs the stem of cfg (StemPatch or StemOverlap, nn.ViTStem) both ways on
// images [B, 28, 28, 1] with the weights in store (a trained model's, or a fresh store to
// initialize them) and measures the difference. The store's variables must not already live on
// another backend (GoMLX keeps a tensor on the backend that used it): give each backend its own
// store.
func ProvePatchify(b compute.Backend, store *model.Store, cfg RunConfig, images *tensors.Tensor) (Equivalence, error) {
	return lesson.Catch("prove patchify", func() (Equivalence, error) {
		p := cfg.PatchSize
		eq := Equivalence{Stem: cfg.Stem, Kernel: p, Stride: p, PatchLen: p * p}
		switch cfg.Stem {
		case StemPatch:
		case StemOverlap:
			eq.Kernel, eq.Padding, eq.PatchLen = 2*p, p/2, 4*p*p
		default:
			return eq, fmt.Errorf("stem %q is not a single convolution", cfg.Stem)
		}
		exec, err := model.NewExec(b, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
			conv := nn.ViTStem(scope.In("patch_embed"), x, cfg.ViT())
			shared := scope.Shared("patch_embed")
			var lin, pfErr *graph.Node
			if cfg.Stem == StemPatch {
				// The library's version: nn.Patchify then a linear layer with the conv weight.
				lin = nn.PatchEmbedAsLinear(shared, x, nn.PatchEmbedConfig{PatchSize: p, EmbedDim: cfg.EmbedDim})
				pfErr = graph.ReduceAllMax(graph.Abs(graph.Sub(Unfold(x, p, p, 0), nn.Patchify(x, p))))
			} else {
				proj := shared.In("proj")
				w := proj.GetVariable("weight").NodeValue(x.Graph())
				bias := proj.GetVariable("bias").NodeValue(x.Graph())
				w = graph.Reshape(w, cfg.EmbedDim, -1) // [D, C, k, k] → [D, C·k·k]
				lin = nn.LinearApply(Unfold(x, eq.Kernel, eq.Stride, eq.Padding), w, bias)
				pfErr = graph.ScalarZero(x.Graph(), conv.DType())
			}
			d := conv.Shape().Dimensions
			return []*graph.Node{
				graph.ReduceAllMax(graph.Abs(graph.Sub(conv, lin))),
				graph.ReduceAllMax(graph.Abs(conv)),
				pfErr,
				graph.Const(x.Graph(), []int32{int32(d[1]), int32(d[2])}),
			}
		})
		if err != nil {
			return eq, err
		}
		defer exec.Finalize()
		x, err := images.LocalClone() // the caller's tensor may live on another backend
		if err != nil {
			return eq, err
		}
		outs, err := exec.Call(x)
		if err != nil {
			return eq, err
		}
		eq.MaxAbsErr = scalarOf(outs[0])
		eq.MaxAbs = scalarOf(outs[1])
		eq.PatchifyErr = scalarOf(outs[2])
		grid := tensors.MustCopyFlatData[int32](outs[3])
		eq.Tokens = [2]int{int(grid[0]), int(grid[1])}
		return eq, nil
	})
}

// ---------------------------------------------------------------------------------------------
// Cost of the stems

// Cost is the size and compute of a stem and of the whole model using it, for one 28×28 image.
type Cost struct {
	Stem        string `display:"stem"`
	Kernel      string `display:"convolution"` // e.g. "4×4 stride 4" or "8×8 stride 4 pad 2"
	StemParams  int64  `display:"stem parameters"`
	StemMACs    int64  `display:"stem multiply-adds"`
	ModelParams int64  `display:"model parameters"`
	ModelMACs   int64  `display:"model multiply-adds"`
}

// MeasureCosts measures each config's stem alone (nn.ViTStem) and its whole model
// (nn.Measure on the pure-Go backend: the graphs are built, never run, so no XLA compilation is
// spent on counting).
func MeasureCosts(cfgs ...RunConfig) ([]Cost, error) {
	b, err := gobackend.New("")
	if err != nil {
		return nil, fmt.Errorf("costs: %w", err)
	}
	in := shapes.Make(nn.DType, 1, 28, 28, 1)
	var out []Cost
	for _, cfg := range cfgs {
		c := Cost{Stem: cfg.Stem, Kernel: stemKernel(cfg)}
		stem, err := nn.Measure(b, func(scope *model.Scope, x *graph.Node) *graph.Node {
			return nn.ViTStem(scope.In("patch_embed"), x, cfg.ViT())
		}, in)
		if err != nil {
			return nil, fmt.Errorf("costs of the %s stem: %w", cfg.Stem, err)
		}
		full, err := nn.Measure(b, nn.ViT(cfg.ViT()), in)
		if err != nil {
			return nil, fmt.Errorf("costs of the %s model: %w", cfg.Stem, err)
		}
		c.StemParams, c.StemMACs, c.ModelParams, c.ModelMACs = stem.Params, stem.MACs, full.Params, full.MACs
		out = append(out, c)
	}
	return out, nil
}

func stemKernel(cfg RunConfig) string {
	p := cfg.PatchSize
	switch cfg.Stem {
	case StemPatch:
		return fmt.Sprintf("%d×%d stride %d", p, p, p)
	case StemOverlap:
		return fmt.Sprintf("%d×%d stride %d pad %d", 2*p, 2*p, p, p/2)
	}
	return "3×3 stride 2, ×log2(p)"
}

// ---------------------------------------------------------------------------------------------
// Anatomy: the parameter table

// Param is one learned tensor of the model, under its timm state_dict name.
type Param struct {
	Name  string `display:"timm name"`
	Shape string `display:"shape"`
	Count int64  `display:"numbers"`
}

// Params lists the model's trainable parameters in creation order (the order of the forward
// pass), built on the pure-Go backend without running it.
func Params(cfg RunConfig) ([]Param, error) {
	b, err := gobackend.New("")
	if err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	store := model.NewStore()
	defer store.Finalize()
	if _, err := nn.Build(b, store, nn.ViT(cfg.ViT()), shapes.Make(nn.DType, 1, 28, 28, 1)); err != nil {
		return nil, err
	}
	var out []Param
	for v := range store.IterVariables() {
		if !v.Trainable {
			continue
		}
		out = append(out, Param{Name: nn.PathToKey(v.Path()), Shape: fmt.Sprint(v.Shape().Dimensions), Count: int64(v.Shape().Size())})
	}
	return out, nil
}

// ---------------------------------------------------------------------------------------------
// Learned position embeddings

// PosSimilarity describes how similar the position embeddings of a grid are to each other
// (ViT paper Fig. 7, centre).
type PosSimilarity struct {
	Grid [2]int
	// Maps[r][c][k] is the cosine similarity of position k's embedding with the embedding at
	// (r, c): channel k is position k's similarity map (one panel per position).
	Maps [][][]float64
	// ByDistance[i] is the mean similarity of pairs of positions whose Euclidean grid distance
	// rounds to Distances[i].
	Distances  []float64
	ByDistance []float64
	// Neighbour is the mean over pairs of 4-neighbours (distance 1); Far the mean over pairs at
	// distance ≥ FarDistance.
	Neighbour, Far float64
	// SameRow and SameCol are means over pairs sharing a row (or column) at distance ≥ 2,
	// Other over the remaining pairs at distance ≥ 2: 2D structure a 1D embedding learned.
	SameRow, SameCol, Other float64
	// NearestAdjacent is the fraction of positions whose most similar other position is one of
	// its 8 grid neighbours; NearestChance is that fraction for a random choice (the mean of
	// #neighbours / (N−1)).
	NearestAdjacent, NearestChance float64
}

// FarDistance is the grid distance from which a pair counts as "far" in PosSimilarity.
const FarDistance = 4

// MeasurePosSimilarity measures pos [1, prefix + h·w, D] (the class token's entries first, left
// out) on the grid.
func MeasurePosSimilarity(pos *tensors.Tensor, grid [2]int, prefix int) (PosSimilarity, error) {
	vals, err := tensors.CopyFlatData[float32](pos)
	if err != nil {
		return PosSimilarity{}, fmt.Errorf("pos similarity: %w", err)
	}
	dims := pos.Shape().Dimensions
	n := grid[0] * grid[1]
	if len(dims) != 3 || dims[1] != prefix+n {
		return PosSimilarity{}, fmt.Errorf("pos similarity: pos %v does not hold %d prefix tokens and a %v grid", dims, prefix, grid)
	}
	d := dims[2]
	vecs := make([][]float64, n)
	for k := range n {
		v := make([]float64, d)
		norm := 0.0
		for c := range d {
			v[c] = float64(vals[(prefix+k)*d+c])
			norm += v[c] * v[c]
		}
		norm = math.Sqrt(norm)
		for c := range v {
			v[c] /= norm
		}
		vecs[k] = v
	}
	s := PosSimilarity{Grid: grid, Maps: make([][][]float64, grid[0])}
	for r := range grid[0] {
		s.Maps[r] = make([][]float64, grid[1])
		for c := range grid[1] {
			s.Maps[r][c] = make([]float64, n)
		}
	}
	sums, counts := map[int]float64{}, map[int]int{}
	var nb, far, row, col, other meanAcc
	for a := range n {
		for bb := range n {
			cos := 0.0
			for c := range d {
				cos += vecs[a][c] * vecs[bb][c]
			}
			ra, ca, rb, cb := a/grid[1], a%grid[1], bb/grid[1], bb%grid[1]
			s.Maps[rb][cb][a] = cos
			if bb <= a {
				continue
			}
			dist := math.Hypot(float64(ra-rb), float64(ca-cb))
			key := int(math.Round(dist))
			sums[key] += cos
			counts[key]++
			switch {
			case dist == 1:
				nb.add(cos)
			case dist >= FarDistance:
				far.add(cos)
			}
			if dist >= 2 {
				switch {
				case ra == rb:
					row.add(cos)
				case ca == cb:
					col.add(cos)
				default:
					other.add(cos)
				}
			}
		}
	}
	for a := range n {
		ra, ca := a/grid[1], a%grid[1]
		best, bestCos, adj := -1, math.Inf(-1), 0
		for bb := range n {
			rb, cb := bb/grid[1], bb%grid[1]
			if bb == a {
				continue
			}
			if abs(ra-rb) <= 1 && abs(ca-cb) <= 1 {
				adj++
			}
			if cos := s.Maps[rb][cb][a]; cos > bestCos {
				best, bestCos = bb, cos
			}
		}
		if rb, cb := best/grid[1], best%grid[1]; abs(ra-rb) <= 1 && abs(ca-cb) <= 1 {
			s.NearestAdjacent++
		}
		s.NearestChance += float64(adj) / float64(n-1)
	}
	s.NearestAdjacent /= float64(n)
	s.NearestChance /= float64(n)
	keys := make([]int, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s.Distances = append(s.Distances, float64(k))
		s.ByDistance = append(s.ByDistance, sums[k]/float64(counts[k]))
	}
	s.Neighbour, s.Far = nb.mean(), far.mean()
	s.SameRow, s.SameCol, s.Other = row.mean(), col.mean(), other.mean()
	return s, nil
}

// PosEmbed returns the learned position embedding of a trained model's store, [1, prefix+N, D].
func PosEmbed(store *model.Store) (*tensors.Tensor, error) {
	v := store.GetVariable("/pos_embed")
	if v == nil {
		return nil, fmt.Errorf("no variable /pos_embed in the store")
	}
	t, err := v.Value()
	if err != nil {
		return nil, fmt.Errorf("read /pos_embed: %w", err)
	}
	return t, nil
}

// PosGrid lays the patch entries of pos [1, prefix + h·w, D] out on their grid, [h, w, D], to
// draw channels of a position embedding as images.
func PosGrid(pos *tensors.Tensor, prefix int, grid [2]int) (*tensors.Tensor, error) {
	dims := pos.Shape().Dimensions
	if len(dims) != 3 || dims[1] != prefix+grid[0]*grid[1] {
		return nil, fmt.Errorf("pos grid: pos %v does not hold %d prefix tokens and a %v grid", dims, prefix, grid)
	}
	vals, err := tensors.CopyFlatData[float32](pos)
	if err != nil {
		return nil, err
	}
	return tensors.FromFlatDataAndDimensions(vals[prefix*dims[2]:], grid[0], grid[1], dims[2]), nil
}

// InitialPosEmbed returns the position embedding a run of cfg with this seed starts from: the
// model is built in a fresh store seeded as experiment.Run seeds its store, so every variable
// is drawn in the same order from the same generator (checked against a run trained with a
// learning rate of 1e-12: equal to 2e-12).
func InitialPosEmbed(b compute.Backend, cfg RunConfig, seed int64) (*tensors.Tensor, error) {
	return lesson.Catch("initial pos_embed", func() (*tensors.Tensor, error) {
		store := model.NewStore()
		defer store.Finalize()
		store.SetParam(model.ParamInitialSeed, seed)
		exec, err := model.NewExec(b, store, nn.ViT(cfg.ViT()))
		if err != nil {
			return nil, err
		}
		defer exec.Finalize()
		if _, err := exec.Call(tensors.FromFlatDataAndDimensions(make([]float32, 28*28), 1, 28, 28, 1)); err != nil {
			return nil, err
		}
		v, err := PosEmbed(store)
		if err != nil {
			return nil, err
		}
		return v.LocalClone() // the store is finalized on return
	})
}

// ---------------------------------------------------------------------------------------------
// Resolution transfer with interpolated position embeddings

// The position embeddings tried at a new resolution.
const (
	PosLearned   = "learned (native grid)"
	Pos2DLinear  = "2D linear (ViT's code)"
	Pos2DBicubic = "2D bicubic (timm)"
	Pos1D        = "1D interpolation of the sequence"
	PosNone      = "no position embedding"
)

// Transfer is the test accuracy of a trained model at one input size with one choice of
// position embedding.
type Transfer struct {
	Size     int     `display:"image side;unit=px"`
	Grid     [2]int  `display:"-"`
	Tokens   int     `display:"patch tokens"`
	Pos      string  `display:"position embedding"`
	Accuracy float64 `display:"test accuracy;format=%.4f"`
}

// MeasureResolutionTransfer evaluates the model in store on the first n images of set at
// 28×28 (with its learned position embedding, and without any) and at newSize×newSize (images
// resized bilinearly; the learned grid of embeddings resized in 2D as ViT's reference code does
// it — linear, corners aligned — and as timm does it — bicubic, half-pixel centres; stretched as
// a 1D sequence; or dropped). No training at the new size: the patch embedding sees the digits
// at a larger scale, so what is measured is how well each way of placing the tokens keeps the
// model's sense of where things are.
func MeasureResolutionTransfer(ctx context.Context, b compute.Backend, store *model.Store, cfg RunConfig, set *mnist.Set, n, newSize int) ([]Transfer, error) {
	return lesson.Catch("resolution transfer", func() ([]Transfer, error) {
		if newSize%cfg.PatchSize != 0 {
			return nil, fmt.Errorf("size %d is not a multiple of the patch size %d", newSize, cfg.PatchSize)
		}
		pos, err := PosEmbed(store)
		if err != nil {
			return nil, err
		}
		prefix, base := cfg.Prefix(), cfg.Grid()
		newGrid := [2]int{newSize / cfg.PatchSize, newSize / cfg.PatchSize}
		bicubic, err := nn.ResamplePosEmbed(pos, base, newGrid, prefix)
		if err != nil {
			return nil, err
		}
		linear, err := ResamplePosEmbedLinear(pos, base, newGrid, prefix)
		if err != nil {
			return nil, err
		}
		pos1D, err := ResamplePosEmbed1D(pos, prefix, newGrid[0]*newGrid[1])
		if err != nil {
			return nil, err
		}
		eval, finalize, err := posEvaluator(ctx, b, store, cfg, set, n)
		if err != nil {
			return nil, err
		}
		defer finalize()
		cases := []struct {
			size int
			grid [2]int
			name string
			pos  *tensors.Tensor
		}{
			{28, base, PosLearned, pos},
			{28, base, PosNone, zeroPatchPos(pos, prefix)},
			{newSize, newGrid, Pos2DLinear, linear},
			{newSize, newGrid, Pos2DBicubic, bicubic},
			{newSize, newGrid, Pos1D, pos1D},
			{newSize, newGrid, PosNone, zeroPatchPos(pos1D, prefix)},
		}
		var out []Transfer
		for _, c := range cases {
			acc, err := eval(c.size, c.pos)
			if err != nil {
				return out, fmt.Errorf("at %d (%s): %w", c.size, c.name, err)
			}
			out = append(out, Transfer{Size: c.size, Grid: c.grid, Tokens: c.grid[0] * c.grid[1], Pos: c.name, Accuracy: acc})
		}
		return out, nil
	})
}

// posEvaluator compiles the model of store with the position embedding as an input
// (nn.ViTOptions.Pos) and returns a function measuring the accuracy on the first n images of set
// at a given size (resized bilinearly from 28×28) with a given position embedding.
func posEvaluator(ctx context.Context, b compute.Backend, store *model.Store, cfg RunConfig, set *mnist.Set, n int) (
	eval func(size int, pos *tensors.Tensor) (float64, error), finalize func(), err error) {
	if n <= 0 || n%lesson.EvalBatch != 0 || n > set.Len() {
		return nil, nil, fmt.Errorf("%d images: want a positive multiple of %d up to %d", n, lesson.EvalBatch, set.Len())
	}
	exec, err := model.NewExec(b, store, func(scope *model.Scope, x, p *graph.Node) *graph.Node {
		return nn.ViTForward(scope, x, cfg.ViT(), nn.ViTOptions{Pos: p}).Logits
	})
	if err != nil {
		return nil, nil, err
	}
	eval = func(size int, p *tensors.Tensor) (float64, error) {
		return lesson.Accuracy(ctx, set, n, func(images *tensors.Tensor) (*tensors.Tensor, error) {
			if size != 28 {
				bsz := images.Shape().Dimensions[0]
				images = tensors.FromFlatDataAndDimensions(
					ResizeBilinear(tensors.MustCopyFlatData[float32](images), bsz, 28, 28, size, size), bsz, size, size, 1)
			}
			return exec.Call1(images, p)
		})
	}
	return eval, exec.Finalize, nil
}

// PosReliance is a model's accuracy with and without its position embedding, at 28×28.
type PosReliance struct {
	With, Without float64
}

// MeasurePositionReliance measures how much the model in store relies on its position
// embedding: its accuracy on the first n images of set at 28×28 with the learned embedding and
// with the patch tokens' entries set to zero.
func MeasurePositionReliance(ctx context.Context, b compute.Backend, store *model.Store, cfg RunConfig, set *mnist.Set, n int) (PosReliance, error) {
	return lesson.Catch("position reliance", func() (PosReliance, error) {
		var r PosReliance
		pos, err := PosEmbed(store)
		if err != nil {
			return r, err
		}
		eval, finalize, err := posEvaluator(ctx, b, store, cfg, set, n)
		if err != nil {
			return r, err
		}
		defer finalize()
		if r.With, err = eval(28, pos); err != nil {
			return r, err
		}
		r.Without, err = eval(28, zeroPatchPos(pos, cfg.Prefix()))
		return r, err
	})
}

// ResamplePosEmbedLinear resizes the patch entries of pos [1, prefix + oldH·oldW, D] on their
// grid to newGrid the way ViT's reference code (big_vision / vit_jax, loading a checkpoint at
// another resolution) does: scipy.ndimage.zoom(grid, zoom, order=1) — linear interpolation
// with the corner positions aligned, output position i sampling input position
// i·(old−1)/(new−1). The prefix entries are kept. timm (and nn.ResamplePosEmbed) interpolate
// bicubically at half-pixel centres instead.
func ResamplePosEmbedLinear(pos *tensors.Tensor, oldGrid, newGrid [2]int, prefix int) (*tensors.Tensor, error) {
	dims := pos.Shape().Dimensions
	if len(dims) != 3 || dims[0] != 1 || dims[1] != prefix+oldGrid[0]*oldGrid[1] {
		return nil, fmt.Errorf("resample pos_embed linearly: shape %v does not hold %d prefix tokens and a %v grid", dims, prefix, oldGrid)
	}
	if newGrid[0] < 1 || newGrid[1] < 1 {
		return nil, fmt.Errorf("resample pos_embed linearly: grid %v", newGrid)
	}
	src, err := tensors.CopyFlatData[float32](pos)
	if err != nil {
		return nil, err
	}
	d := dims[2]
	// taps returns, for output index i of an axis resized from in to out samples, the two input
	// indices and the weight of the second (corners aligned, as scipy's zoom with grid_mode=False).
	taps := func(i, in, out int) (int, int, float64) {
		if out == 1 || in == 1 {
			return 0, 0, 0
		}
		x := float64(i) * float64(in-1) / float64(out-1)
		lo := min(int(math.Floor(x)), in-2)
		return lo, lo + 1, x - float64(lo)
	}
	dst := make([]float32, (prefix+newGrid[0]*newGrid[1])*d)
	copy(dst, src[:prefix*d])
	at := func(y, x, c int) float64 { return float64(src[(prefix+y*oldGrid[1]+x)*d+c]) }
	for i := range newGrid[0] {
		y0, y1, fy := taps(i, oldGrid[0], newGrid[0])
		for j := range newGrid[1] {
			x0, x1, fx := taps(j, oldGrid[1], newGrid[1])
			for c := range d {
				top := at(y0, x0, c)*(1-fx) + at(y0, x1, c)*fx
				bot := at(y1, x0, c)*(1-fx) + at(y1, x1, c)*fx
				dst[(prefix+i*newGrid[1]+j)*d+c] = float32(top*(1-fy) + bot*fy)
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(dst, 1, prefix+newGrid[0]*newGrid[1], d), nil
}

// ResampleGap compares the two 2D resamplings of one position embedding (patch entries only).
type ResampleGap struct {
	// RMS and Max are the root-mean-square and the largest difference between ViT's linear and
	// timm's bicubic resampling; Scale is the RMS of the bicubic embedding, what they compare with.
	RMS, Max, Scale float64
}

// MeasureResampleGap resizes pos [1, prefix + oldH·oldW, D] to newGrid both ways and compares.
func MeasureResampleGap(pos *tensors.Tensor, oldGrid, newGrid [2]int, prefix int) (ResampleGap, error) {
	var g ResampleGap
	lin, err := ResamplePosEmbedLinear(pos, oldGrid, newGrid, prefix)
	if err != nil {
		return g, err
	}
	cub, err := nn.ResamplePosEmbed(pos, oldGrid, newGrid, prefix)
	if err != nil {
		return g, err
	}
	a, b := tensors.MustCopyFlatData[float32](lin), tensors.MustCopyFlatData[float32](cub)
	var diff, scale meanAcc
	for i := prefix * pos.Shape().Dimensions[2]; i < len(a); i++ {
		d := float64(a[i] - b[i])
		diff.add(d * d)
		scale.add(float64(b[i]) * float64(b[i]))
		g.Max = math.Max(g.Max, math.Abs(d))
	}
	g.RMS, g.Scale = math.Sqrt(diff.mean()), math.Sqrt(scale.mean())
	return g, nil
}

// ResamplePosEmbed1D stretches the patch entries of pos [1, prefix + N, D] to newN entries by
// linear interpolation along the sequence (half-pixel centres), as if the tokens were a 1D
// signal: what interpolating "the 1D position embedding" would do if one forgot that the
// sequence is a raster scan of a 2D grid. The prefix entries are kept.
func ResamplePosEmbed1D(pos *tensors.Tensor, prefix, newN int) (*tensors.Tensor, error) {
	dims := pos.Shape().Dimensions
	if len(dims) != 3 || dims[0] != 1 || dims[1] <= prefix {
		return nil, fmt.Errorf("resample pos_embed 1D: shape %v", dims)
	}
	src, err := tensors.CopyFlatData[float32](pos)
	if err != nil {
		return nil, err
	}
	n, d := dims[1]-prefix, dims[2]
	dst := make([]float32, (prefix+newN)*d)
	copy(dst, src[:prefix*d])
	for i := range newN {
		x := (float64(i)+0.5)*float64(n)/float64(newN) - 0.5
		x = min(max(x, 0), float64(n-1))
		lo := int(math.Floor(x))
		hi := min(lo+1, n-1)
		f := x - float64(lo)
		for c := range d {
			a, bv := float64(src[(prefix+lo)*d+c]), float64(src[(prefix+hi)*d+c])
			dst[(prefix+i)*d+c] = float32(a*(1-f) + bv*f)
		}
	}
	return tensors.FromFlatDataAndDimensions(dst, 1, prefix+newN, d), nil
}

// zeroPatchPos returns pos with the patch entries set to zero (the class token's entry kept).
func zeroPatchPos(pos *tensors.Tensor, prefix int) *tensors.Tensor {
	vals := tensors.MustCopyFlatData[float32](pos)
	d := pos.Shape().Dimensions[2]
	clear(vals[prefix*d:])
	return tensors.FromFlatDataAndDimensions(vals, pos.Shape().Dimensions...)
}

// ResizeBilinear resizes n single-channel h×w images (flat, row-major) to nh×nw with bilinear
// interpolation at half-pixel centres, edges clamped (PyTorch's align_corners=False).
func ResizeBilinear(src []float32, n, h, w, nh, nw int) []float32 {
	dst := make([]float32, n*nh*nw)
	coord := func(i, in, out int) (int, int, float32) {
		x := (float64(i)+0.5)*float64(in)/float64(out) - 0.5
		x = min(max(x, 0), float64(in-1))
		lo := int(math.Floor(x))
		return lo, min(lo+1, in-1), float32(x - float64(lo))
	}
	for b := range n {
		img := src[b*h*w : (b+1)*h*w]
		out := dst[b*nh*nw : (b+1)*nh*nw]
		for i := range nh {
			y0, y1, fy := coord(i, h, nh)
			for j := range nw {
				x0, x1, fx := coord(j, w, nw)
				top := img[y0*w+x0]*(1-fx) + img[y0*w+x1]*fx
				bot := img[y1*w+x0]*(1-fx) + img[y1*w+x1]*fx
				out[i*nw+j] = top*(1-fy) + bot*fy
			}
		}
	}
	return dst
}

// ---------------------------------------------------------------------------------------------
// What the class token looks at

// ClsAttention is where the class token's attention goes, per block, averaged over images.
type ClsAttention struct {
	// InkFraction is the mean fraction of patches that hold ink (a pixel ≥ InkLevel).
	InkFraction float64
	// InkShare[ℓ] is the mean share of block ℓ's class-token attention (over heads, patch
	// tokens only, renormalized) that lands on ink patches. Above InkFraction means the class
	// token gathers from the digit more than from the background.
	InkShare []float64
	// SelfShare[ℓ] is the mean attention the class token pays to itself in block ℓ.
	SelfShare []float64
}

// InkLevel is the raw pixel value from which a patch counts as holding ink.
const InkLevel = 128

// MeasureClassTokenAttention measures ClsAttention for the model in store on the first n
// images of set (nn.ViTForward's attention maps).
func MeasureClassTokenAttention(ctx context.Context, b compute.Backend, store *model.Store, cfg RunConfig, set *mnist.Set, n int) (ClsAttention, error) {
	return lesson.Catch("class token attention", func() (ClsAttention, error) {
		var res ClsAttention
		if cfg.Pool != PoolToken {
			return res, fmt.Errorf("the model has no class token (pool %q)", cfg.Pool)
		}
		if n <= 0 || n%lesson.EvalBatch != 0 || n > set.Len() {
			return res, fmt.Errorf("%d images: want a positive multiple of %d up to %d", n, lesson.EvalBatch, set.Len())
		}
		grid, p := cfg.Grid(), cfg.PatchSize
		exec, err := model.NewExec(b, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
			out := nn.ViTForward(scope, x, cfg.ViT(), nn.ViTOptions{})
			// Logits too: the pure-Go backend needs a node built after the last variable.
			outs := []*graph.Node{out.Logits}
			for _, a := range out.Attn { // [B, heads, T, T] → the class token's row, mean over heads
				outs = append(outs, graph.ReduceMean(graph.Slice(a, graph.AxisRange(), graph.AxisRange(), graph.AxisElem(0)), 1, 2))
			}
			return outs
		})
		if err != nil {
			return res, err
		}
		defer exec.Finalize()
		res.InkShare = make([]float64, cfg.Depth)
		res.SelfShare = make([]float64, cfg.Depth)
		nTok := grid[0] * grid[1]
		for start := 0; start < n; start += lesson.EvalBatch {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			imgs, _, err := lesson.Digits(set, start, lesson.EvalBatch)
			if err != nil {
				return res, err
			}
			outs, err := exec.Call(imgs)
			if err != nil {
				return res, err
			}
			ink := make([][]bool, lesson.EvalBatch)
			for i := range ink {
				ink[i] = inkPatches(set.Image(start+i), grid, p)
				cnt := 0
				for _, v := range ink[i] {
					if v {
						cnt++
					}
				}
				res.InkFraction += float64(cnt) / float64(nTok)
			}
			for l, o := range outs[1:] {
				a := tensors.MustCopyFlatData[float32](o) // [B, 1 + N]
				for i := range lesson.EvalBatch {
					row := a[i*(1+nTok) : (i+1)*(1+nTok)]
					res.SelfShare[l] += float64(row[0])
					total, onInk := 0.0, 0.0
					for k := range nTok {
						total += float64(row[1+k])
						if ink[i][k] {
							onInk += float64(row[1+k])
						}
					}
					res.InkShare[l] += onInk / total
				}
			}
			for _, o := range outs {
				o.FinalizeAll()
			}
		}
		res.InkFraction /= float64(n)
		for l := range res.InkShare {
			res.InkShare[l] /= float64(n)
			res.SelfShare[l] /= float64(n)
		}
		return res, nil
	})
}

// inkPatches says, for each patch of a 28×28 image, whether it holds a pixel ≥ InkLevel.
func inkPatches(px []uint8, grid [2]int, p int) []bool {
	out := make([]bool, grid[0]*grid[1])
	for y := range 28 {
		for x := range 28 {
			if px[y*28+x] >= InkLevel && y/p < grid[0] && x/p < grid[1] {
				out[(y/p)*grid[1]+x/p] = true
			}
		}
	}
	return out
}

// ---------------------------------------------------------------------------------------------
// helpers

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

type meanAcc struct {
	sum float64
	n   int
}

func (m *meanAcc) add(v float64) { m.sum += v; m.n++ }
func (m *meanAcc) mean() float64 {
	if m.n == 0 {
		return math.NaN()
	}
	return m.sum / float64(m.n)
}

func scalarOf(t *tensors.Tensor) float64 { return shapes.ConvertTo[float64](t.Value()) }
