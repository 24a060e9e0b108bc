package windowattention

import (
	"fmt"

	"github.com/gostudy/gostudy/pkg/nn"
)

// This file measures the geometry of window attention without training anything: where the
// padding goes, what the shifted-window mask allows, and how the relative position index is
// laid out.

// Padded returns the padded size of an h×w map for m×m windows: h and w rounded up to
// multiples of m (what nn.SwinTransformerBlock pads to, bottom/right).
func Padded(h, w, m int) (hp, wp int) {
	return (h + m - 1) / m * m, (w + m - 1) / m * m
}

// PaddingStats compares the two ways of padding an h×w map so that m×m windows tile it:
// all of the padding at the bottom/right (what Swin and the notes do, "通常只是在一边进行填充"),
// or split between the two sides of each axis.
type PaddingStats struct {
	H, W, M int
	// PadH and PadW are the rows and columns added; Windows the windows of the padded map;
	// PaddedTokens how many of its tokens are padding.
	PadH, PadW, Windows, PaddedTokens int
	// MixedOneSide and MixedSplit count the windows holding at least one padding token.
	MixedOneSide, MixedSplit int
	// RealMixedOneSide and RealMixedSplit count the real tokens whose window holds padding.
	RealMixedOneSide, RealMixedSplit int
	// SameWindowsOneSide and SameWindowsSplit count the real tokens whose window (the set of
	// real tokens it shares a window with) is the same as in the partition anchored at the
	// top-left corner — the partition every stage and the shift mask assume.
	SameWindowsOneSide, SameWindowsSplit int
}

// MeasurePadding computes [PaddingStats] for an h×w map and m×m windows.
func MeasurePadding(h, w, m int) PaddingStats {
	hp, wp := Padded(h, w, m)
	s := PaddingStats{H: h, W: w, M: m, PadH: hp - h, PadW: wp - w, Windows: (hp / m) * (wp / m), PaddedTokens: hp*wp - h*w}
	// windowOf gives, for each real token, the window it falls in when the padding puts top
	// rows above and left columns to the left of the map.
	windowOf := func(top, left int) []int {
		out := make([]int, h*w)
		for y := range h {
			for x := range w {
				out[y*w+x] = ((y+top)/m)*(wp/m) + (x+left)/m
			}
		}
		return out
	}
	mixed := func(top, left int) (windows, real int) {
		has := make([]bool, s.Windows)
		for y := range hp {
			for x := range wp {
				if y < top || y >= top+h || x < left || x >= left+w {
					has[(y/m)*(wp/m)+x/m] = true
				}
			}
		}
		for _, v := range has {
			if v {
				windows++
			}
		}
		for _, win := range windowOf(top, left) {
			if has[win] {
				real++
			}
		}
		return windows, real
	}
	s.MixedOneSide, s.RealMixedOneSide = mixed(0, 0)
	top, left := s.PadH/2, s.PadW/2
	s.MixedSplit, s.RealMixedSplit = mixed(top, left)
	ref := windowOf(0, 0)
	same := func(got []int) int {
		// Two partitions agree on token t when the tokens sharing t's window are the same.
		n := 0
		for t := range got {
			ok := true
			for u := range got {
				if (got[t] == got[u]) != (ref[t] == ref[u]) {
					ok = false
					break
				}
			}
			if ok {
				n++
			}
		}
		return n
	}
	s.SameWindowsOneSide = same(windowOf(0, 0))
	s.SameWindowsSplit = same(windowOf(top, left))
	return s
}

// MaskStats describes the shifted-window configuration of an h×w map with m×m windows and
// shift s, and what its attention mask (nn.ShiftedWindowMask) allows. Distances are measured
// between the tokens' positions in the original (unshifted, unpadded) map, as the Chebyshev
// distance max(|Δy|, |Δx|).
type MaskStats struct {
	H, W, M, Shift int
	Order          Order
	// Windows is the number of windows; Pairs the query–key pairs of real tokens inside them.
	Windows, Pairs int
	// Allowed and Masked split Pairs by the mask (0 or −100).
	Allowed, Masked int
	// MaxAllowedDist is the largest distance between two real tokens the mask lets attend to
	// each other (at most M−1 when the mask does its job).
	MaxAllowedDist int
	// MinMaskedDist is the smallest distance between two real tokens the mask separates: they
	// share a window only because the cyclic shift wrapped one of them around the border.
	MinMaskedDist int
	// FarPairs is how many pairs in the shifted windows lie more than M−1 apart in the image:
	// what attention would mix without the mask.
	FarPairs int
	// AllowedFar counts far pairs the mask lets through, MaskedNear near pairs (at most M−1
	// apart) it separates: both are 0 when the mask matches the geometry exactly.
	AllowedFar, MaskedNear int
	// RegionsPerWindow counts the distinct mask regions of each window (1: no masking needed).
	RegionsPerWindow []int
	// VisibleKeys is, per window, the mean number of real keys a real query may attend to.
	VisibleKeys []float64
	// PaddingPairsMasked counts real-query/padding-key pairs the mask separates, of PaddingPairs.
	PaddingPairs, PaddingPairsMasked int
}

// Order is the order of the cyclic shift and the padding in a shifted block whose map does
// not divide into windows.
type Order int

const (
	// RollThenPad shifts the h×w map, then pads it at the bottom/right: what timm's
	// SwinTransformerBlock does, and so nn.SwinTransformerBlock.
	RollThenPad Order = iota
	// PadThenRoll pads first and shifts the padded map: what the official Swin code for
	// detection and segmentation does (its maps are rarely multiples of the window).
	PadThenRoll
)

// String names the order.
func (o Order) String() string {
	if o == PadThenRoll {
		return "pad, then roll"
	}
	return "roll, then pad"
}

// MeasureMask computes [MaskStats] with the shift and padding done in the given order; the
// mask is nn.ShiftedWindowMask of the padded map either way (as both codes build it).
func MeasureMask(h, w, m, s int, order Order) (MaskStats, error) {
	if s <= 0 || s >= m {
		return MaskStats{}, fmt.Errorf("shift %d outside (0, %d)", s, m)
	}
	hp, wp := Padded(h, w, m)
	mask := nn.ShiftedWindowMask(hp, wp, [2]int{m, m}, [2]int{s, s})
	n := m * m
	nh, nw := hp/m, wp/m
	st := MaskStats{H: h, W: w, M: m, Shift: s, Order: order, Windows: nh * nw, MinMaskedDist: -1}
	orig := shiftedOrigin(h, w, m, s, order)
	for wy := range nh {
		for wx := range nw {
			wi := wy*nw + wx
			seen := map[int]bool{}
			allowedHere, queries := 0, 0
			for q := range n {
				qy, qx := wy*m+q/m, wx*m+q%m
				oqy, oqx, qReal := orig(qy, qx)
				if qReal {
					queries++
				}
				for k := range n {
					ky, kx := wy*m+k/m, wx*m+k%m
					oky, okx, kReal := orig(ky, kx)
					masked := mask[(wi*n+q)*n+k] != 0
					if !qReal {
						continue
					}
					if !kReal {
						st.PaddingPairs++
						if masked {
							st.PaddingPairsMasked++
						}
						continue
					}
					st.Pairs++
					d := max(abs(oqy-oky), abs(oqx-okx))
					far := d > m-1
					if far {
						st.FarPairs++
					}
					if masked && !far {
						st.MaskedNear++
					}
					if !masked && far {
						st.AllowedFar++
					}
					if masked {
						st.Masked++
						if st.MinMaskedDist < 0 || d < st.MinMaskedDist {
							st.MinMaskedDist = d
						}
					} else {
						st.Allowed++
						allowedHere++
						st.MaxAllowedDist = max(st.MaxAllowedDist, d)
					}
				}
			}
			// Regions: classes of tokens that see each other (the mask is an equivalence).
			count := 0
			for q := range n {
				if seen[q] {
					continue
				}
				count++
				for k := range n {
					if mask[(wi*n+q)*n+k] == 0 {
						seen[k] = true
					}
				}
			}
			st.RegionsPerWindow = append(st.RegionsPerWindow, count)
			if queries > 0 {
				st.VisibleKeys = append(st.VisibleKeys, float64(allowedHere)/float64(queries))
			} else {
				st.VisibleKeys = append(st.VisibleKeys, 0)
			}
		}
	}
	return st, nil
}

// shiftedOrigin returns the map from a position (y, x) of the shifted, padded map (what the
// windows are cut from) back to the position in the original h×w map; ok is false for padding.
func shiftedOrigin(h, w, m, s int, order Order) func(y, x int) (oy, ox int, ok bool) {
	hp, wp := Padded(h, w, m)
	return func(y, x int) (oy, ox int, ok bool) {
		if order == PadThenRoll {
			oy, ox = (y+s)%hp, (x+s)%wp
			return oy, ox, oy < h && ox < w
		}
		if y >= h || x >= w {
			return 0, 0, false
		}
		return (y + s) % h, (x + s) % w, true
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// IndexStats checks the relative position index of an M×M window: every (query, key) pair
// has an offset (Δy, Δx) in [−(M−1), M−1]², and the index must give each distinct offset its
// own row of the bias table. The notes: "用简单的二维和会造成结果重复" — adding the two
// coordinates collides; so does a row stride of M instead of 2M−1.
type IndexStats struct {
	M int
	// Pairs is N² = M⁴; Offsets the distinct (Δy, Δx) among them, (2M−1)²; TableRows the rows
	// of the bias table, also (2M−1)².
	Pairs, Offsets, TableRows int
	// Indices is the number of distinct values nn.RelativePositionIndex uses and Collisions the
	// offsets that share an index with another offset (Offsets − Indices).
	Indices, Collisions int
	// Consistent is true when pairs with the same offset always get the same index.
	Consistent bool
	// MinIndex and MaxIndex bound the index (0 and (2M−1)²−1 when the table is used exactly).
	MinIndex, MaxIndex int
	// SumIndices and SumCollisions are the same for the naive index (Δy+M−1) + (Δx+M−1).
	SumIndices, SumCollisions int
	// StrideMIndices and StrideMCollisions are the same for (Δy+M−1)·M + (Δx+M−1): the row
	// stride must be the range of Δx+M−1, which is 2M−1, not M.
	StrideMIndices, StrideMCollisions int
}

// MeasureIndex computes [IndexStats] for an m×m window.
func MeasureIndex(m int) IndexStats {
	idx := nn.RelativePositionIndex([2]int{m, m})
	n := m * m
	st := IndexStats{M: m, Pairs: n * n, TableRows: (2*m - 1) * (2*m - 1), Consistent: true, MinIndex: -1}
	type off struct{ dy, dx int }
	byOffset := map[off]int32{}
	sum, strideM, used := map[int]bool{}, map[int]bool{}, map[int32]bool{}
	for q := range n {
		for k := range n {
			o := off{q/m - k/m, q%m - k%m}
			i := idx[q*n+k]
			if prev, ok := byOffset[o]; ok && prev != i {
				st.Consistent = false
			}
			byOffset[o] = i
			used[i] = true
			sum[(o.dy+m-1)+(o.dx+m-1)] = true
			strideM[(o.dy+m-1)*m+(o.dx+m-1)] = true
			if st.MinIndex < 0 || int(i) < st.MinIndex {
				st.MinIndex = int(i)
			}
			st.MaxIndex = max(st.MaxIndex, int(i))
		}
	}
	st.Offsets = len(byOffset)
	st.Indices = len(used)
	st.Collisions = st.Offsets - st.Indices
	st.SumIndices, st.SumCollisions = len(sum), st.Offsets-len(sum)
	st.StrideMIndices, st.StrideMCollisions = len(strideM), st.Offsets-len(strideM)
	return st
}

// IndexMatrix returns nn.RelativePositionIndex for an m×m window as an [N][N] matrix (for a
// heatmap: row = query token, column = key token, both row-major in the window).
func IndexMatrix(m int) [][]int32 {
	idx := nn.RelativePositionIndex([2]int{m, m})
	n := m * m
	out := make([][]int32, n)
	for q := range n {
		out[q] = idx[q*n : (q+1)*n]
	}
	return out
}

// MaskMatrices returns nn.ShiftedWindowMask for an h×w map (padded to multiples of m) as
// [windows][N][N], for plots.WindowMasks.
func MaskMatrices(h, w, m, s int) [][][]float32 {
	hp, wp := Padded(h, w, m)
	mask := nn.ShiftedWindowMask(hp, wp, [2]int{m, m}, [2]int{s, s})
	n := m * m
	nw := len(mask) / (n * n)
	out := make([][][]float32, nw)
	for i := range nw {
		out[i] = make([][]float32, n)
		for q := range n {
			out[i][q] = mask[(i*n+q)*n : (i*n+q+1)*n]
		}
	}
	return out
}

// RegionMap returns, for the shifted and padded map, the mask region of every token
// ([hp][wp], regions numbered as nn.ShiftedWindowMask numbers them: the 3×3 grid of strips
// [0:−M], [−M:−s], [−s:] on each axis), for drawing over the shifted image.
func RegionMap(h, w, m, s int) [][]float64 {
	hp, wp := Padded(h, w, m)
	strip := func(i, n int) int {
		switch {
		case i < n-m:
			return 0
		case i < n-s:
			return 1
		}
		return 2
	}
	out := make([][]float64, hp)
	for y := range hp {
		out[y] = make([]float64, wp)
		for x := range wp {
			out[y][x] = float64(strip(y, hp)*3 + strip(x, wp))
		}
	}
	return out
}

// ReachStats says how far information travels through a sequence of window-attention blocks.
type ReachStats struct {
	H, W, M int
	Shifts  []int
	// Mean and Min are the mean and smallest number of tokens (of H·W) whose features can
	// reach a token's output through the blocks; Max the largest.
	Mean     float64
	Min, Max int
}

// Reach computes [ReachStats] for an h×w map (multiples of m) and blocks with the given shifts
// (0: W-MSA; s: SW-MSA with the mask), following each token's window and mask region.
func Reach(h, w, m int, shifts []int) ReachStats {
	n := h * w
	// group returns, per token, an id shared exactly by the tokens it attends to in a block.
	group := func(s int) []int {
		hp, wp := Padded(h, w, m)
		strip := func(i, size int) int {
			switch {
			case s == 0 || i < size-m:
				return 0
			case i < size-s:
				return 1
			}
			return 2
		}
		out := make([]int, n)
		for y := range h {
			for x := range w {
				sy, sx := (y-s+h)%h, (x-s+w)%w
				win := (sy/m)*(wp/m) + sx/m
				region := strip(sy, hp)*3 + strip(sx, wp)
				out[y*w+x] = win*9 + region
			}
		}
		return out
	}
	reach := make([][]bool, n) // reach[i][j]: j's input reaches i's output
	for i := range reach {
		reach[i] = make([]bool, n)
		reach[i][i] = true
	}
	for _, s := range shifts {
		g := group(s)
		next := make([][]bool, n)
		for i := range n {
			next[i] = make([]bool, n)
			for k := range n {
				if g[k] != g[i] {
					continue
				}
				for j, r := range reach[k] {
					if r {
						next[i][j] = true
					}
				}
			}
		}
		reach = next
	}
	st := ReachStats{H: h, W: w, M: m, Shifts: append([]int(nil), shifts...), Min: n}
	total := 0
	for i := range n {
		c := 0
		for _, r := range reach[i] {
			if r {
				c++
			}
		}
		total += c
		st.Min, st.Max = min(st.Min, c), max(st.Max, c)
	}
	st.Mean = float64(total) / float64(n)
	return st
}
