package phantom

import (
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gostudy/gostudy/datasets/batching"
	"github.com/gostudy/gostudy/datasets/imgproc"
)

// Augment configures augmentation of phantom batches; the same transform
// moves the image, the mask and the boundary. FlipH (lateral mirroring)
// keeps the physics. FlipV puts the skin at the bottom, makes shadows point
// towards the probe and reverses the attenuation: it is offered for the
// ablation that shows why not to use it.
type Augment = imgproc.Augment

// Source serves phantoms as batches; it implements batching.Source.
//
// Inputs = [image [B,S,S,1] float32]; Labels = [mask [B,S,S,1] float32 in
// {0,1}, boundary [B,S,S,1] float32 in {0,1}, class [B] int32].
type Source struct {
	// Samples are served in index order; all must have the same Size.
	Samples []*Sample
	// Augment moves image, mask and boundary together.
	Augment Augment
}

// Len implements batching.Source.
func (s *Source) Len() int { return len(s.Samples) }

// Batch implements batching.Source.
func (s *Source) Batch(indices []int, rng *rand.Rand) (train.Batch, error) {
	if len(indices) == 0 {
		return train.Batch{}, batching.ErrEmpty
	}
	size := s.Samples[0].Size
	px := size * size
	imgs := make([]float32, len(indices)*px)
	masks := make([]float32, len(indices)*px)
	edges := make([]float32, len(indices)*px)
	classes := make([]int32, len(indices))
	for b, i := range indices {
		if i < 0 || i >= len(s.Samples) {
			return train.Batch{}, fmt.Errorf("phantom: index %d outside [0, %d)", i, len(s.Samples))
		}
		sm := s.Samples[i]
		if sm.Size != size {
			return train.Batch{}, fmt.Errorf("phantom: sample %d is %d px, sample %d is %d px", i, sm.Size, indices[0], size)
		}
		im, mk, ed := imgs[b*px:(b+1)*px], masks[b*px:(b+1)*px], edges[b*px:(b+1)*px]
		if err := s.augment(sm, im, mk, ed, rng); err != nil {
			return train.Batch{}, err
		}
		classes[b] = int32(sm.Class)
	}
	B := len(indices)
	return train.Batch{
		Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(imgs, B, size, size, 1)},
		Labels: []*tensors.Tensor{
			tensors.FromFlatDataAndDimensions(masks, B, size, size, 1),
			tensors.FromFlatDataAndDimensions(edges, B, size, size, 1),
			tensors.FromFlatDataAndDimensions(classes, B),
		},
	}, nil
}

// augment writes the (possibly transformed) image, mask and boundary of sm.
func (s *Source) augment(sm *Sample, im, mk, ed []float32, rng *rand.Rand) error {
	copy(im, sm.Image)
	for k := range sm.Mask {
		mk[k] = float32(sm.Mask[k])
		ed[k] = float32(sm.Boundary[k])
	}
	return s.Augment.Apply(rng, sm.Size, im, mk, ed)
}

// NewDataset generates n phantoms with cfg and wraps them in a seeded
// batching.Dataset (shuffled, dropping the last partial batch).
func NewDataset(cfg Config, n, batchSize int, aug Augment) (*batching.Dataset, error) {
	samples, err := Generate(cfg, n)
	if err != nil {
		return nil, err
	}
	return batching.New(fmt.Sprintf("phantom-%d", cfg.Size), &Source{Samples: samples, Augment: aug},
		batching.Options{BatchSize: batchSize, Seed: cfg.Seed, Shuffle: true, DropRemainder: true})
}

// boundaryColor draws boundaries over images in figures.
var boundaryColor = color.RGBA{R: 255, G: 40, B: 40, A: 255}

// GridImageColumns draws samples as columns of four rows: the image, the mask,
// the boundary and the image with the boundary in red, each pixel enlarged
// scale times. It fits many samples into a wide figure.
func GridImageColumns(samples []*Sample, scale int) image.Image {
	rows := make([][]image.Image, 4)
	for _, s := range samples {
		n := s.Size
		rows[0] = append(rows[0], imgproc.Gray(s.Image, n, n))
		rows[1] = append(rows[1], imgproc.MaskGray(s.Mask, n, n))
		rows[2] = append(rows[2], imgproc.MaskGray(s.Boundary, n, n))
		rows[3] = append(rows[3], imgproc.Outline(s.Image, n, n, [][]uint8{s.Boundary}, []color.RGBA{boundaryColor}))
	}
	return imgproc.Grid(rows, scale, 2)
}
