// Package imgproc holds the small image operations the datasets need: blur,
// Sobel and Canny edges, binary morphology, connected components, overlap
// scores, augmentation (shift and flips) and conversion to image.Image for
// figures.
//
// Images are row-major float32 slices of h*w values (one channel) unless a
// function takes a channel count; masks are row-major uint8 slices holding 0
// or 1. These are written here rather than taken from an image library
// because the datasets need them on plain slices that become tensors, with
// exactly documented border rules, and the whole set is a few hundred lines.
package imgproc

import (
	"fmt"
	"math"
)

// GaussianBlur returns src convolved with a Gaussian of standard deviation
// sigma pixels (separable, kernel radius ceil(3 sigma), borders clamped).
// sigma <= 0 returns a copy.
func GaussianBlur(src []float32, h, w int, sigma float64) []float32 {
	out := append([]float32(nil), src...)
	if sigma <= 0 {
		return out
	}
	k := gaussianKernel(sigma)
	r := len(k) / 2
	tmp := make([]float32, len(src))
	for y := range h {
		for x := range w {
			var s float64
			for i, kv := range k {
				xx := clampInt(x+i-r, 0, w-1)
				s += kv * float64(src[y*w+xx])
			}
			tmp[y*w+x] = float32(s)
		}
	}
	for y := range h {
		for x := range w {
			var s float64
			for i, kv := range k {
				yy := clampInt(y+i-r, 0, h-1)
				s += kv * float64(tmp[yy*w+x])
			}
			out[y*w+x] = float32(s)
		}
	}
	return out
}

// gaussianKernel returns a normalized 1D Gaussian of radius ceil(3 sigma).
func gaussianKernel(sigma float64) []float64 {
	r := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*r+1)
	var sum float64
	for i := range k {
		d := float64(i - r)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	return k
}

// Sobel returns the horizontal (along x, columns) and vertical (along y,
// rows, pointing down) derivatives of src, with the Sobel kernels divided by
// 8 so that a ramp of slope 1 gives 1. Borders are clamped.
func Sobel(src []float32, h, w int) (gx, gy []float32) {
	gx = make([]float32, h*w)
	gy = make([]float32, h*w)
	at := func(y, x int) float32 { return src[clampInt(y, 0, h-1)*w+clampInt(x, 0, w-1)] }
	for y := range h {
		for x := range w {
			dx := (at(y-1, x+1) + 2*at(y, x+1) + at(y+1, x+1)) - (at(y-1, x-1) + 2*at(y, x-1) + at(y+1, x-1))
			dy := (at(y+1, x-1) + 2*at(y+1, x) + at(y+1, x+1)) - (at(y-1, x-1) + 2*at(y-1, x) + at(y-1, x+1))
			gx[y*w+x] = dx / 8
			gy[y*w+x] = dy / 8
		}
	}
	return gx, gy
}

// Canny returns a thin binary edge map of src (Canny 1986): Gaussian blur
// with sigma, Sobel gradients, non-maximum suppression along the gradient
// direction quantized to 0/45/90/135 degrees, then hysteresis: pixels whose
// suppressed magnitude is at least high are edges, and so are pixels of at
// least low that connect (8-neighbourhood) to an edge. Magnitudes are in
// intensity units per pixel (see Sobel); for a 0/1 mask blurred with sigma 1
// a straight boundary has magnitude about 0.31.
//
// On a plateau of equal magnitudes across the edge (a symmetric step), the
// suppression keeps the pixel on the side the gradient points away from, so a
// step between an inside and an outside pixel gives one edge pixel, not two.
func Canny(src []float32, h, w int, sigma, low, high float64) []uint8 {
	b := GaussianBlur(src, h, w, sigma)
	gx, gy := Sobel(b, h, w)
	mag := make([]float64, h*w)
	for i := range mag {
		mag[i] = math.Hypot(float64(gx[i]), float64(gy[i]))
	}
	m := func(y, x int) float64 {
		if y < 0 || y >= h || x < 0 || x >= w {
			return 0
		}
		return mag[y*w+x]
	}
	nms := make([]float64, h*w)
	for y := range h {
		for x := range w {
			v := mag[y*w+x]
			if v == 0 {
				continue
			}
			ang := math.Atan2(float64(gy[y*w+x]), float64(gx[y*w+x])) * 180 / math.Pi
			if ang < 0 {
				ang += 180
			}
			var dy, dx int
			switch {
			case ang < 22.5 || ang >= 157.5:
				dy, dx = 0, 1
			case ang < 67.5:
				dy, dx = 1, 1
			case ang < 112.5:
				dy, dx = 1, 0
			default:
				dy, dx = 1, -1
			}
			// Strict on one side, non-strict on the other: exactly one of
			// two equal neighbours across the edge survives.
			if v >= m(y+dy, x+dx) && v > m(y-dy, x-dx) {
				nms[y*w+x] = v
			}
		}
	}
	edges := make([]uint8, h*w)
	stack := make([]int, 0, 64)
	for i, v := range nms {
		if v >= high && edges[i] == 0 {
			edges[i] = 1
			stack = append(stack, i)
		}
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		y, x := i/w, i%w
		for dy := -1; dy <= 1; dy++ {
			for dx := -1; dx <= 1; dx++ {
				yy, xx := y+dy, x+dx
				if yy < 0 || yy >= h || xx < 0 || xx >= w {
					continue
				}
				j := yy*w + xx
				if edges[j] == 0 && nms[j] >= low {
					edges[j] = 1
					stack = append(stack, j)
				}
			}
		}
	}
	return edges
}

// diskOffsets lists the (dy, dx) with dy²+dx² <= r².
func diskOffsets(r float64) [][2]int {
	ri := int(math.Floor(r))
	var offs [][2]int
	for dy := -ri; dy <= ri; dy++ {
		for dx := -ri; dx <= ri; dx++ {
			if float64(dy*dy+dx*dx) <= r*r+1e-9 {
				offs = append(offs, [2]int{dy, dx})
			}
		}
	}
	return offs
}

// Dilate returns mask dilated by a disk of radius r pixels (dy²+dx² <= r²).
// Pixels outside the image count as background.
func Dilate(mask []uint8, h, w int, r float64) []uint8 {
	if r <= 0 {
		return append([]uint8(nil), mask...)
	}
	offs := diskOffsets(r)
	out := make([]uint8, h*w)
	for y := range h {
		for x := range w {
			if mask[y*w+x] == 0 {
				continue
			}
			for _, o := range offs {
				yy, xx := y+o[0], x+o[1]
				if yy >= 0 && yy < h && xx >= 0 && xx < w {
					out[yy*w+xx] = 1
				}
			}
		}
	}
	return out
}

// Erode returns mask eroded by a disk of radius r pixels. A pixel survives when
// every in-image pixel of the disk around it is set: the image border does not
// eat into objects that touch it.
func Erode(mask []uint8, h, w int, r float64) []uint8 {
	if r <= 0 {
		return append([]uint8(nil), mask...)
	}
	offs := diskOffsets(r)
	out := make([]uint8, h*w)
	for y := range h {
		for x := range w {
			if mask[y*w+x] == 0 {
				continue
			}
			keep := uint8(1)
			for _, o := range offs {
				yy, xx := y+o[0], x+o[1]
				if yy >= 0 && yy < h && xx >= 0 && xx < w && mask[yy*w+xx] == 0 {
					keep = 0
					break
				}
			}
			out[y*w+x] = keep
		}
	}
	return out
}

// MorphGradient returns dilate(mask) minus erode(mask) with a 3×3 square: a
// band two pixels wide centred on the boundary (one pixel inside, one
// outside).
func MorphGradient(mask []uint8, h, w int) []uint8 {
	d := Dilate(mask, h, w, math.Sqrt2)
	e := Erode(mask, h, w, math.Sqrt2)
	out := make([]uint8, h*w)
	for i := range out {
		out[i] = d[i] &^ e[i]
	}
	return out
}

// Components labels the 8-connected components of mask. labels[i] is 0 for
// background and k (1-based) for a pixel of component k; sizes[k-1] is the
// pixel count of component k.
func Components(mask []uint8, h, w int) (labels []int32, sizes []int) {
	labels = make([]int32, h*w)
	stack := make([]int, 0, 64)
	for start := range mask {
		if mask[start] == 0 || labels[start] != 0 {
			continue
		}
		sizes = append(sizes, 0)
		id := int32(len(sizes))
		labels[start] = id
		stack = append(stack[:0], start)
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			sizes[id-1]++
			y, x := i/w, i%w
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					yy, xx := y+dy, x+dx
					if yy < 0 || yy >= h || xx < 0 || xx >= w {
						continue
					}
					j := yy*w + xx
					if mask[j] != 0 && labels[j] == 0 {
						labels[j] = id
						stack = append(stack, j)
					}
				}
			}
		}
	}
	return labels, sizes
}

// Area is the number of set pixels.
func Area(mask []uint8) int {
	n := 0
	for _, v := range mask {
		if v != 0 {
			n++
		}
	}
	return n
}

// Dice is 2|A∩B| / (|A|+|B|); two empty masks score 1.
func Dice(a, b []uint8) (float64, error) {
	if len(a) != len(b) {
		return 0, fmt.Errorf("imgproc: dice of masks with %d and %d pixels", len(a), len(b))
	}
	var inter, sum int
	for i := range a {
		av, bv := a[i] != 0, b[i] != 0
		if av && bv {
			inter++
		}
		if av {
			sum++
		}
		if bv {
			sum++
		}
	}
	if sum == 0 {
		return 1, nil
	}
	return 2 * float64(inter) / float64(sum), nil
}

// Shift moves an h×w×c channels-last image by dy rows and dx columns
// (positive = down/right) into dst, filling uncovered pixels with fill.
// dst and src must not overlap.
func Shift[T float32 | uint8](dst, src []T, h, w, c, dy, dx int, fill T) {
	for y := range h {
		sy := y - dy
		for x := range w {
			sx := x - dx
			o := (y*w + x) * c
			if sy < 0 || sy >= h || sx < 0 || sx >= w {
				for k := range c {
					dst[o+k] = fill
				}
				continue
			}
			copy(dst[o:o+c], src[(sy*w+sx)*c:(sy*w+sx)*c+c])
		}
	}
}

// FlipH mirrors an h×w×c channels-last image left-right in place.
func FlipH[T float32 | uint8](img []T, h, w, c int) {
	for y := range h {
		for x := range w / 2 {
			a, b := (y*w+x)*c, (y*w+w-1-x)*c
			for k := range c {
				img[a+k], img[b+k] = img[b+k], img[a+k]
			}
		}
	}
}

// FlipV mirrors an h×w×c channels-last image top-bottom in place.
func FlipV[T float32 | uint8](img []T, h, w, c int) {
	row := w * c
	for y := range h / 2 {
		a, b := y*row, (h-1-y)*row
		for i := range row {
			img[a+i], img[b+i] = img[b+i], img[a+i]
		}
	}
}

func clampInt(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}
