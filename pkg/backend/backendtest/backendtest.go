// Package backendtest gives tests the two compute backends they run on: the pure-Go backend,
// always there and, for tiny models, quicker than XLA (whose compilation dominates small
// runs), and gostudy's default XLA backend when the CPU plugin is installed.
//
// pkg/nn's tests use nntest instead, which runs each check on every backend at once.
package backendtest

import (
	"sync"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gostudy/gostudy/pkg/backend"

	// Registers the "go" and "xla" backends.
	_ "github.com/gomlx/gomlx/backends/default"
)

var goBackend = sync.OnceValues(func() (compute.Backend, error) { return compute.NewWithConfig(backend.Go) })

// Go returns the pure-Go backend, shared by every test of the binary; it fails the test if
// the backend cannot be created.
func Go(t testing.TB) compute.Backend {
	t.Helper()
	b, err := goBackend()
	if err != nil {
		t.Fatalf("go backend: %v", err)
	}
	return b
}

// XLA returns gostudy's default backend when it is XLA (the CPU plugin installed by
// scripts/setup.sh, or CUDA where chosen) and skips the test otherwise.
func XLA(t testing.TB) compute.Backend {
	t.Helper()
	b, err := backend.Default()
	if err != nil || b.Name() != "xla" {
		t.Skipf("no XLA backend here (%v); run scripts/setup.sh to install the CPU plugin", err)
	}
	return b
}
