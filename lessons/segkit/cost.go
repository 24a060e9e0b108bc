package segkit

import (
	"fmt"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/nn"
)

// countingBackend builds graphs only to count them: the pure-Go backend does that without
// compiling anything (XLA would compile every network it is asked to count).
var countingBackend = sync.OnceValues(func() (compute.Backend, error) {
	b, err := compute.NewWithConfig("go")
	if err != nil {
		return nil, fmt.Errorf("open the go backend to count parameters: %w", err)
	}
	return b, nil
})

// Cost counts the parameters and multiply-accumulates of fn on one size×size grey image.
func Cost(fn nn.ModelFn, size int) (nn.Cost, error) {
	return lesson.Catch("count the network", func() (nn.Cost, error) {
		b, err := countingBackend()
		if err != nil {
			return nn.Cost{}, err
		}
		return nn.Measure(b, fn, shapes.Make(dtypes.Float32, 1, size, size, 1))
	})
}
