package windowattention

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// BlockInfo is the window layout one block uses on its feature map.
type BlockInfo struct {
	Stage int `display:"stage (from 0)"`
	Block int `display:"block"`
	// H and W are the block's feature map; HP and WP the map padded to multiples of the window.
	H  int `display:"map rows"`
	W  int `display:"map columns"`
	HP int `display:"padded rows"`
	WP int `display:"padded columns"`
	// Window and Shift are what the block actually uses (nn.SwinWindowShift: a window as large
	// as the map shrinks to it and is not shifted).
	Window int `display:"window M"`
	Shift  int `display:"shift s"`
	// Windows is the number of windows per image; Heads the attention heads.
	Windows int `display:"windows"`
	Heads   int `display:"heads"`
	// Patch is how many input pixels one token of this map spans per side.
	Patch int `display:"pixels per token"`
}

// Kind is "SW-MSA" for a block that shifts its windows and "W-MSA" otherwise. It follows what
// the block does on its map, not its position: a second block whose map is no larger than the
// window is not shifted (nn.SwinWindowShift), so it is W-MSA.
func (b BlockInfo) Kind() string {
	if b.Shift > 0 {
		return "SW-MSA"
	}
	return "W-MSA"
}

// Name is "stage 1, block 1 (SW-MSA)": stages counted from 1 as the paper counts them, blocks
// from 0 as timm's names do ("layers.0.blocks.1").
func (b BlockInfo) Name() string {
	return fmt.Sprintf("stage %d, block %d (%s)", b.Stage+1, b.Block, b.Kind())
}

// Blocks lists the layout of every block of the run's model on 28×28 images.
func Blocks(c RunConfig) []BlockInfo {
	sc := c.Swin()
	var out []BlockInfo
	h := 28 / sc.PatchSize
	patch := sc.PatchSize
	for i, depth := range sc.Depths {
		if i > 0 {
			h = (h + 1) / 2
			patch *= 2
		}
		for j := range depth {
			bc := sc.Block(i, j)
			win, sh := nn.SwinWindowShift(h, h, bc.WindowSize, bc.ShiftSize, bc.AlwaysPartition)
			hp, wp := Padded(h, h, win[0])
			out = append(out, BlockInfo{Stage: i, Block: j, H: h, W: h, HP: hp, WP: wp, Window: win[0], Shift: sh[0],
				Windows: (hp / win[0]) * (wp / win[1]), Heads: sc.NumHeads[i], Patch: patch})
		}
	}
	return out
}

// StageNames names the feature maps [Analyze] returns, from the blocks' layout: "patch
// embed", then each stage with what its blocks do ("stage 1 (W-MSA, SW-MSA)", and "stage 2
// (patch merging, W-MSA, W-MSA)" when stage 2's map is no larger than the window).
func StageNames(c RunConfig) []string {
	names := []string{"patch embed"}
	var kinds []string
	blocks := Blocks(c)
	for k, b := range blocks {
		if b.Block == 0 && b.Stage > 0 {
			kinds = append(kinds, "patch merging")
		}
		kinds = append(kinds, b.Kind())
		if k == len(blocks)-1 || blocks[k+1].Stage != b.Stage {
			names = append(names, fmt.Sprintf("stage %d (%s)", b.Stage+1, strings.Join(kinds, ", ")))
			kinds = nil
		}
	}
	return names
}

// StageMap is a feature map of one image batch after a stage.
type StageMap struct {
	Name string
	Map  *tensors.Tensor // [B, H, W, C]
}

// Analysis is one forward pass of a trained model over a few images, with everything the
// notebook draws: the feature map after the patch embedding and after each stage, and every
// block's attention.
type Analysis struct {
	Config RunConfig
	Images *tensors.Tensor // [B, 28, 28, 1], standardized
	Labels []int32
	Pred   []int
	Stages []StageMap
	Blocks []BlockInfo
	// Attn holds, per block (in Blocks order), the attention probabilities
	// [B·windows, heads, N, N], windows row-major over the block's shifted, padded map.
	Attn []*tensors.Tensor
}

// Analyze runs the model whose variables are in store on images (lesson.Digits) and collects
// nn.SwinForward's intermediates: the stage maps and every block's attention probabilities.
// labels may be nil.
func Analyze(b compute.Backend, store *model.Store, c RunConfig, images *tensors.Tensor, labels []int32) (*Analysis, error) {
	return lesson.Catch("windowattention: analyze", func() (*Analysis, error) {
		exec, err := model.NewExec(b, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
			out := nn.SwinForward(scope, x, c.Swin())
			nodes := append([]*graph.Node{out.Logits, out.Stem}, out.Stages...)
			for _, stage := range out.Attn {
				nodes = append(nodes, stage...)
			}
			return nodes
		})
		if err != nil {
			return nil, err
		}
		defer exec.Finalize()
		out, err := exec.Call(images)
		if err != nil {
			return nil, err
		}
		a := &Analysis{Config: c, Images: images, Labels: labels, Blocks: Blocks(c)}
		logits, err := tensors.CopyFlatData[float32](out[0])
		if err != nil {
			return nil, err
		}
		a.Pred = lesson.ArgmaxRows(logits, out[0].Shape().Dimensions[1])
		names := StageNames(c)
		if len(out) != 1+len(names)+len(a.Blocks) {
			return nil, fmt.Errorf("%d outputs for %d stage maps and %d blocks", len(out)-1, len(names), len(a.Blocks))
		}
		for i, name := range names {
			a.Stages = append(a.Stages, StageMap{Name: name, Map: out[1+i]})
		}
		a.Attn = out[1+len(names):]
		return a, nil
	})
}

// attnAt reads block k's attention of image img, window win, head h: [N][N].
func (a *Analysis) attnAt(k, img, win, head int) ([][]float32, error) {
	t := a.Attn[k]
	d := t.Shape().Dimensions // [B·nW, heads, N, N]
	info := a.Blocks[k]
	if img < 0 || img*info.Windows+win >= d[0] || head < 0 || head >= d[1] {
		return nil, fmt.Errorf("windowattention: no window %d of image %d head %d in block %d/%d", win, img, head, info.Stage, info.Block)
	}
	flat, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return nil, err
	}
	n := d[2]
	base := ((img*info.Windows+win)*d[1] + head) * n * n
	out := make([][]float32, n)
	for q := range n {
		out[q] = flat[base+q*n : base+(q+1)*n]
	}
	return out, nil
}

// WindowAttention returns block k's attention [N][N] of image img in window win, head head
// (rows: queries, columns: keys, tokens row-major in the window).
func (a *Analysis) WindowAttention(k, img, win, head int) ([][]float32, error) {
	return a.attnAt(k, img, win, head)
}

// QueryMap returns where one token looks: block k's attention (averaged over heads) of the
// token at (y, x) of the block's feature map, image img, drawn back on the unshifted map as
// [H][W] (keys outside its window, and padding, get 0). y and x are in the original map,
// before the cyclic shift.
func (a *Analysis) QueryMap(k, img, y, x int) ([][]float64, error) {
	info := a.Blocks[k]
	if y < 0 || y >= info.H || x < 0 || x >= info.W {
		return nil, fmt.Errorf("windowattention: token (%d, %d) outside the %d×%d map", y, x, info.H, info.W)
	}
	m, s := info.Window, info.Shift
	// Position in the shifted map: the block rolls by −s, so original (y, x) lands at
	// (y − s) mod H.
	sy, sx := (y-s+info.H)%info.H, (x-s+info.W)%info.W
	win := (sy/m)*(info.WP/m) + sx/m
	q := (sy%m)*m + sx%m
	out := make([][]float64, info.H)
	for i := range out {
		out[i] = make([]float64, info.W)
	}
	for h := range info.Heads {
		att, err := a.attnAt(k, img, win, h)
		if err != nil {
			return nil, err
		}
		for key, p := range att[q] {
			ky, kx := (sy/m)*m+key/m, (sx/m)*m+key%m
			if ky >= info.H || kx >= info.W {
				continue // padding
			}
			oy, ox := (ky+s)%info.H, (kx+s)%info.W
			out[oy][ox] += float64(p) / float64(info.Heads)
		}
	}
	return out, nil
}

// Upsample repeats each cell of m f×f times (a token map drawn over the image it came from).
func Upsample(m [][]float64, f int) [][]float64 {
	out := make([][]float64, len(m)*f)
	for y := range out {
		out[y] = make([]float64, len(m[0])*f)
		for x := range out[y] {
			out[y][x] = m[y/f][x/f]
		}
	}
	return out
}

// AttentionStats measures, over every image, window, head and query of the analysis, what the
// trained model's shifted blocks do with the mask and the padding.
type AttentionStats struct {
	// MaskedMass is the largest total attention probability any query puts on keys the mask
	// separates from it (exp(−100) ≈ 4e−44 per key in float64; float32 rounds it to 0).
	MaskedMass float64
	// MaskedPairs is the number of (query, key) pairs that were masked in the shifted blocks.
	MaskedPairs int
	// PaddingMass is the mean attention probability real queries put on padding keys, over
	// the blocks whose windows hold padding (0 when none do).
	PaddingMass float64
	// PaddedBlocks is the number of blocks whose map needed padding.
	PaddedBlocks int
	// RowSumErr is the largest |Σ_k p(q, k) − 1|: every query's weights are a distribution.
	RowSumErr float64
}

// MeasureAttention computes [AttentionStats].
func (a *Analysis) MeasureAttention() (AttentionStats, error) {
	var st AttentionStats
	var padSum float64
	var padRows int
	batch := a.Images.Shape().Dimensions[0]
	for k, info := range a.Blocks {
		m := info.Window
		n := m * m
		var mask []float32
		if info.Shift > 0 {
			mask = nn.ShiftedWindowMask(info.HP, info.WP, [2]int{m, m}, [2]int{info.Shift, info.Shift})
		}
		padded := info.HP != info.H || info.WP != info.W
		if padded {
			st.PaddedBlocks++
		}
		t := a.Attn[k]
		flat, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			return st, err
		}
		heads := t.Shape().Dimensions[1]
		for img := range batch {
			for win := range info.Windows {
				wy, wx := win/(info.WP/m), win%(info.WP/m)
				for h := range heads {
					base := ((img*info.Windows+win)*heads + h) * n * n
					for q := range n {
						qy, qx := wy*m+q/m, wx*m+q%m
						if qy >= info.H || qx >= info.W {
							continue
						}
						var sum, masked, pad float64
						for key := range n {
							p := float64(flat[base+q*n+key])
							sum += p
							if mask != nil && mask[(win*n+q)*n+key] != 0 {
								masked += p
								if img == 0 && h == 0 {
									st.MaskedPairs++
								}
							}
							ky, kx := wy*m+key/m, wx*m+key%m
							if ky >= info.H || kx >= info.W {
								pad += p
							}
						}
						st.MaskedMass = math.Max(st.MaskedMass, masked)
						st.RowSumErr = math.Max(st.RowSumErr, math.Abs(sum-1))
						if padded {
							padSum += pad
							padRows++
						}
					}
				}
			}
		}
	}
	if padRows > 0 {
		st.PaddingMass = padSum / float64(padRows)
	}
	return st, nil
}

// BiasTablePath is the store path of block (stage, block)'s relative position bias table.
func BiasTablePath(stage, block int) string {
	return fmt.Sprintf("/layers/%d/blocks/%d/attn/relative_position_bias_table", stage, block)
}

// BiasGrid returns a relative position bias table [(2M−1)², heads] as one (2M−1)×(2M−1) grid
// per head: grid[h][Δy+M−1][Δx+M−1] is the bias head h adds to the logit of a query Δy rows
// below and Δx columns right of its key.
func BiasGrid(table *tensors.Tensor) ([][][]float32, error) {
	d := table.Shape().Dimensions
	if len(d) != 2 {
		return nil, fmt.Errorf("windowattention: bias table of shape %s", table.Shape())
	}
	side := int(math.Round(math.Sqrt(float64(d[0]))))
	if side*side != d[0] {
		return nil, fmt.Errorf("windowattention: bias table of %d rows is not square", d[0])
	}
	flat, err := tensors.CopyFlatData[float32](table)
	if err != nil {
		return nil, err
	}
	out := make([][][]float32, d[1])
	for h := range d[1] {
		out[h] = make([][]float32, side)
		for i := range side {
			out[h][i] = make([]float32, side)
			for j := range side {
				out[h][i][j] = flat[(i*side+j)*d[1]+h]
			}
		}
	}
	return out, nil
}

// TableInit says how a bias table for a new window size is made from a trained one.
type TableInit string

// The three ways [EvalAtWindow] compares.
const (
	// Resized is the official Swin code's choice: each head's (2M−1)² grid resized with
	// bicubic interpolation to (2M'−1)² (nn.ResizeRelPosBiasTable).
	Resized TableInit = "bicubic resize"
	// Cropped keeps the trained bias of every offset that still exists in the new window and
	// repeats the border for offsets that did not exist (edge padding).
	Cropped TableInit = "crop / edge-extend"
	// Zero drops the learned bias.
	Zero TableInit = "zero"
)

// WindowResult is the accuracy of a trained model evaluated with another window size.
type WindowResult struct {
	Window int
	Init   TableInit
	Acc    float64
}

// CropTable makes a table for newWin from one for oldWin by keeping the bias of each offset
// that exists in both and clamping farther offsets to the nearest one that does.
func CropTable(table *tensors.Tensor, oldWin, newWin int) (*tensors.Tensor, error) {
	d := table.Shape().Dimensions
	oside, nside := 2*oldWin-1, 2*newWin-1
	if len(d) != 2 || d[0] != oside*oside {
		return nil, fmt.Errorf("windowattention: table %s is not for window %d", table.Shape(), oldWin)
	}
	src, err := tensors.CopyFlatData[float32](table)
	if err != nil {
		return nil, err
	}
	heads := d[1]
	dst := make([]float32, nside*nside*heads)
	clamp := func(off int) int { return min(max(off, -(oldWin-1)), oldWin-1) + oldWin - 1 }
	for i := range nside {
		for j := range nside {
			si, sj := clamp(i-(newWin-1)), clamp(j-(newWin-1))
			for h := range heads {
				dst[(i*nside+j)*heads+h] = src[(si*oside+sj)*heads+h]
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(dst, nside*nside, heads), nil
}

// EvalAtWindow evaluates the trained model in store (trained with c.Window) with the window
// size newWindow on set, once per table initialization in inits, and returns the accuracies.
// Every other variable keeps its trained value; nothing is trained. One graph is compiled and
// run with each set of tables.
func EvalAtWindow(ctx context.Context, b compute.Backend, store *model.Store, c RunConfig, newWindow int,
	set *mnist.Set, inits []TableInit) ([]WindowResult, error) {
	return lesson.Catch(fmt.Sprintf("windowattention: evaluate at window %d", newWindow), func() ([]WindowResult, error) {
		if len(inits) == 0 {
			return nil, fmt.Errorf("no table initialization to evaluate")
		}
		experiment.LoadAllVariables(store) // a checkpoint-backed store loads lazily
		sd, err := nn.StateDict(store)
		if err != nil {
			return nil, err
		}
		nc := c
		nc.Window = newWindow
		nc.RelBias = true // the tables are set here, not frozen at zero
		oldBlocks, newBlocks := Blocks(c), Blocks(nc)
		tables := func(init TableInit) (map[string]*tensors.Tensor, error) {
			out := map[string]*tensors.Tensor{}
			for k, ob := range oldBlocks {
				nb := newBlocks[k]
				key := nn.PathToKey(BiasTablePath(ob.Stage, ob.Block))
				old, ok := sd[key]
				if !ok {
					return nil, fmt.Errorf("no %s in the trained model", key)
				}
				var t *tensors.Tensor
				var err error
				switch init {
				case Resized:
					t, err = nn.ResizeRelPosBiasTable(old, [2]int{ob.Window, ob.Window}, [2]int{nb.Window, nb.Window})
				case Cropped:
					t, err = CropTable(old, ob.Window, nb.Window)
				case Zero:
					t = tensors.FromShape(shapes.Make(dtypes.Float32, (2*nb.Window-1)*(2*nb.Window-1), nb.Heads))
				default:
					err = fmt.Errorf("unknown table init %q", init)
				}
				if err != nil {
					return nil, err
				}
				out[key] = t
			}
			return out, nil
		}
		// A fresh store with the trained variables and tables of the new size.
		ns := model.NewStore()
		defer ns.Finalize()
		first, err := tables(inits[0])
		if err != nil {
			return nil, err
		}
		for k, t := range sd {
			if nt, ok := first[k]; ok {
				t = nt
			}
			tc, err := t.LocalClone()
			if err != nil {
				return nil, err
			}
			if _, err := ns.CreateVariable(nn.KeyToPath(k), tc); err != nil {
				return nil, err
			}
		}
		exec, err := model.NewExec(b, ns, nn.Swin(nc.Swin()))
		if err != nil {
			return nil, err
		}
		defer exec.Finalize()
		var res []WindowResult
		for i, init := range inits {
			if i > 0 {
				ts, err := tables(init)
				if err != nil {
					return nil, err
				}
				for k, t := range ts {
					if err := ns.GetVariable(nn.KeyToPath(k)).SetValue(t); err != nil {
						return nil, err
					}
				}
			}
			acc, err := lesson.Accuracy(ctx, set, 0, func(images *tensors.Tensor) (*tensors.Tensor, error) { return exec.Call1(images) })
			if err != nil {
				return nil, err
			}
			res = append(res, WindowResult{Window: newWindow, Init: init, Acc: acc})
		}
		return res, nil
	})
}

// Scale01 divides m by its largest value, so a map of attention weights fills [0, 1] when drawn
// as a soft overlay.
func Scale01(m [][]float64) [][]float64 {
	hi := 0.0
	for _, row := range m {
		for _, v := range row {
			hi = math.Max(hi, v)
		}
	}
	out := make([][]float64, len(m))
	for i, row := range m {
		out[i] = make([]float64, len(row))
		for j, v := range row {
			if hi > 0 {
				out[i][j] = v / hi
			}
		}
	}
	return out
}
