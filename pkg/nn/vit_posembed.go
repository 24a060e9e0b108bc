package nn

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// ViT's position embeddings are learned per patch position of the pre-training grid; to
// fine-tune at another resolution the paper (§3.2) interpolates them in 2D. timm does this in
// resample_abs_pos_embed with F.interpolate(mode="bicubic", antialias=True,
// align_corners=False). Bicubic interpolation is linear in its input and separable, so it is
// two small matrices: new = Rh · grid · Rwᵀ. The matrices below reproduce PyTorch's
// anti-aliased bicubic kernel exactly (Keys cubic with a = −0.5, support widened by the scale
// when shrinking, taps clipped at the borders and renormalized), which is what lets the Go
// resample match timm to float32 precision in both directions. GoMLX's Interpolate has no
// bicubic mode, and the matrix form also keeps the resample differentiable on every backend.

// cubicAA is the Keys cubic convolution kernel with a = −0.5, the one PyTorch's anti-aliased
// bicubic (like PIL) uses; the non-antialiased path uses a = −0.75 instead.
func cubicAA(x float64) float64 {
	const a = -0.5
	x = math.Abs(x)
	switch {
	case x < 1:
		return ((a+2)*x-(a+3))*x*x + 1
	case x < 2:
		return (((x-5)*x+8)*x - 4) * a
	}
	return 0
}

// BicubicResizeMatrix returns the [outSize, inSize] row-major matrix R such that R·v resizes a
// length-inSize signal v to outSize samples the way PyTorch's
// F.interpolate(mode="bicubic", antialias=True, align_corners=False) does along one axis.
func BicubicResizeMatrix(inSize, outSize int) []float64 {
	m := make([]float64, outSize*inSize)
	scale := float64(inSize) / float64(outSize)
	support, invScale := 2.0, 1.0
	if scale >= 1 { // shrinking: widen the kernel to average (anti-alias)
		support, invScale = 2*scale, 1/scale
	}
	for i := range outSize {
		center := scale * (float64(i) + 0.5)
		lo := max(int(center-support+0.5), 0)
		hi := min(int(center+support+0.5), inSize)
		total := 0.0
		for j := lo; j < hi; j++ {
			total += cubicAA((float64(j) - center + 0.5) * invScale)
		}
		for j := lo; j < hi; j++ {
			m[i*inSize+j] = cubicAA((float64(j)-center+0.5)*invScale) / total
		}
	}
	return m
}

func resizeMatrixTensor(inSize, outSize int) *tensors.Tensor {
	return matrixTensor(BicubicResizeMatrix(inSize, outSize), outSize, inSize)
}

// ResamplePosEmbedGraph resizes a position embedding [1, prefix + oldH·oldW, D] (prefix tokens,
// e.g. the class token, first; their embeddings are kept as they are) to the grid newH×newW,
// in the graph, as timm's resample_abs_pos_embed does. It returns [1, prefix + newH·newW, D].
func ResamplePosEmbedGraph(pos *graph.Node, oldGrid, newGrid [2]int, numPrefix int) *graph.Node {
	dims := pos.Shape().Dimensions
	if pos.Rank() != 3 || dims[0] != 1 || dims[1] != numPrefix+oldGrid[0]*oldGrid[1] {
		panic(fmt.Errorf("nn.ResamplePosEmbedGraph: pos %s doesn't hold %d prefix tokens + a %v grid",
			pos.Shape(), numPrefix, oldGrid))
	}
	if oldGrid == newGrid {
		return pos
	}
	g := pos.Graph()
	d := dims[2]
	grid := graph.Reshape(graph.Slice(pos, graph.AxisRange(), graph.AxisRangeToEnd(numPrefix)), oldGrid[0], oldGrid[1], d)
	rh := graph.ConvertDType(graph.Const(g, resizeMatrixTensor(oldGrid[0], newGrid[0])), pos.DType())
	rw := graph.ConvertDType(graph.Const(g, resizeMatrixTensor(oldGrid[1], newGrid[1])), pos.DType())
	grid = graph.Einsum("ih,hwd->iwd", rh, grid)
	grid = graph.Einsum("jw,iwd->ijd", rw, grid)
	grid = graph.Reshape(grid, 1, newGrid[0]*newGrid[1], d)
	if numPrefix == 0 {
		return grid
	}
	prefix := graph.Slice(pos, graph.AxisRange(), graph.AxisRange(0, numPrefix))
	return graph.Concatenate([]*graph.Node{prefix, grid}, 1)
}

// ResamplePosEmbed is [ResamplePosEmbedGraph] on a host tensor: use it to adapt a checkpoint's
// "pos_embed" [1, prefix + oldH·oldW, D] to a new image size before loading it (the computation
// runs in float64 and is returned as float32, like timm's resample which interpolates in float32).
func ResamplePosEmbed(pos *tensors.Tensor, oldGrid, newGrid [2]int, numPrefix int) (*tensors.Tensor, error) {
	dims := pos.Shape().Dimensions
	if len(dims) != 3 || dims[0] != 1 || dims[1] != numPrefix+oldGrid[0]*oldGrid[1] {
		return nil, fmt.Errorf("resample pos_embed: shape %s doesn't hold %d prefix tokens + a %v grid",
			pos.Shape(), numPrefix, oldGrid)
	}
	src, err := tensors.CopyFlatData[float32](pos)
	if err != nil {
		return nil, fmt.Errorf("resample pos_embed: %w", err)
	}
	d := dims[2]
	oh, ow, nh, nw := oldGrid[0], oldGrid[1], newGrid[0], newGrid[1]
	rh, rw := BicubicResizeMatrix(oh, nh), BicubicResizeMatrix(ow, nw)
	dst := make([]float32, (numPrefix+nh*nw)*d)
	copy(dst, src[:numPrefix*d])
	grid := src[numPrefix*d:]
	tmp := make([]float64, nh*ow*d) // rows resized first
	for i := range nh {
		for h := range oh {
			r := rh[i*oh+h]
			if r == 0 {
				continue
			}
			for w := range ow {
				for c := range d {
					tmp[(i*ow+w)*d+c] += r * float64(grid[(h*ow+w)*d+c])
				}
			}
		}
	}
	out := dst[numPrefix*d:]
	for i := range nh {
		for j := range nw {
			for c := range d {
				s := 0.0
				for w := range ow {
					s += rw[j*ow+w] * tmp[(i*ow+w)*d+c]
				}
				out[(i*nw+j)*d+c] = float32(s)
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(dst, 1, numPrefix+nh*nw, d), nil
}

// bicubicResizeMatrixPlain is the [outSize, inSize] matrix of PyTorch's plain bicubic resize
// along one axis (F.interpolate(mode="bicubic", align_corners=False, antialias=False)): Keys
// cubic with a = −0.75 on the four taps around the source position (i+0.5)·in/out − 0.5, with
// indices clamped at the borders. It is what the official Swin code uses to resize relative
// position bias tables (see ResizeRelPosBiasTable).
func bicubicResizeMatrixPlain(inSize, outSize int) []float64 {
	const a = -0.75
	near := func(x float64) float64 { return ((a+2)*x-(a+3))*x*x + 1 }  // |x| ≤ 1
	far := func(x float64) float64 { return ((a*x-5*a)*x+8*a)*x - 4*a } // 1 < |x| < 2
	m := make([]float64, outSize*inSize)
	scale := float64(inSize) / float64(outSize)
	for i := range outSize {
		src := (float64(i)+0.5)*scale - 0.5
		i0 := int(math.Floor(src))
		t := src - float64(i0)
		ws := [4]float64{far(t + 1), near(t), near(1 - t), far(2 - t)}
		for k, w := range ws {
			j := min(max(i0-1+k, 0), inSize-1)
			m[i*inSize+j] += w
		}
	}
	return m
}
