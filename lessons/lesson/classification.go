package lesson

import (
	"fmt"

	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Datasets of [Classification].
const (
	DatasetMNIST   = "mnist"
	DatasetPhantom = "phantom"
)

// Classification is the data part of a run config for lessons whose classifiers train on MNIST
// digits or, where MNIST is too easy for architectures to differ beyond the seed noise, on the
// phantoms' classes (normal, benign, malignant; [Phantoms.ClassData]). Embed it in the
// RunConfig instead of [MNIST]: the MNIST sizes keep their keys (train_size, …), the phantom
// sizes are nested under "phantom" (`-set dataset=phantom -set phantom.train_size=2000`), and
// only the chosen dataset's sizes are validated and used.
type Classification struct {
	// Dataset is DatasetMNIST ("" means it too) or DatasetPhantom.
	Dataset string `json:"dataset" help:"mnist or phantom (the phantoms' classes: normal, benign, malignant)"`
	MNIST
	Phantom Phantoms `json:"phantom"`
}

// IsPhantom tells whether the runs train on the phantoms.
func (c Classification) IsPhantom() bool { return c.Dataset == DatasetPhantom }

// Validate reports an unknown dataset or sizes the chosen one cannot serve.
func (c Classification) Validate() error {
	switch c.Dataset {
	case "", DatasetMNIST:
		return c.MNIST.Validate()
	case DatasetPhantom:
		if err := c.Phantom.Validate(); err != nil {
			return err
		}
		if c.Phantom.ValSize%EvalBatch != 0 || c.Phantom.TestSize%EvalBatch != 0 {
			return fmt.Errorf("phantom sizes: val %d and test %d must be multiples of the evaluation batch %d",
				c.Phantom.ValSize, c.Phantom.TestSize, EvalBatch)
		}
		return nil
	}
	return fmt.Errorf("dataset %q: want %q or %q", c.Dataset, DatasetMNIST, DatasetPhantom)
}

// Data is the run's data: [MNIST.Data] or [Phantoms.ClassData], evaluated [EvalBatch] at a time.
func (c Classification) Data(batch int, seed int64) (*experiment.Data, error) {
	if c.IsPhantom() {
		return c.Phantom.ClassData(batch, EvalBatch, seed)
	}
	return c.MNIST.Data(batch, seed)
}

// Steps is the number of training steps of a run: full batches per epoch × epochs.
func (c Classification) Steps(batch, epochs int) int {
	if c.IsPhantom() {
		return c.Phantom.Steps(batch, epochs)
	}
	return c.MNIST.Steps(batch, epochs)
}

// ValidateRun is [Classification.Validate] for a run that trains epochs × full batches of
// batch images: it also refuses a run with no full training batch at all.
func (c Classification) ValidateRun(batch, epochs int) error {
	if err := checkRun(batch, epochs, c.Steps(batch, epochs)); err != nil {
		return err
	}
	return c.Validate()
}

// Classes is the number of classes: 10 digits or [PhantomClasses].
func (c Classification) Classes() int {
	if c.IsPhantom() {
		return PhantomClasses
	}
	return 10
}

// ImageSize is the side of the (square, one-channel) images: 28 or the phantoms' ImageSize.
func (c Classification) ImageSize() int {
	if c.IsPhantom() {
		return c.Phantom.ImageSize
	}
	return mnist.Height
}

// Tests is the number of test images.
func (c Classification) Tests() int {
	if c.IsPhantom() {
		return c.Phantom.TestSize
	}
	return c.MNIST.Tests()
}

// Name is "MNIST" or "phantoms", for titles.
func (c Classification) Name() string {
	if c.IsPhantom() {
		return "phantoms"
	}
	return "MNIST"
}
