package nn

import (
	"fmt"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// This file holds the Swin Transformer blocks (Liu et al., 2021, "Swin Transformer:
// Hierarchical Vision Transformer using Shifted Windows"), named and laid out as
// timm.models.swin_transformer: WindowAttention, SwinTransformerBlock and PatchMerging.
// Feature maps are channels-last [B, H, W, C], as timm's Swin keeps them.

// swinMaskValue is what timm (and the official code) put in the attention mask for pairs of
// tokens from different regions of a shifted window: −100, not −∞, so a fully masked row
// (impossible here, a token always sees itself) could not produce NaN.
const swinMaskValue = -100

// WindowPartition cuts x [B, H, W, C] into non-overlapping win[0]×win[1] windows, returning
// [B·nW, win[0]·win[1], C] with nW = (H/win[0])·(W/win[1]) windows ordered row-major within
// each image (timm's window_partition followed by the view to tokens). H and W must be
// multiples of the window (pad first, see [SwinTransformerBlock]).
func WindowPartition(x *graph.Node, win [2]int) *graph.Node {
	dims := x.Shape().Dimensions
	b, h, w, c := dims[0], dims[1], dims[2], dims[3]
	if h%win[0] != 0 || w%win[1] != 0 {
		exceptions.Panicf("nn.WindowPartition: %dx%d is not a multiple of the window %v (pad first)", h, w, win)
	}
	x = graph.Reshape(x, b, h/win[0], win[0], w/win[1], win[1], c)
	x = graph.TransposeAllAxes(x, 0, 1, 3, 2, 4, 5) // [B, nH, nW, wh, ww, C]
	return graph.Reshape(x, b*(h/win[0])*(w/win[1]), win[0]*win[1], c)
}

// WindowReverse is the inverse of [WindowPartition]: windows [B·nW, win[0]·win[1], C] back to
// the feature map [B, h, w, C].
func WindowReverse(windows *graph.Node, win [2]int, h, w int) *graph.Node {
	dims := windows.Shape().Dimensions
	c := dims[2]
	nh, nw := h/win[0], w/win[1]
	b := dims[0] / (nh * nw)
	x := graph.Reshape(windows, b, nh, nw, win[0], win[1], c)
	x = graph.TransposeAllAxes(x, 0, 1, 3, 2, 4, 5) // [B, nH, wh, nW, ww, C]
	return graph.Reshape(x, b, h, w, c)
}

// RelativePositionIndex returns, for a win[0]×win[1] window with N = win[0]·win[1] tokens, the
// row-major [N, N] table that maps a (query, key) pair to a row of the relative position bias
// table (paper §3.2, "Relative position bias"). The relative offset (Δy, Δx) ranges over
// [−(Wh−1), Wh−1] × [−(Ww−1), Ww−1]; shifting both to start at 0 and reading them as the digits
// (Δy+Wh−1)·(2Ww−1) + (Δx+Ww−1) gives a 1D index without collisions into a table of
// (2Wh−1)·(2Ww−1) rows. Same as timm's get_relative_position_index.
func RelativePositionIndex(win [2]int) []int32 {
	n := win[0] * win[1]
	idx := make([]int32, n*n)
	for q := range n {
		qy, qx := q/win[1], q%win[1]
		for k := range n {
			ky, kx := k/win[1], k%win[1]
			dy, dx := qy-ky+win[0]-1, qx-kx+win[1]-1
			idx[q*n+k] = int32(dy*(2*win[1]-1) + dx)
		}
	}
	return idx
}

// pySlice is a Python slice [start:stop] over one axis, as timm's mask construction writes it:
// negative values count from the end, and noStop means "to the end".
type pySlice struct {
	start, stop int
	noStop      bool
}

// bounds resolves the slice over a length-n axis to the half-open range [lo, hi).
func (s pySlice) bounds(n int) (lo, hi int) {
	norm := func(i int) int {
		if i < 0 {
			i += n
		}
		return min(max(i, 0), n)
	}
	lo, hi = norm(s.start), n
	if !s.noStop {
		hi = norm(s.stop)
	}
	return lo, max(lo, hi)
}

// ShiftedWindowMask returns the attention mask of shifted-window attention (paper §3.2,
// "Efficient batch computation for shifted configuration", Fig. 4) for a (padded) feature map
// h×w — multiples of the window — as row-major [nW, N, N]: 0 where query and key tokens come
// from the same region of the map before the cyclic shift, −100 where they don't (the shift
// wraps the bottom/right strips around, so a window can hold tokens that were far apart). The
// regions are the 3×3 grid of slices [0:−M], [−M:−s], [−s:] on each axis, as in timm. It
// returns nil when shift is zero on both axes.
func ShiftedWindowMask(h, w int, win, shift [2]int) []float32 {
	if shift[0] == 0 && shift[1] == 0 {
		return nil
	}
	region := make([]int, h*w)
	// The three strips per axis: [0:−M], [−M:−s], [−s:]. With s = 0 on one axis the last
	// slice covers the whole axis, exactly as in Python, so that axis adds no regions.
	strips := func(m, s int) [3]pySlice {
		return [3]pySlice{{start: 0, stop: -m}, {start: -m, stop: -s}, {start: -s, noStop: true}}
	}
	cnt := 0
	for _, hs := range strips(win[0], shift[0]) {
		for _, ws := range strips(win[1], shift[1]) {
			h0, h1 := hs.bounds(h)
			w0, w1 := ws.bounds(w)
			for y := h0; y < h1; y++ {
				for x := w0; x < w1; x++ {
					region[y*w+x] = cnt
				}
			}
			cnt++
		}
	}
	nh, nw := h/win[0], w/win[1]
	n := win[0] * win[1]
	mask := make([]float32, nh*nw*n*n)
	for wy := range nh {
		for wx := range nw {
			wi := wy*nw + wx
			tokenRegion := func(t int) int {
				return region[(wy*win[0]+t/win[1])*w+wx*win[1]+t%win[1]]
			}
			for q := range n {
				for k := range n {
					if tokenRegion(q) != tokenRegion(k) {
						mask[(wi*n+q)*n+k] = swinMaskValue
					}
				}
			}
		}
	}
	return mask
}

// WindowAttentionConfig configures [WindowAttention], timm's swin WindowAttention.
type WindowAttentionConfig struct {
	NumHeads   int
	WindowSize [2]int // the window the relative position bias table is sized for
	QKVBias    bool   // timm's default is true
	AttnDrop   float64
	ProjDrop   float64
	// NoRelPosBias removes the relative position bias B (the paper's "no pos." ablation,
	// Table 4): the logits are Q·Kᵀ/√d. The table variable is still created, frozen at zero
	// (not trainable), so the state_dict keeps timm's keys and loads into timm unchanged.
	NoRelPosBias bool
}

// WindowAttention is W-MSA (paper §3.2, Eq. 4): multi-head self-attention inside each window,
// softmax(Q·Kᵀ/√d + B)·V, where the bias B[h, q, k] is read from the learned table
// "relative_position_bias_table" [(2Wh−1)·(2Ww−1), heads] at [RelativePositionIndex]. x is
// [B·nW, N, C] (windows from [WindowPartition]); mask, if not nil, is the [nW, N, N] additive
// shifted-window mask ([ShiftedWindowMask]). Variables: "qkv", "relative_position_bias_table",
// "proj".
func WindowAttention(scope *model.Scope, x, mask *graph.Node, cfg WindowAttentionConfig) *graph.Node {
	out, _ := WindowAttentionWithMaps(scope, x, mask, cfg)
	return out
}

// WindowAttentionWithMaps is [WindowAttention] that also returns the per-window attention
// probabilities [B·nW, heads, N, N].
func WindowAttentionWithMaps(scope *model.Scope, x, mask *graph.Node, cfg WindowAttentionConfig) (out, attn *graph.Node) {
	g := x.Graph()
	win := cfg.WindowSize
	n := win[0] * win[1]
	if x.Rank() != 3 || x.Shape().Dimensions[1] != n {
		exceptions.Panicf("nn.WindowAttention(%s): x must be [B·nW, %d, C] for window %v, got %s", scope.Scope(), n, win, x.Shape())
	}
	bias := func(logits *graph.Node) *graph.Node {
		tableShape := shapes.Make(DType, (2*win[0]-1)*(2*win[1]-1), cfg.NumHeads)
		if cfg.NoRelPosBias {
			v := scope.VariableWithValue("relative_position_bias_table", tensors.FromShape(tableShape))
			v.Trainable = false
		} else {
			table := scope.WithInitializer(normalInit(scope, 0.02)).
				VariableWithShape("relative_position_bias_table", tableShape).NodeValue(g)
			logits = graph.Add(logits, graph.ExpandLeftToRank(RelativePositionBias(table, win), logits.Rank()))
		}
		if mask == nil {
			return logits
		}
		nw := mask.Shape().Dimensions[0]
		dims := logits.Shape().Dimensions // [B·nW, h, N, N]
		l := graph.Reshape(logits, dims[0]/nw, nw, dims[1], n, n)
		l = graph.Add(l, graph.Reshape(mask, 1, nw, 1, n, n))
		return graph.Reshape(l, dims...)
	}
	return multiHeadAttention(scope, x, AttentionConfig{
		NumHeads: cfg.NumHeads, QKVBias: cfg.QKVBias, AttnDrop: cfg.AttnDrop, ProjDrop: cfg.ProjDrop,
	}, bias)
}

// RelativePositionBias gathers the bias [heads, N, N] for a window from a relative position
// bias table [(2Wh−1)·(2Ww−1), heads] (timm's _get_rel_pos_bias).
func RelativePositionBias(table *graph.Node, win [2]int) *graph.Node {
	g := table.Graph()
	n := win[0] * win[1]
	idx := graph.Const(g, tensors.FromFlatDataAndDimensions(RelativePositionIndex(win), n*n, 1))
	b := graph.Gather(table, idx) // [N·N, heads]
	b = graph.Reshape(b, n, n, table.Shape().Dimensions[1])
	return graph.TransposeAllAxes(b, 2, 0, 1)
}

// SwinBlockConfig configures [SwinTransformerBlock], timm's SwinTransformerBlock.
type SwinBlockConfig struct {
	NumHeads   int
	WindowSize int // M; clamped to the feature map when the map is smaller (then no shift)
	ShiftSize  int // s: 0 for W-MSA, M/2 for SW-MSA (every second block)
	// AlwaysPartition keeps M and s even when the map is not larger than the window (timm's
	// always_partition); by default a window covering the whole map is used, without shift.
	AlwaysPartition bool
	MLPRatio        float64 // 0 means 4
	QKVBias         bool    // timm's default is true
	NoRelPosBias    bool    // see WindowAttentionConfig.NoRelPosBias
	DropPath        float64
	AttnDrop        float64
	ProjDrop        float64
	NormEps         float64 // 0 means 1e-5 (nn.LayerNorm, what timm's Swin uses)
}

// SwinWindowShift returns the window and shift a block actually uses on an h×w map, following
// timm's _calc_window_shift: on an axis where the map is not larger than the window, the
// window shrinks to the map and the shift is 0 (unless alwaysPartition).
func SwinWindowShift(h, w, window, shift int, alwaysPartition bool) (win, sh [2]int) {
	win, sh = [2]int{window, window}, [2]int{shift, shift}
	if alwaysPartition {
		return win, sh
	}
	for i, r := range [2]int{h, w} {
		if r <= win[i] {
			win[i], sh[i] = r, 0
		}
	}
	return win, sh
}

// SwinTransformerBlock is one Swin block (paper Eq. 3): with ẑ = (S)W-MSA(LN(z)) + z and
// z' = MLP(LN(ẑ)) + ẑ over the map x [B, H, W, C]. For the windowed attention the normalized
// map is cyclically shifted up-left by s (SW-MSA only), padded at the bottom/right with zeros
// so H and W divide the window M (the notes stress this), cut into M×M windows, attended with
// the shift mask, and put back (crop, shift back). Scopes: "norm1", "attn", "norm2", "mlp".
func SwinTransformerBlock(scope *model.Scope, x *graph.Node, cfg SwinBlockConfig) *graph.Node {
	out, _ := SwinTransformerBlockWithMaps(scope, x, cfg)
	return out
}

// SwinTransformerBlockWithMaps is [SwinTransformerBlock] that also returns the per-window
// attention probabilities [B·nW, heads, M·M, M·M].
func SwinTransformerBlockWithMaps(scope *model.Scope, x *graph.Node, cfg SwinBlockConfig) (out, attn *graph.Node) {
	if x.Rank() != 4 {
		exceptions.Panicf("nn.SwinTransformerBlock(%s): x must be [B, H, W, C], got %s", scope.Scope(), x.Shape())
	}
	g := x.Graph()
	dims := x.Shape().Dimensions
	h, w, c := dims[1], dims[2], dims[3]
	eps := epsOr(cfg.NormEps, 1e-5)
	win, shift := SwinWindowShift(h, w, cfg.WindowSize, cfg.ShiftSize, cfg.AlwaysPartition)

	y := LayerNorm(scope.In("norm1"), x, eps)
	hasShift := shift[0] != 0 || shift[1] != 0
	if hasShift {
		y = Roll(y, 1, -shift[0])
		y = Roll(y, 2, -shift[1])
	}
	padH, padW := (win[0]-h%win[0])%win[0], (win[1]-w%win[1])%win[1]
	y = padZeros(padZeros(y, 1, 0, padH), 2, 0, padW)
	hp, wp := h+padH, w+padW
	var mask *graph.Node
	if m := ShiftedWindowMask(hp, wp, win, shift); m != nil {
		n := win[0] * win[1]
		mask = graph.Const(g, tensors.FromFlatDataAndDimensions(m, len(m)/(n*n), n, n))
		mask = graph.ConvertDType(mask, y.DType())
	}
	windows := WindowPartition(y, win)
	windows, attn = WindowAttentionWithMaps(scope.In("attn"), windows, mask, WindowAttentionConfig{
		NumHeads: cfg.NumHeads, WindowSize: win, QKVBias: cfg.QKVBias, AttnDrop: cfg.AttnDrop, ProjDrop: cfg.ProjDrop,
		NoRelPosBias: cfg.NoRelPosBias,
	})
	y = WindowReverse(windows, win, hp, wp)
	if padH > 0 || padW > 0 {
		y = graph.Slice(y, graph.AxisRange(), graph.AxisRange(0, h), graph.AxisRange(0, w), graph.AxisRange())
	}
	if hasShift {
		y = Roll(y, 1, shift[0])
		y = Roll(y, 2, shift[1])
	}
	x = graph.Add(x, DropPath(scope, y, cfg.DropPath))

	y = Mlp(scope.In("mlp"), LayerNorm(scope.In("norm2"), x, eps), MlpConfig{
		Hidden: int(float64(c) * ratioOr(cfg.MLPRatio)), Drop: cfg.ProjDrop,
	})
	return graph.Add(x, DropPath(scope, y, cfg.DropPath)), attn
}

// Roll cyclically shifts x by shift positions along axis, as torch.roll: element i moves to
// (i + shift) mod n. A negative shift moves elements towards the start (Swin's "shift the
// windows up-left" is Roll by −s on H and W).
func Roll(x *graph.Node, axis, shift int) *graph.Node {
	n := x.Shape().Dimensions[axis]
	shift = ((shift % n) + n) % n
	if shift == 0 {
		return x
	}
	tail := graph.SliceAxis(x, axis, graph.AxisRange(n-shift, n))
	head := graph.SliceAxis(x, axis, graph.AxisRange(0, n-shift))
	return graph.Concatenate([]*graph.Node{tail, head}, axis)
}

// PatchMerging is Swin's downsampling layer (paper §3.1): it concatenates the features of each
// 2×2 group of neighbouring patches (4C), normalizes them (LayerNorm, "norm") and projects them
// linearly to outDim (default 2C, "reduction", no bias), halving H and W. An odd H or W is
// padded with zeros at the bottom/right first. The 4C concatenation order is timm's (which
// follows the official x0, x1, x2, x3 = (0,0), (1,0), (0,1), (1,1) row/column offsets).
func PatchMerging(scope *model.Scope, x *graph.Node, outDim int, normEps float64) *graph.Node {
	if x.Rank() != 4 {
		exceptions.Panicf("nn.PatchMerging(%s): x must be [B, H, W, C], got %s", scope.Scope(), x.Shape())
	}
	dims := x.Shape().Dimensions
	b, h, w, c := dims[0], dims[1], dims[2], dims[3]
	if outDim == 0 {
		outDim = 2 * c
	}
	x = padZeros(padZeros(x, 1, 0, h%2), 2, 0, w%2)
	h, w = h+h%2, w+w%2
	x = graph.Reshape(x, b, h/2, 2, w/2, 2, c)
	x = graph.TransposeAllAxes(x, 0, 1, 3, 4, 2, 5) // [B, H/2, W/2, dx, dy, C]
	x = graph.Reshape(x, b, h/2, w/2, 4*c)
	x = LayerNorm(scope.In("norm"), x, epsOr(normEps, 1e-5))
	return Linear(scope.In("reduction"), x, outDim, false)
}

// padZeros adds before and after zeros along axis. It is written with Concatenate rather than
// graph.Pad because GoMLX v0.28 defines no gradient for Pad, and Swin's padding (odd maps,
// PatchMerging) sits inside trained blocks.
func padZeros(x *graph.Node, axis, before, after int) *graph.Node {
	if before == 0 && after == 0 {
		return x
	}
	parts := make([]*graph.Node, 0, 3)
	zeros := func(n int) *graph.Node {
		dims := append([]int{}, x.Shape().Dimensions...)
		dims[axis] = n
		return graph.Zeros(x.Graph(), shapes.Make(x.DType(), dims...))
	}
	if before > 0 {
		parts = append(parts, zeros(before))
	}
	parts = append(parts, x)
	if after > 0 {
		parts = append(parts, zeros(after))
	}
	return graph.Concatenate(parts, axis)
}

// MSACost and WMSACost are the paper's complexity formulas (§3.2, Eq. 1–2) for global
// multi-head self-attention and window attention on an h×w map of C channels with M×M
// windows, counted in multiply-adds: 4hwC² for the q, k, v and output projections, plus
// 2(hw)²C (global) or 2M²hwC (windowed) for Q·Kᵀ and attention·V. The quadratic term in hw is
// what windows remove.
func MSACost(h, w, c int) int64 {
	hw := int64(h * w)
	return 4*hw*int64(c)*int64(c) + 2*hw*hw*int64(c)
}

// WMSACost is the windowed counterpart of [MSACost]: 4hwC² + 2M²hwC.
func WMSACost(h, w, c, m int) int64 {
	hw := int64(h * w)
	return 4*hw*int64(c)*int64(c) + 2*int64(m*m)*hw*int64(c)
}

// ResizeRelPosBiasTable adapts a relative position bias table [(2Wh−1)·(2Ww−1), heads], learned
// for the window oldWin, to the window newWin, as the official Swin code does when fine-tuning
// with another window size (e.g. 7 → 12 at 384²): each head's table is viewed as the
// (2Wh−1)×(2Ww−1) grid of offsets and resized with plain bicubic interpolation
// (F.interpolate(mode="bicubic", align_corners=False)). timm's own resize uses a different,
// geometric-spacing scheme; this follows the paper's released code.
func ResizeRelPosBiasTable(table *tensors.Tensor, oldWin, newWin [2]int) (*tensors.Tensor, error) {
	oh, ow := 2*oldWin[0]-1, 2*oldWin[1]-1
	nh, nw := 2*newWin[0]-1, 2*newWin[1]-1
	dims := table.Shape().Dimensions
	if len(dims) != 2 || dims[0] != oh*ow {
		return nil, fmt.Errorf("resize relative position bias table: shape %s is not [%d, heads] for window %v",
			table.Shape(), oh*ow, oldWin)
	}
	src, err := tensors.CopyFlatData[float32](table)
	if err != nil {
		return nil, fmt.Errorf("resize relative position bias table: %w", err)
	}
	heads := dims[1]
	rh, rw := bicubicResizeMatrixPlain(oh, nh), bicubicResizeMatrixPlain(ow, nw)
	dst := make([]float32, nh*nw*heads)
	for i := range nh {
		for j := range nw {
			for c := range heads {
				s := 0.0
				for y := range oh {
					if rh[i*oh+y] == 0 {
						continue
					}
					row := 0.0
					for x := range ow {
						row += rw[j*ow+x] * float64(src[(y*ow+x)*heads+c])
					}
					s += rh[i*oh+y] * row
				}
				dst[(i*nw+j)*heads+c] = float32(s)
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(dst, nh*nw, heads), nil
}
