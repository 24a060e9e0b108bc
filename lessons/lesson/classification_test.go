package lesson

import (
	"slices"
	"testing"

	"github.com/gostudy/gostudy/pkg/experiment"
)

func TestClassificationChoosesTheDataset(t *testing.T) {
	type runConfig struct {
		experiment.Train
		Classification
	}
	c := runConfig{Classification: Classification{MNIST: MNIST{TrainSize: 500, ValSize: 250, TestSize: 250},
		Phantom: Phantoms{ImageSize: 32, TrainSize: 40, ValSize: 250, TestSize: 250}}}
	if err := c.Validate(); err != nil || c.Classes() != 10 || c.ImageSize() != 28 || c.Steps(50, 2) != 20 {
		t.Fatalf("mnist: %v, %d classes, %d px, %d steps", err, c.Classes(), c.ImageSize(), c.Steps(50, 2))
	}
	// The phantom sizes are nested flags; the dataset is a flag too.
	for k, v := range map[string]string{"dataset": "phantom", "phantom.train_size": "60"} {
		if err := experiment.Set(&c, k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Validate(); err != nil || c.Classes() != PhantomClasses || c.ImageSize() != 32 || c.Steps(20, 1) != 3 {
		t.Fatalf("phantom: %v, %d classes, %d px, %d steps", err, c.Classes(), c.ImageSize(), c.Steps(20, 1))
	}
	data, err := c.Data(20, 0)
	if err != nil {
		t.Fatal(err)
	}
	for b, err := range data.Train(0) {
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(b.Inputs[0].Shape().Dimensions, []int{20, 32, 32, 1}) || len(b.Labels) != 1 {
			t.Fatalf("phantom batch %s with %d labels", b.Inputs[0].Shape(), len(b.Labels))
		}
		_ = b.Finalize()
	}
	// Only the chosen dataset's sizes are checked; a bad dataset name or uneven evaluation is an error.
	c.TrainSize = 0
	if err := c.Validate(); err != nil {
		t.Errorf("unused mnist sizes rejected: %v", err)
	}
	c.Phantom.TestSize = 100
	if c.Validate() == nil {
		t.Error("phantom test size not a multiple of the evaluation batch accepted")
	}
	c.Dataset = "cifar"
	if c.Validate() == nil {
		t.Error("unknown dataset accepted")
	}
}
