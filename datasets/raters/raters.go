// Package raters simulates several annotators labelling the same ultrasound
// phantoms, each with a known systematic bias, for the multi-rater lesson
// (one learnable embedding per rater, an auto-decoder).
//
// A Rater is a set of biases applied to the phantom's exact geometry:
//
//   - Grow moves the traced margin outward (positive) or inward (negative)
//     by that many pixels: the rater traces Distance >= −Grow, where
//     Distance is the phantom's signed distance to the margin. This is a
//     dilation or erosion with sub-pixel precision.
//   - LevelShift moves the cut on the blurred margin: the rater traces
//     Soft >= 0.5 + LevelShift. With a logistic margin of scale w the
//     boundary moves inward by w·logit(0.5 + LevelShift) pixels, so the
//     bias is larger on blurrier lesions, as a reader's would be.
//   - MissBelow drops lesions (connected components of the ground truth) of
//     fewer pixels: the rater does not see small lesions.
//
// Measure recovers these biases from labels alone (area ratio, boundary
// offset, miss rate and the size below which lesions are missed), which is
// what the lesson compares with what the learned embeddings reproduce.
package raters

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gostudy/gostudy/datasets/batching"
	"github.com/gostudy/gostudy/datasets/imgproc"
	"github.com/gostudy/gostudy/datasets/phantom"
)

// Rater describes one annotator's systematic bias. The zero Rater traces the
// ground truth exactly.
type Rater struct {
	// Name labels the rater in tables and figures.
	Name string
	// Grow is the outward margin displacement in pixels (negative: inward).
	Grow float64
	// LevelShift is added to 0.5, the membership level of the true margin.
	LevelShift float64
	// MissBelow is the pixel area under which a lesion is not traced.
	MissBelow int
}

// Validate checks the parameters.
func (r Rater) Validate() error {
	if r.LevelShift <= -0.5 || r.LevelShift >= 0.5 || math.IsNaN(r.LevelShift) {
		return fmt.Errorf("raters: rater %q: LevelShift %g outside (-0.5, 0.5)", r.Name, r.LevelShift)
	}
	if math.IsNaN(r.Grow) || math.IsInf(r.Grow, 0) {
		return fmt.Errorf("raters: rater %q: Grow %g is not finite", r.Name, r.Grow)
	}
	if r.MissBelow < 0 {
		return fmt.Errorf("raters: rater %q: MissBelow %d is negative", r.Name, r.MissBelow)
	}
	return nil
}

// Label returns the rater's 0/1 mask of the sample.
func (r Rater) Label(s *phantom.Sample) ([]uint8, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	n := s.Size
	if len(s.Distance) != n*n || len(s.Soft) != n*n || len(s.Mask) != n*n {
		return nil, fmt.Errorf("raters: sample %d lacks Distance/Soft/Mask maps of %d×%d", s.Index, n, n)
	}
	out := make([]uint8, n*n)
	if r.LevelShift == 0 {
		for i, d := range s.Distance {
			if float64(d) >= -r.Grow {
				out[i] = 1
			}
		}
	} else {
		// Soft >= L on lesion k means sd_k >= w_k·logit(L): a per-lesion
		// distance shift, which composes with Grow.
		level := 0.5 + r.LevelShift
		logit := math.Log(level / (1 - level))
		for y := range n {
			for x := range n {
				for k := range s.Lesions {
					l := &s.Lesions[k]
					if l.SignedDistance(float64(x)+0.5, float64(y)+0.5)-l.Blur*logit >= -r.Grow {
						out[y*n+x] = 1
						break
					}
				}
			}
		}
	}
	if r.MissBelow > 0 {
		// Drop every traced region that overlaps a small ground-truth lesion
		// and no large one.
		gt, sizes := imgproc.Components(s.Mask, n, n)
		traced, tsizes := imgproc.Components(out, n, n)
		touchSmall := make([]bool, len(tsizes)+1)
		touchLarge := make([]bool, len(tsizes)+1)
		for i, g := range gt {
			if g == 0 || traced[i] == 0 {
				continue
			}
			if sizes[g-1] < r.MissBelow {
				touchSmall[traced[i]] = true
			} else {
				touchLarge[traced[i]] = true
			}
		}
		for i, t := range traced {
			if t > 0 && touchSmall[t] && !touchLarge[t] {
				out[i] = 0
			}
		}
	}
	return out, nil
}

// Panel is a group of raters; a rater's index in the panel is its id.
type Panel []Rater

// DefaultPanel returns five raters for phantoms of the given size, with
// lengths scaled from 64×64: an exact one, a generous one (+2 px), a tight
// one (−1.5 px), a cautious one who cuts the blurred margin at 0.8, and one
// who misses lesions under 80 px (at 64×64).
func DefaultPanel(size int) Panel {
	s := float64(size) / 64
	return Panel{
		{Name: "exact"},
		{Name: "generous", Grow: 2 * s},
		{Name: "tight", Grow: -1.5 * s},
		{Name: "cautious", LevelShift: 0.3},
		{Name: "misses-small", MissBelow: int(math.Round(80 * s * s))},
	}
}

// Bias is what labels reveal about a rater, measured against ground truth.
type Bias struct {
	// AreaRatio is the rater's total traced area over the ground truth's,
	// pooled over images.
	AreaRatio float64
	// Offset is the mean outward displacement of the traced margin in
	// pixels, estimated from traced lesions by the Steiner formula
	// ΔA = P·d + π·d² (P: ground-truth perimeter, from 4-neighbour crossings
	// times π/4).
	Offset float64
	// Dice is the mean Dice score against ground truth over images with a
	// lesion.
	Dice float64
	// MissRate is the fraction of ground-truth lesions with no traced pixel.
	MissRate float64
	// MissedMaxArea is the largest missed lesion's area and TracedMinArea the
	// smallest traced one's: a MissBelow threshold lies between them.
	MissedMaxArea, TracedMinArea int
	// Lesions is the number of ground-truth lesions measured.
	Lesions int
}

// Measure compares one rater's labels (one per sample, same order) with the
// ground truth.
func Measure(labels [][]uint8, samples []*phantom.Sample) (Bias, error) {
	if len(labels) != len(samples) {
		return Bias{}, fmt.Errorf("raters: %d labels for %d samples", len(labels), len(samples))
	}
	var b Bias
	b.TracedMinArea = math.MaxInt
	var areaR, areaG float64
	var dA, per, pdTerm float64
	var diceSum float64
	var diceN, missed int
	for k, s := range samples {
		n := s.Size
		lab := labels[k]
		if len(lab) != n*n {
			return Bias{}, fmt.Errorf("raters: label %d has %d pixels, sample %d has %d", k, len(lab), s.Index, n*n)
		}
		areaR += float64(imgproc.Area(lab))
		areaG += float64(imgproc.Area(s.Mask))
		if imgproc.Area(s.Mask) == 0 {
			continue
		}
		d, err := imgproc.Dice(lab, s.Mask)
		if err != nil {
			return Bias{}, err
		}
		diceSum += d
		diceN++
		comps, sizes := imgproc.Components(s.Mask, n, n)
		hit := make([]bool, len(sizes)+1)
		for i, c := range comps {
			if c > 0 && lab[i] != 0 {
				hit[c] = true
			}
		}
		traced := make([]uint8, n*n)
		for i, c := range comps {
			if c > 0 && hit[c] {
				traced[i] = 1
			}
		}
		for c, a := range sizes {
			b.Lesions++
			if hit[c+1] {
				b.TracedMinArea = min(b.TracedMinArea, a)
			} else {
				missed++
				b.MissedMaxArea = max(b.MissedMaxArea, a)
			}
		}
		// Offset: only traced lesions; the rater's pixels near them.
		if imgproc.Area(traced) == 0 {
			continue
		}
		near := imgproc.Dilate(traced, n, n, 12*float64(n)/64)
		var ar int
		for i := range lab {
			if lab[i] != 0 && near[i] != 0 {
				ar++
			}
		}
		dA += float64(ar - imgproc.Area(traced))
		per += perimeter(traced, n)
		pdTerm += float64(countComponents(traced, n)) * math.Pi
	}
	if areaG > 0 {
		b.AreaRatio = areaR / areaG
	}
	if diceN > 0 {
		b.Dice = diceSum / float64(diceN)
	}
	if b.Lesions > 0 {
		b.MissRate = float64(missed) / float64(b.Lesions)
	}
	if b.TracedMinArea == math.MaxInt {
		b.TracedMinArea = 0
	}
	// Solve the pooled ΔA = P·d + πk·d² (k lesions; Steiner's formula for
	// parallel sets of convex shapes, which also holds for d < 0) for d.
	if per > 0 {
		a := pdTerm
		disc := per*per + 4*a*dA
		if disc < 0 {
			disc = 0
		}
		b.Offset = (-per + math.Sqrt(disc)) / (2 * a)
	}
	return b, nil
}

// perimeter estimates a mask's boundary length: the number of 4-neighbour
// pixel pairs that differ, times π/4 (Cauchy–Crofton: a curve of length L
// crosses the horizontal and vertical grid lines 4L/π times on average).
func perimeter(mask []uint8, n int) float64 {
	c := 0
	at := func(y, x int) uint8 {
		if y < 0 || y >= n || x < 0 || x >= n {
			return 0
		}
		return mask[y*n+x]
	}
	for y := -1; y < n; y++ {
		for x := -1; x < n; x++ {
			if at(y, x) != at(y, x+1) {
				c++
			}
			if at(y, x) != at(y+1, x) {
				c++
			}
		}
	}
	return float64(c) * math.Pi / 4
}

func countComponents(mask []uint8, n int) int {
	_, sizes := imgproc.Components(mask, n, n)
	return len(sizes)
}

// Assignment says which (image, rater) pairs a Set holds.
type Assignment int

// Assignments.
const (
	// AllRaters: every rater labels every image (the multi-rater setting).
	AllRaters Assignment = iota
	// OneRaterPerImage: each image is labelled by one rater chosen at random
	// (seeded), the usual clinical data set the notes describe.
	OneRaterPerImage
)

// Set holds phantoms, a panel and every rater's labels, and the (image,
// rater) pairs that form its examples.
type Set struct {
	// Samples are the phantoms being labelled.
	Samples []*phantom.Sample
	// Panel lists the raters; a rater's id is its index.
	Panel Panel
	// Labels[i][r] is rater r's mask of sample i.
	Labels [][][]uint8
	// Pairs lists the examples as (sample, rater).
	Pairs [][2]int
	// Augment flips image and label together (FlipH only is physical).
	Augment phantom.Augment
}

// NewSet labels samples with every rater of panel and lists the examples
// according to the assignment (seed picks the raters of OneRaterPerImage).
func NewSet(samples []*phantom.Sample, panel Panel, assign Assignment, seed uint64) (*Set, error) {
	if len(panel) == 0 {
		return nil, fmt.Errorf("raters: empty panel")
	}
	s := &Set{Samples: samples, Panel: panel, Labels: make([][][]uint8, len(samples))}
	for i, sm := range samples {
		s.Labels[i] = make([][]uint8, len(panel))
		for r, rater := range panel {
			lab, err := rater.Label(sm)
			if err != nil {
				return nil, fmt.Errorf("raters: label sample %d by %q: %w", sm.Index, rater.Name, err)
			}
			s.Labels[i][r] = lab
		}
	}
	rng := batching.RNG(seed, 0x726174657273)
	for i := range samples {
		switch assign {
		case AllRaters:
			for r := range panel {
				s.Pairs = append(s.Pairs, [2]int{i, r})
			}
		case OneRaterPerImage:
			s.Pairs = append(s.Pairs, [2]int{i, rng.IntN(len(panel))})
		default:
			return nil, fmt.Errorf("raters: unknown assignment %d", assign)
		}
	}
	return s, nil
}

// RaterLabels returns rater r's labels of every sample, in sample order.
func (s *Set) RaterLabels(r int) [][]uint8 {
	out := make([][]uint8, len(s.Samples))
	for i := range s.Samples {
		out[i] = s.Labels[i][r]
	}
	return out
}

// ForRaters returns a Set view holding only the pairs of the given raters
// (for fine-tuning one rater's embedding with the backbone frozen).
func (s *Set) ForRaters(raters ...int) *Set {
	out := *s
	out.Pairs = nil
	for _, p := range s.Pairs {
		if slices.Contains(raters, p[1]) {
			out.Pairs = append(out.Pairs, p)
		}
	}
	return &out
}

// Len implements batching.Source: the number of (image, rater) pairs.
func (s *Set) Len() int { return len(s.Pairs) }

// Batch implements batching.Source. Inputs = [image [B,S,S,1] float32,
// rater id [B] int32]; Labels = [rater's mask [B,S,S,1] float32].
func (s *Set) Batch(indices []int, rng *rand.Rand) (train.Batch, error) {
	if len(indices) == 0 {
		return train.Batch{}, batching.ErrEmpty
	}
	n := s.Samples[0].Size
	px := n * n
	imgs := make([]float32, len(indices)*px)
	masks := make([]float32, len(indices)*px)
	ids := make([]int32, len(indices))
	for b, i := range indices {
		if i < 0 || i >= len(s.Pairs) {
			return train.Batch{}, fmt.Errorf("raters: index %d outside [0, %d)", i, len(s.Pairs))
		}
		p := s.Pairs[i]
		sm := s.Samples[p[0]]
		if sm.Size != n {
			return train.Batch{}, fmt.Errorf("raters: sample %d is %d px, the first is %d px", sm.Index, sm.Size, n)
		}
		im, mk := imgs[b*px:(b+1)*px], masks[b*px:(b+1)*px]
		copy(im, sm.Image)
		for k, v := range s.Labels[p[0]][p[1]] {
			mk[k] = float32(v)
		}
		if err := s.Augment.Apply(rng, n, im, mk); err != nil {
			return train.Batch{}, err
		}
		ids[b] = int32(p[1])
	}
	B := len(indices)
	return train.Batch{
		Inputs: []*tensors.Tensor{
			tensors.FromFlatDataAndDimensions(imgs, B, n, n, 1),
			tensors.FromFlatDataAndDimensions(ids, B),
		},
		Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(masks, B, n, n, 1)},
	}, nil
}
