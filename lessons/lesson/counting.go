package lesson

import (
	"fmt"
	"sync"

	"github.com/gomlx/compute"

	// The pure-Go backend: graphs built for counting need no XLA compilation.
	_ "github.com/gomlx/gomlx/backends/default"
)

// CountingBackend is the pure-Go backend, opened once. Lessons build graphs on it only to count
// their parameters and multiply-accumulates (nn.Measure) or to run a few exact checks on a
// handful of images: building there compiles nothing.
var CountingBackend = sync.OnceValues(func() (compute.Backend, error) {
	b, err := compute.NewWithConfig("go")
	if err != nil {
		return nil, fmt.Errorf("open the pure-Go backend: %w", err)
	}
	return b, nil
})
