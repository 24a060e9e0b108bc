// Package segkit is what the three ultrasound-segmentation lessons share (05 U-Net on
// phantoms, 06 GG-Net, 07 multi-rater labels), on top of the lesson kit (lessons/lesson):
//
//   - [Images], the data part of their run configs: the kit's phantoms by default, or a
//     BUSI-layout folder of real images when the user has one ([EnvBUSI] or the "busi" key).
//   - The Dice metric every run reports and selects its checkpoint by ([Metrics], [BestDice]).
//   - Measures computed in Go on a trained model's predictions ([Predict]): per-image Dice,
//     the boundary error read off the phantoms' exact signed distance ([BoundaryError]),
//     false positives inside the phantoms' known look-alike regions ([Lookalikes]).
//   - Figures: image, ground truth, prediction and errors in one overlay ([Overlay]).
package segkit

import (
	"fmt"
	"math"
	"os"
	"strings"
	"sync"

	"github.com/gostudy/gostudy/datasets/batching"
	"github.com/gostudy/gostudy/datasets/busi"
	"github.com/gostudy/gostudy/datasets/phantom"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// EnvBUSI names the environment variable holding a BUSI-layout folder (benign/, malignant/,
// normal/ with name.png and name_mask.png): when set, the lessons' ForBudget configs train and
// test on those images instead of phantoms. The "busi" key of a run config does the same for
// one run (`gostudy ablate unet -busi /data/BUSI`).
const EnvBUSI = "GOSTUDY_BUSI"

// Images is the data part of the segmentation lessons' run configs: [lesson.Phantoms] (sizes,
// augmentation), and optionally a folder of real images that replaces the phantoms.
type Images struct {
	lesson.Phantoms
	// BUSI is a folder with BUSI's layout. When set, the splits are its images (resized to
	// ImageSize), split once by a fixed permutation into test, validation and training images
	// of the configured sizes (training gets what is left when the folder is smaller). Real
	// images have no look-alike regions, no lesion geometry and no appearance knobs: the
	// measures that need them say so.
	BUSI string `json:"busi,omitempty" help:"BUSI-layout folder of real images (default: synthetic phantoms)"`
}

// FromEnv returns p with BUSI set from [EnvBUSI] (unchanged when the variable is unset).
func FromEnv(p lesson.Phantoms) Images {
	return Images{Phantoms: p, BUSI: strings.TrimSpace(os.Getenv(EnvBUSI))}
}

// Real reports whether the images are real (a BUSI folder) rather than phantoms.
func (d Images) Real() bool { return d.BUSI != "" }

// Source says where the images come from, for a notebook's first line.
func (d Images) Source() string {
	if d.Real() {
		return fmt.Sprintf("real images from %s (BUSI layout) at %d×%d", d.BUSI, d.ImageSize, d.ImageSize)
	}
	return fmt.Sprintf("synthetic phantoms (datasets/phantom) at %d×%d", d.ImageSize, d.ImageSize)
}

// Validate checks the sizes and, for a BUSI folder, that it exists and is a folder (its
// layout is checked when it is loaded).
func (d Images) Validate() error {
	if err := d.Phantoms.Validate(); err != nil {
		return err
	}
	if d.Real() {
		st, err := os.Stat(d.BUSI)
		if err != nil {
			return fmt.Errorf("busi folder (%s): %w", EnvBUSI, err)
		}
		if !st.IsDir() {
			return fmt.Errorf("busi folder %s (%s) is not a folder", d.BUSI, EnvBUSI)
		}
	}
	return nil
}

// ValidateRun checks the sizes a training run needs — at least one full training batch, and
// validation and test sets in whole evaluation batches (one evaluation graph) — then the images.
func (d Images) ValidateRun(batch, evalBatch int) error {
	switch {
	case batch <= 0 || d.TrainSize < batch:
		return fmt.Errorf("batch_size %d and train_size %d: need 0 < batch ≤ train", batch, d.TrainSize)
	case d.ValSize%evalBatch != 0 || d.TestSize%evalBatch != 0:
		return fmt.Errorf("val_size %d and test_size %d must be multiples of %d", d.ValSize, d.TestSize, evalBatch)
	}
	return d.Validate()
}

// Splits returns the training, validation and test samples: the kit's phantoms, or the BUSI
// folder's images as samples (Image, Mask, Boundary by Canny like the phantoms', Distance the
// exact signed distance to the mask's margin, Soft a logistic of it, Class from the folder; no
// Lesions or Lookalikes).
func (d Images) Splits() (trainSet, valSet, testSet []*phantom.Sample, err error) {
	if !d.Real() {
		return d.Phantoms.Splits()
	}
	if err := d.Validate(); err != nil {
		return nil, nil, nil, err
	}
	all, err := loadBUSI(d.BUSI, d.ImageSize)
	if err != nil {
		return nil, nil, nil, err
	}
	n := len(all)
	if n < d.TestSize+d.ValSize+1 {
		return nil, nil, nil, fmt.Errorf("busi folder %s has %d images: too few for %d test + %d validation + training images",
			d.BUSI, n, d.TestSize, d.ValSize)
	}
	perm := batching.RNG(lesson.PhantomSeed, 0x62757369).Perm(n)
	pick := func(idx []int) []*phantom.Sample {
		out := make([]*phantom.Sample, len(idx))
		for i, k := range idx {
			out[i] = all[k]
		}
		return out
	}
	testSet = pick(perm[:d.TestSize])
	valSet = pick(perm[d.TestSize : d.TestSize+d.ValSize])
	rest := perm[d.TestSize+d.ValSize:]
	trainSet = pick(rest[:min(len(rest), d.TrainSize)])
	return trainSet, valSet, testSet, nil
}

// Data is the run's data ([lesson.SampleData] over [Images.Splits]): inputs [image], labels
// [mask, boundary, class].
func (d Images) Data(batch, evalBatch int, seed int64) (*experiment.Data, error) {
	if !d.Real() {
		return d.Phantoms.Data(batch, evalBatch, seed)
	}
	trainSet, valSet, testSet, err := d.Splits()
	if err != nil {
		return nil, err
	}
	if len(trainSet) < batch {
		return nil, fmt.Errorf("busi folder %s: %d training images, fewer than one batch of %d", d.BUSI, len(trainSet), batch)
	}
	return lesson.SampleData(fmt.Sprintf("busi-%d", d.ImageSize), trainSet, valSet, testSet,
		phantom.Augment{FlipH: d.FlipH, MaxShift: d.MaxShift}, batch, evalBatch, seed)
}

// busiCache keeps a loaded folder per (path, size): decoding 780 PNGs takes seconds and every
// run of a notebook asks for the same ones.
var busiCache = struct {
	sync.Mutex
	m map[string][]*phantom.Sample
}{m: map[string][]*phantom.Sample{}}

func loadBUSI(root string, size int) ([]*phantom.Sample, error) {
	key := fmt.Sprintf("%s\x00%d", root, size)
	busiCache.Lock()
	defer busiCache.Unlock()
	if s, ok := busiCache.m[key]; ok {
		return s, nil
	}
	set, err := busi.Load(root, busi.Options{Size: size})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvBUSI, err)
	}
	out := make([]*phantom.Sample, len(set.Examples))
	for i := range set.Examples {
		out[i] = SampleOf(&set.Examples[i], size, i)
	}
	busiCache.m[key] = out
	return out, nil
}

// SampleOf converts a real image and its mask to a phantom.Sample with index i, so that every
// measure runs on it: the boundary is Canny on the mask (as for phantoms), Distance the exact
// Euclidean signed distance to the mask's margin ([SignedDistance]), Soft = σ(Distance/1 px)
// (a one-pixel margin: raters that cut the margin at another level shift it by logit(level)
// pixels). Echo is the image itself.
func SampleOf(ex *busi.Example, size, i int) *phantom.Sample {
	s := &phantom.Sample{Index: i, Size: size, Image: ex.Image, Echo: ex.Image, Mask: ex.Mask}
	s.Boundary = phantom.Edges(ex.Mask, size, phantom.EdgeCanny)
	s.Distance = SignedDistance(ex.Mask, size)
	s.Soft = make([]float32, len(s.Distance))
	for k, d := range s.Distance {
		s.Soft[k] = float32(1 / (1 + math.Exp(-float64(d))))
	}
	s.Class = phantom.Class(ex.Class)
	return s
}
