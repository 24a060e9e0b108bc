package lesson

import (
	"fmt"
	"sync"

	"github.com/gostudy/gostudy/datasets/batching"
	"github.com/gostudy/gostudy/datasets/phantom"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Phantoms is the data part of a run config for lessons on the synthetic ultrasound images of
// datasets/phantom (segmentation, multi-rater labels). Embed it in the lesson's RunConfig like
// [MNIST].
//
// Each split is its own generator stream (seed [PhantomSeed], +1, +2 for training, validation
// and test) and phantom i of a stream depends only on (seed, i), so changing TrainSize never
// changes the validation or test images, and the run's seed never changes any image.
type Phantoms struct {
	// ImageSize is the phantoms' side in pixels (64 is datasets/phantom's default).
	ImageSize int `json:"image_size" help:"phantom side in pixels"`
	// TrainSize, ValSize and TestSize are the number of phantoms of each split.
	TrainSize int `json:"train_size" help:"training phantoms"`
	ValSize   int `json:"val_size" help:"validation phantoms (pick the best checkpoint)"`
	TestSize  int `json:"test_size" help:"test phantoms (the final metrics)"`
	// FlipH mirrors training images left-right with probability 1/2 (mask and boundary
	// with them); MaxShift shifts them by up to this many pixels. Vertical flips are not
	// offered: depth runs downwards in an ultrasound image (shadows, attenuation).
	FlipH    bool `json:"flip_h" help:"training augmentation: mirror left-right"`
	MaxShift int  `json:"max_shift" help:"training augmentation: random shift in pixels"`
}

// PhantomSeed is the generator seed of the training phantoms; validation and test use the next
// two seeds.
const PhantomSeed = 20240901

// Validate reports sizes that cannot be generated or evaluated in whole batches.
func (p Phantoms) Validate() error {
	switch {
	case p.ImageSize < 16:
		return fmt.Errorf("phantom image_size %d: want ≥ 16", p.ImageSize)
	case p.TrainSize <= 0 || p.ValSize <= 0 || p.TestSize <= 0:
		return fmt.Errorf("phantom sizes: train %d, val %d and test %d must be positive", p.TrainSize, p.ValSize, p.TestSize)
	case p.MaxShift < 0 || p.MaxShift >= p.ImageSize/4:
		return fmt.Errorf("phantom max_shift %d outside [0, %d)", p.MaxShift, p.ImageSize/4)
	}
	return nil
}

// Generator returns datasets/phantom's default generator at ImageSize for split 0 (training),
// 1 (validation) or 2 (test).
func (p Phantoms) Generator(split int) phantom.Config {
	c := phantom.DefaultConfig()
	c.Size = p.ImageSize
	c.Seed = PhantomSeed + uint64(split)
	return c
}

// phantomCache keeps generated splits: a 64×64 phantom takes milliseconds, and a sweep asks for
// the same splits many times.
var phantomCache = struct {
	sync.Mutex
	m map[[2]int][]*phantom.Sample // (size·3 + split, n) → samples
}{m: map[[2]int][]*phantom.Sample{}}

func (p Phantoms) split(split, n int) ([]*phantom.Sample, error) {
	key := [2]int{p.ImageSize*3 + split, n}
	phantomCache.Lock()
	defer phantomCache.Unlock()
	if s, ok := phantomCache.m[key]; ok {
		return s, nil
	}
	s, err := phantom.Generate(p.Generator(split), n)
	if err != nil {
		return nil, err
	}
	phantomCache.m[key] = s
	return s, nil
}

// Splits returns the training, validation and test phantoms (see [Phantoms]).
func (p Phantoms) Splits() (trainSet, valSet, testSet []*phantom.Sample, err error) {
	if err := p.Validate(); err != nil {
		return nil, nil, nil, err
	}
	for i, n := range []int{p.TrainSize, p.ValSize, p.TestSize} {
		s, err := p.split(i, n)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("phantom split %d: %w", i, err)
		}
		switch i {
		case 0:
			trainSet = s
		case 1:
			valSet = s
		default:
			testSet = s
		}
	}
	return trainSet, valSet, testSet, nil
}

// Steps is the number of training steps of a run: full batches per epoch × epochs.
func (p Phantoms) Steps(batch, epochs int) int { return epochs * (p.TrainSize / max(batch, 1)) }

// Data is a run's data: training batches (shuffled and augmented as a pure function of (seed,
// epoch), full batches only) and the validation and test phantoms in order, evalBatch at a
// time. Batches hold inputs [image] and labels [mask, boundary, class] (phantom.Source).
func (p Phantoms) Data(batch, evalBatch int, seed int64) (*experiment.Data, error) {
	return p.data(batch, evalBatch, seed, func(s *phantom.Source) batching.Source { return s })
}

// data builds Data over sources that serve each split through wrap.
func (p Phantoms) data(batch, evalBatch int, seed int64, wrap func(*phantom.Source) batching.Source) (*experiment.Data, error) {
	trainSet, valSet, testSet, err := p.Splits()
	if err != nil {
		return nil, err
	}
	aug := phantom.Augment{FlipH: p.FlipH, MaxShift: p.MaxShift}
	return SourceData(fmt.Sprintf("phantom-%d", p.ImageSize), wrap(&phantom.Source{Samples: trainSet, Augment: aug}),
		wrap(&phantom.Source{Samples: valSet}), wrap(&phantom.Source{Samples: testSet}), batch, evalBatch, seed)
}

// SampleData is [Phantoms.Data] for splits of samples from elsewhere (real images converted
// to phantom.Sample, say), named name: training batches shuffled and augmented with aug as a
// pure function of (seed, epoch), full batches only; validation and test in order.
func SampleData(name string, trainSet, valSet, testSet []*phantom.Sample, aug phantom.Augment, batch, evalBatch int,
	seed int64) (*experiment.Data, error) {
	return SourceData(name, &phantom.Source{Samples: trainSet, Augment: aug}, &phantom.Source{Samples: valSet},
		&phantom.Source{Samples: testSet}, batch, evalBatch, seed)
}

// SourceData is a run's data from three batching sources (a lesson's own, when its batches
// need more than phantom.Source gives), named name: training batches shuffled as a pure
// function of (seed, epoch), full batches only; validation and test in order, evalBatch at a
// time.
func SourceData(name string, trainSrc, valSrc, testSrc batching.Source, batch, evalBatch int, seed int64) (*experiment.Data, error) {
	trainDS, err := batching.New(name+"-train", trainSrc,
		batching.Options{BatchSize: batch, Seed: uint64(seed), Shuffle: true, DropRemainder: true})
	if err != nil {
		return nil, fmt.Errorf("%s training batches: %w", name, err)
	}
	eval := func(split string, src batching.Source) (*batching.Dataset, error) {
		return batching.New(name+"-"+split, src, batching.Options{BatchSize: evalBatch})
	}
	valDS, err := eval("val", valSrc)
	if err != nil {
		return nil, fmt.Errorf("%s validation set: %w", name, err)
	}
	testDS, err := eval("test", testSrc)
	if err != nil {
		return nil, fmt.Errorf("%s test set: %w", name, err)
	}
	return epochData(trainDS, valDS, testDS)
}
