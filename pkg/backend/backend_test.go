package backend

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// openedForTests keeps the backends tests open across resets, so that the XLA CPU client
// (a thread pool) is created once per test binary rather than once per test.
var openedForTests = map[string]compute.Backend{}

// reset gives a test a fresh package state with a fake GPU probe and captured log output,
// and restores the real state afterwards.
func reset(t *testing.T, gpu GPUInfo) *bytes.Buffer {
	t.Helper()
	oldState, oldProbe, oldLog, oldBanner := st, gpuProbe, logOutput, bannerOutput
	st = &state{opened: openedForTests, failed: map[string]error{}}
	gpuProbe = func() GPUInfo { return gpu }
	var log bytes.Buffer
	logOutput, bannerOutput = &log, &log
	t.Setenv(EnvBackend, "")
	t.Setenv(EnvQuiet, "")
	t.Cleanup(func() { st, gpuProbe, logOutput, bannerOutput = oldState, oldProbe, oldLog, oldBanner })
	return &log
}

var noGPU = GPUInfo{Present: false, Detail: "no NVIDIA GPU (fake probe)"}

// realCPUPlugin returns the installed CPU plugin or skips the test.
func realCPUPlugin(t *testing.T) string {
	t.Helper()
	path, searched := findPlugin(CPUPluginFile)
	if path == "" {
		t.Skipf("no %s in %v: run scripts/install-plugins.sh", CPUPluginFile, searched)
	}
	return path
}

// plusOne runs x+1 on b and returns the result, checking that b really computes.
func plusOne(t *testing.T, b compute.Backend, x []float32) []float32 {
	t.Helper()
	exec, err := graph.NewExec(b, func(x *graph.Node) *graph.Node { return graph.AddScalar(x, 1) })
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	out, err := exec.Call1(tensors.FromFlatDataAndDimensions(x, len(x)))
	if err != nil {
		t.Fatalf("exec on %s: %v", b.Name(), err)
	}
	return tensors.MustCopyFlatData[float32](out)
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func TestFindProjectRoot(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "go.mod"), "// comment\nmodule github.com/gostudy/gostudy\n\ngo 1.26\n", 0o644)
	deep := filepath.Join(root, "lessons", "swin", "cells")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := findProjectRoot(deep); got != "" {
		t.Errorf("without plugins/: findProjectRoot = %q, want none", got)
	}
	if err := os.Mkdir(filepath.Join(root, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := findProjectRoot(deep); got != root {
		t.Errorf("findProjectRoot(%s) = %q, want %q", deep, got, root)
	}

	other := t.TempDir()
	writeFile(t, filepath.Join(other, "go.mod"), "module example.com/other\n", 0o644)
	if err := os.Mkdir(filepath.Join(other, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := findProjectRoot(other); got != "" {
		t.Errorf("another module's plugins/ was taken: %q", got)
	}
}

func TestPluginsDirWalksUpFromWorkingDirectory(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "go.mod"), "module github.com/gostudy/gostudy\n", 0o644)
	if err := os.MkdirAll(filepath.Join(root, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(root, "notebooks", "out")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvPlugins, "")
	t.Chdir(sub)
	dir, how, err := PluginsDir()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.EvalSymlinks(filepath.Join(root, "plugins"))
	got, _ := filepath.EvalSymlinks(dir)
	if got != want || !strings.Contains(how, "working directory") {
		t.Errorf("PluginsDir = %q (%s), want %q found from the working directory", dir, how, want)
	}
}

func TestPluginsDirEnv(t *testing.T) {
	d := t.TempDir()
	t.Setenv(EnvPlugins, d)
	dir, how, err := PluginsDir()
	if err != nil || dir != d || how != "$"+EnvPlugins {
		t.Errorf("PluginsDir = %q, %q, %v; want %q from $%s", dir, how, err, d, EnvPlugins)
	}
	t.Setenv(EnvPlugins, filepath.Join(d, "missing"))
	if _, _, err := PluginsDir(); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("missing $%s: err = %v", EnvPlugins, err)
	}
}

func TestProbeGPUWithFakes(t *testing.T) {
	bin := t.TempDir()
	proc := filepath.Join(t.TempDir(), "driver", "nvidia")

	// A working nvidia-smi that lists one GPU.
	writeFile(t, filepath.Join(bin, "nvidia-smi"), "#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 580.65.06'\n", 0o755)
	g := probeGPU(filepath.Join(bin, "nvidia-smi"), proc)
	if !g.Present || !strings.Contains(g.Detail, "H100") || !strings.Contains(g.Detail, "580.65.06") {
		t.Errorf("working nvidia-smi: %+v", g)
	}

	// nvidia-smi present but failing (driver not loaded), no /proc entry: no GPU.
	writeFile(t, filepath.Join(bin, "nvidia-smi-broken"), "#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n", 0o755)
	g = probeGPU(filepath.Join(bin, "nvidia-smi-broken"), proc)
	if g.Present {
		t.Errorf("failing nvidia-smi and no %s: %+v", proc, g)
	}

	// No nvidia-smi at all but the kernel driver's /proc folder: a GPU, with the driver line.
	writeFile(t, filepath.Join(proc, "version"),
		"NVRM version: NVIDIA UNIX x86_64 Kernel Module  575.57.08  Sat May 24 2025\nGCC version: gcc 12\n", 0o644)
	g = probeGPU(filepath.Join(bin, "no-such-nvidia-smi"), proc)
	if !g.Present || !strings.Contains(g.Detail, "575.57.08") || strings.Contains(g.Detail, "GCC") {
		t.Errorf("/proc/driver/nvidia only: %+v", g)
	}
}

func TestAvailableWithFakes(t *testing.T) {
	plugins := t.TempDir()
	t.Setenv(EnvPlugins, plugins)

	reset(t, noGPU)
	got := Available()
	if len(got) != 3 || got[0].Name != CUDA || got[1].Name != CPU || got[2].Name != Go {
		t.Fatalf("Available order = %+v", got)
	}
	if got[0].Usable || !strings.Contains(got[0].Reason, "fake probe") {
		t.Errorf("no GPU: cuda = %+v", got[0])
	}
	if got[1].Usable || !strings.Contains(got[1].Reason, "install-plugins.sh") || !strings.Contains(got[1].Reason, plugins) {
		t.Errorf("empty plugins folder: cpu = %+v", got[1])
	}
	if !got[2].Usable {
		t.Errorf("go must always be usable: %+v", got[2])
	}

	// GPU present, both plugin files present: both XLA choices usable (files are not
	// loaded by Available).
	writeFile(t, filepath.Join(plugins, CPUPluginFile), "fake", 0o755)
	writeFile(t, filepath.Join(plugins, "cuda", "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so"), "fake", 0o755)
	if err := os.Symlink(filepath.Join("cuda", "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so"),
		filepath.Join(plugins, CUDAPluginFile)); err != nil {
		t.Fatal(err)
	}
	reset(t, GPUInfo{Present: true, Detail: "nvidia-smi: NVIDIA H200, 580.65.06"})
	got = Available()
	if !got[0].Usable || !strings.Contains(got[0].Detail, "xla_cuda13") || !strings.Contains(got[0].Detail, "H200") {
		t.Errorf("GPU + plugin: cuda = %+v", got[0])
	}
	if !got[1].Usable {
		t.Errorf("cpu = %+v", got[1])
	}

	// A dangling symlink (JAX uninstalled) is not a plugin.
	if err := os.RemoveAll(filepath.Join(plugins, "cuda")); err != nil {
		t.Fatal(err)
	}
	reset(t, GPUInfo{Present: true, Detail: "fake GPU"})
	if c := Available()[0]; c.Usable {
		t.Errorf("dangling cuda symlink counted as usable: %+v", c)
	}
}

func TestDefaultPicksXLACPUWithoutGPU(t *testing.T) {
	cpu := realCPUPlugin(t)
	log := reset(t, noGPU)
	t.Setenv(EnvPlugins, filepath.Dir(cpu))

	b, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "xla" {
		t.Fatalf("Default() = %s, want xla (CPU plugin installed, no GPU)", b.Name())
	}
	if got := plusOne(t, b, []float32{1, 2.5, -4}); got[0] != 2 || got[1] != 3.5 || got[2] != -3 {
		t.Errorf("x+1 on xla:cpu = %v", got)
	}
	b2 := MustDefault()
	if b2 != b {
		t.Errorf("Default is not cached: %p then %p", b, b2)
	}
	// One calm line: the backend and its device; the plugin's path and wheel are for
	// %backend.
	lines := strings.Count(log.String(), "gostudy: backend ")
	if lines != 1 || !strings.Contains(log.String(), "gostudy: backend xla:cpu on device cpu:0") ||
		strings.Contains(log.String(), "sha256") || strings.Contains(log.String(), cpu) {
		t.Errorf("want one short line naming xla:cpu and its device, got %d:\n%s", lines, log.String())
	}
	if os.Getenv(EnvNoAutoInstall) == "" {
		t.Errorf("$%s not set for child processes", EnvNoAutoInstall)
	}

	// glibc's malloc is tuned only when asked (GOSTUDY_MALLOC_TUNING=1 when the test binary
	// started): then XLA's per-step scratch block comes from the heap instead of a fresh
	// mmap; otherwise glibc keeps its default and large blocks are mapped.
	if os.Getenv("GLIBC_TUNABLES") == "" {
		if mapped, known := largeAllocIsMapped(); known && mapped != (os.Getenv(EnvMallocTuning) != "1") {
			t.Errorf("%s=%q: a 100 MB malloc mapped = %v", EnvMallocTuning, os.Getenv(EnvMallocTuning), mapped)
		}
	}

	d := Describe()
	for _, want := range []string{"active:   xla:cpu (automatic choice)", "PJRT C API v0.", cpu, "devices:  ", "0: cpu:0", "xla:cuda  no", "go        yes"} {
		if !strings.Contains(d, want) {
			t.Errorf("Describe() lacks %q:\n%s", want, d)
		}
	}
}

func TestUseSwitchesAndRejects(t *testing.T) {
	cpu := realCPUPlugin(t)
	reset(t, noGPU)
	t.Setenv(EnvPlugins, filepath.Dir(cpu))

	if err := Use(Go); err != nil {
		t.Fatal(err)
	}
	if got := Active(); got != Go {
		t.Fatalf("after Use(go): %s", got)
	}
	if got := plusOne(t, MustDefault(), []float32{41}); got[0] != 42 {
		t.Errorf("x+1 on go = %v", got)
	}
	if !strings.Contains(Describe(), "active:   go (chosen with backend.Use)") {
		t.Errorf("Describe after Use(go):\n%s", Describe())
	}

	// No GPU: xla:cuda is refused with the reason, and the go backend stays active.
	err := Use(CUDA)
	if err == nil || !strings.Contains(err.Error(), "fake probe") {
		t.Errorf("Use(xla:cuda) without GPU: err = %v", err)
	}
	if got := Active(); got != Go {
		t.Errorf("a failed Use changed the backend to %s", got)
	}
	if err := Use("tpu"); err == nil {
		t.Error("Use(tpu) succeeded")
	}

	if err := Use(CPU); err != nil {
		t.Fatal(err)
	}
	if got := Active(); got != CPU {
		t.Errorf("after Use(xla:cpu): %s", got)
	}
	// GoMLX's plain "xla" means the best XLA plugin: xla:cpu without a GPU.
	if err := Use("xla"); err != nil {
		t.Fatal(err)
	}
	if got := Active(); got != CPU {
		t.Errorf("after Use(xla): %s", got)
	}

	// GOMLX_BACKEND decides once Use returns to the default choice.
	t.Setenv(EnvBackend, Go)
	if err := Use(Auto); err != nil {
		t.Fatal(err)
	}
	if got := Active(); got != Go {
		t.Errorf("Use(auto) with $GOMLX_BACKEND=go: %s", got)
	}
}

func TestGOMLXBackendOverride(t *testing.T) {
	cpu := realCPUPlugin(t)
	reset(t, noGPU)
	t.Setenv(EnvPlugins, filepath.Dir(cpu))
	t.Setenv(EnvBackend, "go")
	MustDefault()
	if got := Active(); got != Go {
		t.Errorf("$GOMLX_BACKEND=go gave %s", got)
	}

	reset(t, noGPU)
	t.Setenv(EnvBackend, "xla:cuda")
	if _, err := Default(); err == nil || !strings.Contains(err.Error(), "GOMLX_BACKEND") {
		t.Errorf("$GOMLX_BACKEND=xla:cuda without GPU: err = %v", err)
	}
}

func TestBrokenCUDAPluginFallsBack(t *testing.T) {
	cpu := realCPUPlugin(t)
	plugins := t.TempDir()
	t.Setenv(EnvPlugins, plugins)
	// Not a shared object: dlopen fails, as it does when the NVIDIA libraries are missing.
	writeFile(t, filepath.Join(plugins, CUDAPluginFile), "not an ELF file", 0o755)
	if err := os.Symlink(cpu, filepath.Join(plugins, CPUPluginFile)); err != nil {
		t.Fatal(err)
	}
	log := reset(t, GPUInfo{Present: true, Detail: "fake GPU"})

	b, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "xla" || !strings.Contains(Describe(), "active:   xla:cpu") {
		t.Errorf("want fallback to xla:cpu, got %s:\n%s", b.Name(), Describe())
	}
	if !strings.Contains(log.String(), "xla:cuda could not be opened") {
		t.Errorf("the fallback was not reported:\n%s", log.String())
	}
	if c := Available()[0]; c.Usable || !strings.Contains(c.Reason, "failed to load") {
		t.Errorf("cuda after a failed load: %+v", c)
	}
}

func TestLoadablePath(t *testing.T) {
	p, err := loadablePath(CPU, "/work/main/plugins/pjrt_c_api_cpu_plugin.so")
	if err != nil || p != "/work/main/plugins/pjrt_c_api_cpu_plugin.so" {
		t.Errorf("plain CPU path: %q, %v", p, err)
	}
	// A Jetson's default user is "nvidia": go-xla would take the CPU plugin for CUDA.
	p, err = loadablePath(CPU, "/home/nvidia/gostudy/plugins/pjrt_c_api_cpu_plugin.so")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(filepath.Dir(p))
	if up := strings.ToUpper(p); strings.Contains(up, "NVIDIA") || !strings.Contains(up, "CPU") {
		t.Errorf("CPU plugin under /home/nvidia loads as %q", p)
	}
	if target, _ := os.Readlink(p); target != "/home/nvidia/gostudy/plugins/pjrt_c_api_cpu_plugin.so" {
		t.Errorf("symlink %s points to %q", p, target)
	}
	if _, err := loadablePath(CUDA, "/opt/cpu-box/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so"); err == nil {
		t.Error("a CUDA plugin path containing \"cpu\" was accepted")
	}
	if _, err := loadablePath(CUDA, "/opt/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so"); err != nil {
		t.Errorf("plain CUDA path: %v", err)
	}
}

func TestPrepareCUDAEnvForPipLayout(t *testing.T) {
	site := filepath.Join(t.TempDir(), "site-packages")
	plugin := filepath.Join(site, "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so")
	writeFile(t, plugin, "fake", 0o755)
	writeFile(t, filepath.Join(site, "nvidia", "cu13", "bin", "ptxas"), "#!/bin/sh\n", 0o755)
	t.Setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
	t.Setenv("GOPJRT_CUDA_CHECKS", "")
	os.Unsetenv("GOPJRT_CUDA_CHECKS")
	prepareCUDAEnv(plugin)
	want := "--xla_dump_to=/tmp/x --xla_gpu_cuda_data_dir=" + filepath.Join(site, "nvidia", "cu13")
	if got := os.Getenv("XLA_FLAGS"); got != want {
		t.Errorf("XLA_FLAGS = %q, want %q", got, want)
	}
	if got := os.Getenv("GOPJRT_CUDA_CHECKS"); got != "0" {
		t.Errorf("GOPJRT_CUDA_CHECKS = %q, want 0", got)
	}
	// A user's own data dir is kept.
	t.Setenv("XLA_FLAGS", "--xla_gpu_cuda_data_dir=/usr/local/cuda")
	prepareCUDAEnv(plugin)
	if got := os.Getenv("XLA_FLAGS"); got != "--xla_gpu_cuda_data_dir=/usr/local/cuda" {
		t.Errorf("user's XLA_FLAGS changed to %q", got)
	}
}

func TestExplainMaxPoolGradientOnGo(t *testing.T) {
	cpu := realCPUPlugin(t)
	reset(t, noGPU)
	t.Setenv(EnvPlugins, filepath.Dir(cpu))
	img := []float32{
		1, 5, 0, 2,
		3, 4, 7, 1,
		9, 0, 2, 2,
		1, 1, 3, 8,
	}
	run := func() ([]float32, error) {
		var out []float32
		err := Recover(func() error {
			exec, err := graph.NewExec(MustDefault(), func(x *graph.Node) *graph.Node {
				return graph.Gradient(graph.ReduceAllSum(graph.MaxPool(x).Window(2).Done()), x)[0]
			})
			if err != nil {
				return err
			}
			res, err := exec.Call1(tensors.FromFlatDataAndDimensions(img, 1, 4, 4, 1))
			if err != nil {
				return err
			}
			out = tensors.MustCopyFlatData[float32](res)
			return nil
		})
		return out, err
	}

	if err := Use(Go); err != nil {
		t.Fatal(err)
	}
	_, err := run()
	var un *UnsupportedOpError
	if !errors.As(err, &un) {
		t.Fatalf("max-pool gradient on go: want *UnsupportedOpError, got %T: %v", err, err)
	}
	if un.Op != "SelectAndScatterMax" || un.Backend != "go" || un.Instead != CPU {
		t.Errorf("UnsupportedOpError = %+v", un)
	}
	msg := err.Error()
	t.Logf("explained: %s", msg)
	for _, want := range []string{"SelectAndScatterMax", "MaxPool", `backend.Use("xla:cpu")`, "GOMLX_BACKEND=xla:cpu"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if !compute.IsNotImplemented(err) {
		t.Errorf("the explained error no longer wraps compute.ErrNotImplemented: %v", err)
	}

	// The suggested backend computes it: the gradient is 1 at each window's maximum.
	if err := Use(CPU); err != nil {
		t.Fatal(err)
	}
	got, err := run()
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{
		0, 1, 0, 0,
		0, 0, 1, 0,
		1, 0, 0, 0,
		0, 0, 0, 1,
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Fatalf("max-pool gradient on xla:cpu = %v, want %v", got, want)
		}
	}
}

func TestExplainLeavesOtherErrors(t *testing.T) {
	if Explain(nil) != nil {
		t.Error("Explain(nil) != nil")
	}
	plain := errors.New("shape mismatch: [2,3] vs [3,2]")
	if got := Explain(plain); got != plain {
		t.Errorf("Explain changed an unrelated error: %v", got)
	}
	err := Recover(func() error { panic("index out of range") })
	if err == nil || !strings.Contains(err.Error(), "index out of range") {
		t.Errorf("Recover of a plain panic: %v", err)
	}
	var un *UnsupportedOpError
	if errors.As(err, &un) {
		t.Errorf("a plain panic became %+v", un)
	}
}

func TestDefaultConcurrent(t *testing.T) {
	reset(t, noGPU)
	t.Setenv(EnvBackend, Go)
	got := make(chan compute.Backend, 8)
	for range 8 {
		go func() {
			_ = Describe()
			got <- MustDefault()
		}()
	}
	first := <-got
	for range 7 {
		if b := <-got; b != first {
			t.Fatalf("concurrent Default calls opened two backends: %p and %p", first, b)
		}
	}
	if Active() != Go {
		t.Errorf("Active() = %q", Active())
	}
}
