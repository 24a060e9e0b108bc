package segkit

import "math"

// SignedDistance is the Euclidean signed distance in pixels from every pixel of a size×size
// 0/1 mask to its margin, positive inside, with the margin on the cracks between inside and
// outside pixels (so two neighbours across it read +0.5 and −0.5): the phantoms' Distance
// convention, for real masks whose geometry is only their pixels. A mask with no inside pixel
// reads −size everywhere, one with no outside pixel +size.
//
// It is written here because no library the project uses has a distance transform; it is
// Felzenszwalb and Huttenlocher's exact squared transform ("Distance transforms of sampled
// functions", 2012), one pass over columns and one over rows.
func SignedDistance(mask []uint8, size int) []float32 {
	in := squaredEDT(mask, size, 0)  // to the nearest outside pixel, for inside pixels
	out := squaredEDT(mask, size, 1) // to the nearest inside pixel, for outside pixels
	d := make([]float32, size*size)
	for i, m := range mask {
		switch {
		case m != 0 && math.IsInf(in[i], 1):
			d[i] = float32(size)
		case m != 0:
			d[i] = float32(math.Sqrt(in[i]) - 0.5)
		case math.IsInf(out[i], 1):
			d[i] = -float32(size)
		default:
			d[i] = -float32(math.Sqrt(out[i]) - 0.5)
		}
	}
	return d
}

// squaredEDT is the squared distance from every pixel to the nearest pixel whose mask value
// is target (non-zero for 1, zero for 0); +Inf when there is none.
func squaredEDT(mask []uint8, size int, target uint8) []float64 {
	f := make([]float64, size*size)
	for i, m := range mask {
		if (m != 0) == (target != 0) {
			f[i] = 0
		} else {
			f[i] = math.Inf(1)
		}
	}
	col := make([]float64, size)
	res := make([]float64, size)
	for x := range size { // columns
		for y := range size {
			col[y] = f[y*size+x]
		}
		edt1D(col, res)
		for y := range size {
			f[y*size+x] = res[y]
		}
	}
	for y := range size { // rows
		copy(col, f[y*size:(y+1)*size])
		edt1D(col, res)
		copy(f[y*size:(y+1)*size], res)
	}
	return f
}

// edt1D is the lower envelope of the parabolas (q − p)² + f(p): out[q] = min_p.
func edt1D(f, out []float64) {
	n := len(f)
	v := make([]int, n)       // parabola locations
	z := make([]float64, n+1) // envelope boundaries
	k := -1
	meet := func(q, p int) float64 { // where the parabolas of q and p intersect
		return ((f[q] + float64(q*q)) - (f[p] + float64(p*p))) / float64(2*(q-p))
	}
	for q := range n {
		if math.IsInf(f[q], 1) {
			continue
		}
		for k >= 0 && meet(q, v[k]) <= z[k] {
			k--
		}
		if k < 0 {
			k = 0
			v[0], z[0], z[1] = q, math.Inf(-1), math.Inf(1)
			continue
		}
		s := meet(q, v[k])
		k++
		v[k], z[k], z[k+1] = q, s, math.Inf(1)
	}
	if k < 0 {
		for q := range out {
			out[q] = math.Inf(1)
		}
		return
	}
	j := 0
	for q := range n {
		for z[j+1] < float64(q) {
			j++
		}
		d := float64(q - v[j])
		out[q] = d*d + f[v[j]]
	}
}
