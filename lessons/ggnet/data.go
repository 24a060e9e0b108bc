package ggnet

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gostudy/gostudy/datasets/batching"
	"github.com/gostudy/gostudy/datasets/imgproc"
	"github.com/gostudy/gostudy/datasets/phantom"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// RenderMask draws the lesion mask of s at size×size from its geometry: a pixel is lesion when
// the signed distance at its centre, in s's own pixel coordinates, is ≥ 0 — the same rule that
// made s.Mask, so RenderMask(s, s.Size) is s.Mask and a smaller size is the same scene seen
// with bigger pixels, not a resampled picture.
func RenderMask(s *phantom.Sample, size int) []uint8 {
	f := float64(s.Size) / float64(size)
	out := make([]uint8, size*size)
	for y := range size {
		for x := range size {
			for k := range s.Lesions {
				if s.Lesions[k].SignedDistance((float64(x)+0.5)*f, (float64(y)+0.5)*f) >= 0 {
					out[y*size+x] = 1
					break
				}
			}
		}
	}
	return out
}

// nativeMaps are a sample's mask and Canny edge map rendered at each BD scale.
type nativeMaps struct {
	masks, edges [][]float32
}

// NativeSource serves phantoms like phantom.Source with, after its labels [mask, edge, class],
// the mask and the edge map rendered natively at every BD scale (S/2, S/4, …, one per level
// after the first): labels [mask, edge, class, mask_1, edge_1, mask_2, edge_2, …]. It
// implements batching.Source. Only left–right flips are offered (a flip of the scene is the
// same flip of every rendering); shifts would need sub-pixel moves at the coarse scales.
type NativeSource struct {
	Samples []*phantom.Sample
	Levels  int
	FlipH   bool

	mu    sync.Mutex
	cache map[*phantom.Sample]*nativeMaps
}

// Len implements batching.Source.
func (s *NativeSource) Len() int { return len(s.Samples) }

func (s *NativeSource) maps(sm *phantom.Sample) *nativeMaps {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		s.cache = map[*phantom.Sample]*nativeMaps{}
	}
	if m, ok := s.cache[sm]; ok {
		return m
	}
	m := &nativeMaps{}
	for l := 1; l < s.Levels; l++ {
		size := sm.Size >> l
		mask := RenderMask(sm, size)
		edge := phantom.Edges(mask, size, phantom.EdgeCanny)
		m.masks = append(m.masks, toFloat(mask))
		m.edges = append(m.edges, toFloat(edge))
	}
	s.cache[sm] = m
	return m
}

func toFloat(m []uint8) []float32 {
	f := make([]float32, len(m))
	for i, v := range m {
		f[i] = float32(v)
	}
	return f
}

// Batch implements batching.Source.
func (s *NativeSource) Batch(indices []int, rng *rand.Rand) (train.Batch, error) {
	if len(indices) == 0 {
		return train.Batch{}, batching.ErrEmpty
	}
	n := s.Samples[0].Size
	B := len(indices)
	full := [2][]float32{make([]float32, B*n*n), make([]float32, B*n*n)}
	images := make([]float32, B*n*n)
	classes := make([]int32, B)
	var low [][]float32
	for l := 1; l < s.Levels; l++ {
		m := n >> l
		low = append(low, make([]float32, B*m*m), make([]float32, B*m*m))
	}
	for b, i := range indices {
		if i < 0 || i >= len(s.Samples) {
			return train.Batch{}, fmt.Errorf("ggnet: index %d outside [0, %d)", i, len(s.Samples))
		}
		sm := s.Samples[i]
		if sm.Size != n {
			return train.Batch{}, fmt.Errorf("ggnet: sample %d is %d px, the first is %d px", sm.Index, sm.Size, n)
		}
		flip := s.FlipH && rng != nil && rng.IntN(2) == 1
		put := func(dst, src []float32, size int) {
			copy(dst, src)
			if flip {
				imgproc.FlipH(dst, size, size, 1)
			}
		}
		px := n * n
		put(images[b*px:(b+1)*px], sm.Image, n)
		put(full[0][b*px:(b+1)*px], toFloat(sm.Mask), n)
		put(full[1][b*px:(b+1)*px], toFloat(sm.Boundary), n)
		classes[b] = int32(sm.Class)
		nm := s.maps(sm)
		for l := range nm.masks {
			size := n >> (l + 1)
			q := size * size
			put(low[2*l][b*q:(b+1)*q], nm.masks[l], size)
			put(low[2*l+1][b*q:(b+1)*q], nm.edges[l], size)
		}
	}
	labels := []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(full[0], B, n, n, 1),
		tensors.FromFlatDataAndDimensions(full[1], B, n, n, 1),
		tensors.FromFlatDataAndDimensions(classes, B),
	}
	for k, v := range low {
		size := n >> (k/2 + 1)
		labels = append(labels, tensors.FromFlatDataAndDimensions(v, B, size, size, 1))
	}
	return train.Batch{Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(images, B, n, n, 1)}, Labels: labels}, nil
}

// Data is the run's data: the segmentation lessons' images (segkit.Images.Data), or, for
// native BD targets, the same phantoms served by a [NativeSource].
func Data(c RunConfig, seed int64) (*experiment.Data, error) {
	if c.BDTarget != TargetNative {
		return c.Images.Data(c.BatchSize, EvalBatch, seed)
	}
	trainSet, valSet, testSet, err := c.Splits()
	if err != nil {
		return nil, err
	}
	src := func(set []*phantom.Sample, flip bool) batching.Source {
		return &NativeSource{Samples: set, Levels: c.Levels, FlipH: flip}
	}
	return lesson.SourceData(fmt.Sprintf("phantom-native-%d", c.ImageSize), src(trainSet, c.FlipH), src(valSet, false),
		src(testSet, false), c.BatchSize, EvalBatch, seed)
}
