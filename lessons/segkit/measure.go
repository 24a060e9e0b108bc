package segkit

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/imgproc"
	"github.com/gostudy/gostudy/datasets/phantom"
	"github.com/gostudy/gostudy/lessons/lesson"
)

// PredictBatch is how many images [Predict] runs at once; the last batch is padded to it so
// that one compiled graph serves every call.
const PredictBatch = 25

// LogitsFn is a segmentation model in inference mode: inputs [images [B,S,S,1]] (and, for
// multi-rater models, [rater ids [B] int32]) → mask logits [B,S,S,1].
type LogitsFn = func(scope *model.Scope, inputs []*graph.Node) *graph.Node

// Predictor runs a trained segmentation model on phantoms: one compiled graph for every call.
// Close it when done.
type Predictor struct {
	exec  *model.Exec
	rater bool
}

// NewPredictor prepares fn with the variables of store (a trained run's best checkpoint).
// withRaters says fn takes a second input, one rater id per image.
func NewPredictor(backend compute.Backend, store *model.Store, fn LogitsFn, withRaters bool) (*Predictor, error) {
	return lesson.Catch("prepare the model", func() (*Predictor, error) {
		exec, err := model.NewExec(backend, store, func(scope *model.Scope, inputs []*graph.Node) *graph.Node {
			return graph.Sigmoid(fn(scope, inputs))
		})
		if err != nil {
			return nil, err
		}
		return &Predictor{exec: exec, rater: withRaters}, nil
	})
}

// Close releases the compiled graph; a nil or closed Predictor may be closed again.
func (p *Predictor) Close() {
	if p != nil && p.exec != nil {
		p.exec.Finalize()
		p.exec = nil
	}
}

// Predict returns each sample's lesion probability σ(logit), row-major S×S. ids holds one
// rater id per sample for a model with raters (nil otherwise).
func (p *Predictor) Predict(samples []*phantom.Sample, ids []int32) ([][]float32, error) {
	return lesson.Catch("predict masks", func() ([][]float32, error) {
		if len(samples) == 0 {
			return nil, nil
		}
		if p.rater != (ids != nil) || (ids != nil && len(ids) != len(samples)) {
			return nil, fmt.Errorf("%d rater ids for %d images (the model takes rater ids: %v)", len(ids), len(samples), p.rater)
		}
		n := samples[0].Size
		px := n * n
		out := make([][]float32, len(samples))
		for start := 0; start < len(samples); start += PredictBatch {
			b := min(PredictBatch, len(samples)-start)
			imgs := make([]float32, PredictBatch*px)
			rid := make([]int32, PredictBatch)
			for i := range b {
				s := samples[start+i]
				if s.Size != n {
					return nil, fmt.Errorf("image %d is %d px, the first is %d px", start+i, s.Size, n)
				}
				copy(imgs[i*px:], s.Image)
				if ids != nil {
					rid[i] = ids[start+i]
				}
			}
			args := []any{tensors.FromFlatDataAndDimensions(imgs, PredictBatch, n, n, 1)}
			if ids != nil {
				args = append(args, tensors.FromFlatDataAndDimensions(rid, PredictBatch))
			}
			res, err := p.exec.Exec(args...)
			if err != nil {
				return nil, fmt.Errorf("images %d..%d: %w", start, start+b-1, err)
			}
			flat, err := tensors.CopyFlatData[float32](res[0])
			res[0].FinalizeAll()
			if err != nil {
				return nil, err
			}
			if len(flat) != PredictBatch*px {
				return nil, fmt.Errorf("the model returned %d values for %d images of %d×%d", len(flat), PredictBatch, n, n)
			}
			for i := range b {
				out[start+i] = flat[i*px : (i+1)*px]
			}
		}
		return out, nil
	})
}

// Predict is [NewPredictor] and one [Predictor.Predict] call.
func Predict(backend compute.Backend, store *model.Store, fn LogitsFn, samples []*phantom.Sample, ids []int32) ([][]float32, error) {
	p, err := NewPredictor(backend, store, fn, ids != nil)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return p.Predict(samples, ids)
}

// Binarize is the predicted mask: probability ≥ 1/2.
func Binarize(prob []float32) []uint8 {
	m := make([]uint8, len(prob))
	for i, p := range prob {
		if p >= 0.5 {
			m[i] = 1
		}
	}
	return m
}

// Dice is the per-image Dice score of each predicted mask against its sample's mask (or, when
// labels is not nil, against labels[i]): 2|P∩G| / (|P|+|G|), 1 when both are empty —
// [DiceGraph]'s definition.
func Dice(masks [][]uint8, samples []*phantom.Sample, labels [][]uint8) ([]float64, error) {
	if len(masks) != len(samples) || (labels != nil && len(labels) != len(samples)) {
		return nil, fmt.Errorf("dice: %d masks, %d samples, %d labels", len(masks), len(samples), len(labels))
	}
	out := make([]float64, len(masks))
	for i, m := range masks {
		gt := samples[i].Mask
		if labels != nil {
			gt = labels[i]
		}
		d, err := imgproc.Dice(m, gt)
		if err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
		out[i] = d
	}
	return out, nil
}

// Boundary is how far a predicted margin lies from the true one, in pixels.
type Boundary struct {
	// Mean is the average distance, P95 its 95th percentile (a robust Hausdorff distance).
	Mean, P95 float64
	// Near is the average over the places within [NearPx] of a true margin: how well the
	// margins the model found are placed, false blobs aside. Stray is the fraction of places
	// farther than that: margins of false blobs (or of lesions badly off).
	Near, Stray float64
	// Cracks is the number of places measured: pairs of 4-neighbour pixels, one inside the
	// prediction and one outside, between which the predicted margin passes.
	Cracks int
}

// NearPx is the distance from a true margin within which [Boundary].Near counts a predicted
// margin as placing that margin, for an image of the given side: 3 px at 32 px, scaled.
func NearPx(size int) float64 { return 3 * float64(size) / 32 }

// BoundaryError measures the predicted margins of masks against the true margins, read off
// each sample's signed distance: the predicted margin crosses every crack between a pixel
// inside the prediction and a 4-neighbour outside it, at the crack's midpoint, whose true
// signed distance is the mean of the two pixels' (linear interpolation). Its absolute value
// is the distance from that point of the predicted margin to the true one — exact for
// phantoms, whose Distance is the geometry's, not a pixel count. A perfect mask scores about
// a quarter pixel (the true margin falls anywhere between pixel centres). Pooled over images.
//
// It is one-sided: a lesion the prediction misses entirely adds no crack (Dice counts it).
// Far from every lesion the phantoms' Distance is only a bound, so a false blob there adds at
// least its distance.
func BoundaryError(masks [][]uint8, samples []*phantom.Sample) (Boundary, error) {
	var errs []float64
	var near, nearSum float64
	for k, m := range masks {
		s := samples[k]
		n := s.Size
		if len(m) != n*n || len(s.Distance) != n*n {
			return Boundary{}, fmt.Errorf("boundary error, image %d: mask %d px, distance %d px, want %d×%d", k, len(m), len(s.Distance), n, n)
		}
		limit := NearPx(n)
		crack := func(a, b int) {
			if (m[a] != 0) != (m[b] != 0) {
				e := math.Abs(float64(s.Distance[a]+s.Distance[b])) / 2
				errs = append(errs, e)
				if e <= limit {
					near++
					nearSum += e
				}
			}
		}
		for y := range n {
			for x := range n {
				i := y*n + x
				if x+1 < n {
					crack(i, i+1)
				}
				if y+1 < n {
					crack(i, i+n)
				}
			}
		}
	}
	if len(errs) == 0 {
		return Boundary{}, nil
	}
	slices.Sort(errs)
	var sum float64
	for _, e := range errs {
		sum += e
	}
	b := Boundary{Mean: sum / float64(len(errs)), P95: errs[min(len(errs)-1, int(math.Ceil(0.95*float64(len(errs))))-1)],
		Cracks: len(errs), Stray: 1 - near/float64(len(errs))}
	if near > 0 {
		b.Near = nearSum / near
	}
	return b, nil
}

// LookalikeRegion marks the pixels of s where a look-alike (a dark spot or a ligament shadow
// that is not a lesion) darkens the tissue by more than half its full effect: inside
// 1.086·radius of a spot (exp(−d⁴/2) > 1/2), within √ln 2·half-width of a band's column
// below its start (the generator's own profiles). Real images have none.
func LookalikeRegion(s *phantom.Sample) []uint8 {
	n := s.Size
	out := make([]uint8, n*n)
	spot := math.Pow(2*math.Ln2, 0.25)
	band := math.Sqrt(math.Ln2)
	for _, la := range s.Lookalikes {
		for y := range n {
			for x := range n {
				fx, fy := float64(x)+0.5, float64(y)+0.5
				var in bool
				if la.Band {
					in = math.Abs(fx-la.CX) < band*la.Radius && fy >= la.CY
				} else {
					in = math.Hypot(fx-la.CX, fy-la.CY) < spot*la.Radius
				}
				if in {
					out[y*n+x] = 1
				}
			}
		}
	}
	return out
}

// Lookalikes is where a model's false positives fall.
type Lookalikes struct {
	// Images is the number of images with a look-alike region; Regions the number of
	// look-alike objects (spots and bands).
	Images, Regions int
	// InsideRate is the fraction of look-alike pixels (outside every lesion's 2-pixel
	// neighbourhood) predicted as lesion; BackgroundRate the same fraction over the other
	// background pixels of the same images. Their ratio is how much more a look-alike fools
	// the model than ordinary tissue.
	InsideRate, BackgroundRate float64
	// Fooled is the fraction of look-alike objects at least a quarter of whose region is
	// predicted as lesion: a spot or shadow mistaken for a mass.
	Fooled float64
	// FPInLookalikes is the fraction of all false-positive pixels (predicted lesion outside
	// the 2-pixel neighbourhood of any lesion) that lie in look-alike regions, and
	// LookalikeArea the fraction of that background the regions cover.
	FPInLookalikes, LookalikeArea float64
}

// MeasureLookalikes counts the predicted-lesion pixels inside and outside the look-alike
// regions of the samples. Pixels within 2 pixels of a true margin (Distance > −2) are left out
// of both: an error there is a boundary error, not a look-alike.
func MeasureLookalikes(masks [][]uint8, samples []*phantom.Sample) (Lookalikes, error) {
	var r Lookalikes
	var inPx, inFP, bgPx, bgFP, objects, fooled int
	for k, m := range masks {
		s := samples[k]
		n := s.Size
		if len(m) != n*n {
			return r, fmt.Errorf("look-alikes, image %d: mask of %d px, want %d×%d", k, len(m), n, n)
		}
		region := LookalikeRegion(s)
		if len(s.Lookalikes) > 0 {
			r.Images++
		}
		for i := range m {
			if s.Distance[i] > -2 {
				continue
			}
			if region[i] != 0 {
				inPx++
				if m[i] != 0 {
					inFP++
				}
			} else {
				bgPx++
				if m[i] != 0 {
					bgFP++
				}
			}
		}
		for _, la := range s.Lookalikes {
			one := LookalikeRegion(&phantom.Sample{Size: n, Lookalikes: []phantom.Lookalike{la}})
			var area, hit int
			for i, v := range one {
				if v != 0 && s.Distance[i] <= -2 {
					area++
					if m[i] != 0 {
						hit++
					}
				}
			}
			if area == 0 {
				continue
			}
			objects++
			if 4*hit >= area {
				fooled++
			}
		}
	}
	r.Regions = objects
	ratio := func(a, b int) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	r.InsideRate, r.BackgroundRate = ratio(inFP, inPx), ratio(bgFP, bgPx)
	r.Fooled = ratio(fooled, objects)
	r.FPInLookalikes = ratio(inFP, inFP+bgFP)
	r.LookalikeArea = ratio(inPx, inPx+bgPx)
	return r, nil
}
