// Package nntest holds helpers shared by the pkg/nn tests: the backends to run on, timm
// fixture loading, layout conversion and closeness checks.
//
// Tests run each check on the pure-Go backend (always available) and on XLA CPU when the PJRT
// CPU plugin is found, so a block is known to work on every backend a lesson may use. On a
// GPU machine, naming xla:cuda in $GOSTUDY_TEST_BACKENDS adds the CUDA backend (never chosen
// by default: the test command runs where there is no GPU).
package nntest

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gostudy/gostudy/internal/checkout"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gostudy/gostudy/pkg/backend"
	"github.com/gostudy/gostudy/pkg/safetensors"

	// Registers the "go" and "xla" backends.
	_ "github.com/gomlx/gomlx/backends/default"
)

// BackendsEnv restricts the test backends to a comma-separated list of names ("go", "xla:cpu",
// "xla:cuda"), which helps on a slow machine; unset means go and xla:cpu (go only under -short).
const BackendsEnv = "GOSTUDY_TEST_BACKENDS"

// pluginFile is the PJRT CPU plugin's file name, as scripts/setup.sh installs it under plugins/.
const pluginFile = "pjrt_c_api_cpu_plugin.so"

// Backend is a compute backend with the name tests report it by.
type Backend struct {
	Name string
	compute.Backend
}

var (
	backendsOnce sync.Once
	backends     []Backend
	backendsErr  []string
)

// repoRoot is the gostudy checkout holding the working directory (a test runs in its
// package's folder).
func repoRoot() (string, error) { return checkout.Find(checkout.Starts()...) }

// RepoRoot returns the repository root (the directory with go.mod), failing the test if none.
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// FindCPUPlugin returns the absolute path of the PJRT CPU plugin: the first one found in
// $PJRT_PLUGIN_LIBRARY_PATH, then in the repository's plugins/ folder; "" if none.
func FindCPUPlugin() string {
	var dirs []string
	if env := os.Getenv("PJRT_PLUGIN_LIBRARY_PATH"); env != "" {
		dirs = append(dirs, strings.Split(env, ":")...)
	}
	if root, err := repoRoot(); err == nil {
		dirs = append(dirs, filepath.Join(root, "plugins"))
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, pluginFile)
		if _, err := os.Stat(p); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				return abs
			}
		}
	}
	return ""
}

// wanted tells whether the backend name is to be tested: the ones $GOSTUDY_TEST_BACKENDS
// lists; by default go and xla:cpu, or only go under -short (the quick tier: XLA's
// compilation is most of the time of these small checks).
func wanted(name string) bool {
	env := os.Getenv(BackendsEnv)
	if env == "" {
		if testing.Short() {
			return name == "go"
		}
		return name != backend.CUDA
	}
	for _, n := range strings.Split(env, ",") {
		if strings.TrimSpace(n) == name {
			return true
		}
	}
	return false
}

// initBackends creates the backends once per test binary: creating an XLA client is slow and
// holds threads, so every test shares them.
func initBackends() {
	if wanted("xla:cpu") {
		if plugin := FindCPUPlugin(); plugin == "" {
			backendsErr = append(backendsErr, "xla:cpu skipped: "+pluginFile+" not found in $PJRT_PLUGIN_LIBRARY_PATH or plugins/")
		} else {
			// An absolute plugin path bypasses go-xla's search and its auto-install, which
			// would try to download at run time.
			b, err := compute.NewWithConfig("xla:" + plugin)
			if err != nil {
				backendsErr = append(backendsErr, fmt.Sprintf("xla:cpu skipped: %v", err))
			} else {
				backends = append(backends, Backend{Name: "xla:cpu", Backend: b})
			}
		}
	}
	if wanted(backend.CUDA) {
		// TF32 off (go-xla's option for dot products; NVIDIA_TF32_OVERRIDE=0 in the
		// environment does it for cuDNN convolutions): the fixtures' tolerances are float32's.
		if err := backend.Use(backend.CUDA + ",tf32=false"); err != nil {
			backendsErr = append(backendsErr, fmt.Sprintf("xla:cuda skipped: %v", err))
		} else if b, err := backend.Default(); err != nil {
			backendsErr = append(backendsErr, fmt.Sprintf("xla:cuda skipped: %v", err))
		} else {
			backends = append(backends, Backend{Name: backend.CUDA, Backend: b})
		}
	}
	if wanted("go") {
		b, err := compute.NewWithConfig("go")
		if err != nil {
			backendsErr = append(backendsErr, fmt.Sprintf("go backend failed: %v", err))
		} else {
			backends = append(backends, Backend{Name: "go", Backend: b})
		}
	}
}

// Backends returns the backends to test on, logging why one is missing. It fails the test if
// there is none at all.
func Backends(t testing.TB) []Backend {
	t.Helper()
	backendsOnce.Do(initBackends)
	for _, msg := range backendsErr {
		t.Log(msg)
	}
	if len(backends) == 0 {
		t.Fatalf("no backend available (%s=%q)", BackendsEnv, os.Getenv(BackendsEnv))
	}
	return backends
}

// ForEachBackend runs fn as a subtest per backend.
func ForEachBackend(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) { fn(t, b) })
	}
}

// LoadFixture reads a safetensors fixture under pkg/nn/testdata, given relative to the
// repository root's pkg/nn/testdata (e.g. "resnet/basic_s1.safetensors").
func LoadFixture(t testing.TB, rel string) *safetensors.File {
	t.Helper()
	path := filepath.Join(RepoRoot(t), "pkg", "nn", "testdata", rel)
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatalf("fixture missing or unreadable (regenerate with scripts/fixtures/*.py): %v", err)
	}
	return f
}

// FixturePath returns the absolute path of a file under pkg/nn/testdata.
func FixturePath(t testing.TB, rel string) string {
	t.Helper()
	return filepath.Join(RepoRoot(t), "pkg", "nn", "testdata", rel)
}

// NCHWToNHWC converts a float32 [B, C, H, W] tensor (PyTorch's layout) to [B, H, W, C].
func NCHWToNHWC(t testing.TB, x *tensors.Tensor) *tensors.Tensor {
	t.Helper()
	dims := x.Shape().Dimensions
	if len(dims) != 4 {
		t.Fatalf("NCHWToNHWC: want rank 4, got %s", x.Shape())
	}
	b, c, h, w := dims[0], dims[1], dims[2], dims[3]
	src := tensors.MustCopyFlatData[float32](x)
	dst := make([]float32, len(src))
	for ib := range b {
		for ic := range c {
			for ih := range h {
				for iw := range w {
					dst[((ib*h+ih)*w+iw)*c+ic] = src[((ib*c+ic)*h+ih)*w+iw]
				}
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(dst, b, h, w, c)
}

// MaxAbsDiff returns the largest |got-want| over two float32 tensors of equal shape; it fails
// the test when the shapes differ.
func MaxAbsDiff(t testing.TB, got, want *tensors.Tensor) float64 {
	t.Helper()
	if !got.Shape().Equal(want.Shape()) {
		t.Fatalf("shape mismatch: got %s, want %s", got.Shape(), want.Shape())
	}
	g := tensors.MustCopyFlatData[float32](got)
	w := tensors.MustCopyFlatData[float32](want)
	var m float64
	for i := range g {
		d := math.Abs(float64(g[i]) - float64(w[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = max(m, d)
	}
	return m
}

// AssertClose fails the test when any element of got differs from want by more than tol,
// and logs the largest difference either way so the margin is visible in -v output.
func AssertClose(t testing.TB, what string, got, want *tensors.Tensor, tol float64) {
	t.Helper()
	d := MaxAbsDiff(t, got, want)
	if d > tol {
		t.Errorf("%s: max |diff| = %.3g > tol %.1g", what, d, tol)
	} else {
		t.Logf("%s: max |diff| = %.3g (tol %.1g)", what, d, tol)
	}
}

// MaxAbs returns the largest absolute value of a float32 tensor, used to show a check is not
// trivially comparing near-zero outputs.
func MaxAbs(x *tensors.Tensor) float64 {
	var m float64
	for _, v := range tensors.MustCopyFlatData[float32](x) {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}
