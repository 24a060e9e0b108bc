package backend

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
)

// Names of the backends gostudy chooses between; [Use] and GOMLX_BACKEND take them, with
// go-xla options appended after a comma where wanted ("xla:cuda,preallocate=true").
const (
	CUDA = "xla:cuda"
	CPU  = "xla:cpu"
	Go   = "go"
	// Auto, given to [Use], returns to the default choice (GOMLX_BACKEND, else automatic).
	Auto = "auto"
)

// Choice is one candidate backend and whether it can be used here.
type Choice struct {
	// Name is CUDA, CPU or Go.
	Name string
	// Usable is true when the backend's requirements were found (and, once tried, it loaded).
	Usable bool
	// Reason says why the backend is not usable; empty when it is.
	Reason string
	// Detail is what was found: the plugin file and, for CUDA, the GPU.
	Detail string
}

// active is the backend that Default returns and how it came to be chosen.
type active struct {
	config  string // what was opened: "xla:cpu", "xla:cuda,tf32=false", "go", ...
	how     string // "automatic", "$GOMLX_BACKEND", "backend.Use"
	backend compute.Backend
}

// state is the process-wide backend state; one mutex guards it so that Default, Use and
// Describe can be called from any goroutine (notebook cells run concurrently with widgets).
type state struct {
	mu sync.Mutex
	// opened keeps every backend created, by config: tensors hold references to their
	// backend, so a backend switched away from is kept alive, never finalized.
	opened map[string]compute.Backend
	// failed records backends the automatic choice tried and could not load.
	failed   map[string]error
	selected string // set by Use; "" means GOMLX_BACKEND or the automatic choice
	active   *active
	gpu      *GPUInfo // probed once per process
}

var (
	st      = &state{opened: map[string]compute.Backend{}, failed: map[string]error{}}
	envOnce sync.Once
	// userPJRTPath is PJRT_PLUGIN_LIBRARY_PATH as the user set it, before prepareEnv.
	userPJRTPath = os.Getenv(EnvPJRTPath)
	// logOutput receives warnings: a backend that could not be opened, a malloc setting
	// refused.
	logOutput io.Writer = os.Stderr
	// bannerOutput receives the one calm line naming each backend opened and its device: on
	// stdout, since it is information, not a problem (stderr shows as a red box in Jupyter).
	// The plugin's path, version and wheel are for %backend (Describe).
	bannerOutput io.Writer = os.Stdout
)

// prepareEnv switches go-xla's auto-installer off and exports the plugin folder for
// child processes. It runs once, before the first backend is opened.
func prepareEnv() {
	envOnce.Do(func() {
		disableAutoInstall()
		if _, ok := os.LookupEnv(EnvNoAutoInstall); !ok {
			_ = os.Setenv(EnvNoAutoInstall, "1")
		}
		if userPJRTPath == "" {
			if dir, _, err := PluginsDir(); err == nil {
				_ = os.Setenv(EnvPJRTPath, dir)
			}
		}
	})
}

// Default returns the backend for this process: the one chosen with [Use], else the one
// GOMLX_BACKEND names, else the first usable of xla:cuda, xla:cpu and go. It is opened on
// the first call and cached; it is safe to call from several goroutines.
func Default() (compute.Backend, error) {
	prepareEnv()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.active != nil && !st.active.backend.IsFinalized() {
		return st.active.backend, nil
	}
	a, err := st.resolve()
	if err != nil {
		return nil, err
	}
	st.active = a
	return a.backend, nil
}

// MustDefault is [Default] for code that cannot go on without a backend (notebook cells,
// examples); it panics with Default's error.
func MustDefault() compute.Backend {
	b, err := Default()
	if err != nil {
		panic(err)
	}
	return b
}

// Use switches the backend that later [Default] calls return: "go", "xla:cpu" or
// "xla:cuda" (optionally followed by go-xla options, "xla:cuda,preallocate=true"), or
// "auto" to return to the default choice. The backend is opened now, so an unusable choice
// fails here and leaves the current backend in place. Graphs and tensors made on the
// previous backend stay on it.
func Use(name string) error {
	prepareEnv()
	name = strings.TrimSpace(name)
	st.mu.Lock()
	defer st.mu.Unlock()
	if name == "" || name == Auto {
		st.selected = ""
		a, err := st.resolve()
		if err != nil {
			return fmt.Errorf("return to the default backend: %w", err)
		}
		st.active = a
		return nil
	}
	a, err := st.open(name, "chosen with backend.Use")
	if err != nil {
		return fmt.Errorf("switch backend to %q: %w", name, err)
	}
	st.selected = name
	st.active = a
	return nil
}

// Available lists the three candidates in order of preference, each with whether it can
// be used here and why not.
func Available() []Choice {
	prepareEnv()
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.available()
}

// Active names the backend Default returns now ("xla:cuda", "xla:cpu", "go", or the
// GOMLX_BACKEND name for others), or "" when none has been opened yet. It opens nothing.
func Active() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.active == nil {
		return ""
	}
	return canonicalName(st.active.config, st.active.backend)
}

// PluginInfo names the active backend's PJRT plugin for records and benchmark tables:
// "PJRT v0.115 from lammps-jax-pjrt-cpu==0.11.2 (...)", or "" when the active backend is
// not XLA or none is open yet. It opens nothing.
func PluginInfo() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.active == nil {
		return ""
	}
	path, version := pluginVersion(st.active.backend)
	if path == "" {
		return ""
	}
	info := "PJRT v" + version
	if w := strings.Fields(wheelInfo(path)); len(w) > 0 {
		info += " from " + w[0]
	}
	return info
}

// Describe reports the active backend (opening it if needed), its PJRT plugin's path and
// version, its devices and every candidate: what the kernel's %backend magic shows.
func Describe() string {
	b, err := Default()
	st.mu.Lock()
	defer st.mu.Unlock()
	var sb strings.Builder
	if err != nil {
		fmt.Fprintf(&sb, "active:   none: %v\n", err)
	} else {
		a := st.active
		fmt.Fprintf(&sb, "active:   %s (%s)\n", canonicalName(a.config, b), a.how)
		if path, version := pluginVersion(b); path != "" {
			fmt.Fprintf(&sb, "plugin:   %s (PJRT C API v%s)\n", path, version)
			if w := wheelInfo(path); w != "" {
				fmt.Fprintf(&sb, "          installed from %s\n", w)
			}
		}
		n := b.NumDevices()
		fmt.Fprintf(&sb, "devices:  %d\n", n)
		for i := 0; i < n; i++ {
			fmt.Fprintf(&sb, "          %d: %s\n", i, b.DeviceDescription(compute.DeviceNum(i)))
		}
	}
	if dir, how, err := PluginsDir(); err == nil {
		fmt.Fprintf(&sb, "plugins:  %s (found %s)\n", dir, how)
	} else {
		fmt.Fprintf(&sb, "plugins:  %v\n", err)
	}
	sb.WriteString("choices:\n")
	for _, c := range st.available() {
		mark, text := "yes", c.Detail
		if !c.Usable {
			mark, text = "no ", c.Reason
		}
		fmt.Fprintf(&sb, "  %-9s %s  %s\n", c.Name, mark, text)
	}
	return sb.String()
}

// resolve picks and opens the backend for Default; the caller holds st.mu.
func (s *state) resolve() (*active, error) {
	if s.selected != "" {
		return s.open(s.selected, "chosen with backend.Use")
	}
	if cfg := strings.TrimSpace(os.Getenv(EnvBackend)); cfg != "" {
		a, err := s.open(cfg, "from $"+EnvBackend)
		if err != nil {
			return nil, fmt.Errorf("$%s=%q: %w", EnvBackend, cfg, err)
		}
		return a, nil
	}
	var errs []error
	for _, c := range s.available() {
		if !c.Usable {
			continue
		}
		how := "automatic choice"
		if len(errs) > 0 {
			how += " after " + errs[len(errs)-1].Error()
		}
		a, err := s.open(c.Name, how)
		if err == nil {
			return a, nil
		}
		s.failed[c.Name] = err
		errs = append(errs, fmt.Errorf("%s failed", c.Name))
		fmt.Fprintf(logOutput, "gostudy: backend %s could not be opened, trying the next: %v\n", c.Name, err)
	}
	return nil, fmt.Errorf("no backend could be opened: %w", errors.Join(errs...))
}

// open creates (or returns the cached) backend for config and reports it once on stderr;
// the caller holds st.mu.
func (s *state) open(config, how string) (*active, error) {
	if b, ok := s.opened[config]; ok && !b.IsFinalized() {
		return &active{config: config, how: how, backend: b}, nil
	}
	name, options, _ := strings.Cut(config, ",")
	if options != "" {
		options = "," + options
	}
	var (
		b   compute.Backend
		err error
	)
	if name == "xla" || name == "xla:" {
		// GoMLX's "xla" means "the best plugin there is": here, the first usable of
		// xla:cuda and xla:cpu.
		name = CPU
		if c := s.available()[0]; c.Usable {
			name = CUDA
		}
		config = name + options
		if b, ok := s.opened[config]; ok && !b.IsFinalized() {
			return &active{config: config, how: how, backend: b}, nil
		}
	}
	switch name {
	case Go:
		b, err = gobackend.New(strings.TrimPrefix(options, ","))
	case CPU, CUDA:
		b, err = s.openXLA(name, options)
	default:
		// Anything else GOMLX_BACKEND accepts ("xla:/abs/plugin.so", "onnx", ...).
		b, err = newWithConfig(config)
	}
	if err != nil {
		return nil, err
	}
	s.opened[config] = b
	if os.Getenv(EnvQuiet) == "" {
		fmt.Fprintln(bannerOutput, banner(canonicalName(config, b), b))
	}
	return &active{config: config, how: how, backend: b}, nil
}

// openXLA loads the CPU or CUDA plugin from the plugin folders by its real path.
func (s *state) openXLA(name, options string) (compute.Backend, error) {
	if !xlaCompiledIn {
		return nil, fmt.Errorf("%s: %w", name, newXLAErr())
	}
	file := CPUPluginFile
	if name == CUDA {
		file = CUDAPluginFile
		if gpu := s.probeGPU(); !gpu.Present {
			return nil, fmt.Errorf("%s: %s", name, gpu.Detail)
		}
	}
	path, searched := findPlugin(file)
	if path == "" {
		return nil, fmt.Errorf("%s: no %s in %s: run scripts/install-plugins.sh",
			name, file, strings.Join(quoteAll(searched), ", "))
	}
	// The real path matters for CUDA: the plugin finds the NVIDIA libraries through an
	// RPATH relative to its own folder, and the loader takes $ORIGIN from the path it was
	// given, not from a symlink's target.
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("%s: resolve %s: %w", name, path, err)
	}
	real, err = loadablePath(name, real)
	if err != nil {
		return nil, err
	}
	if name == CUDA {
		prepareCUDAEnv(real)
	} else {
		tuneMallocForXLACPU()
	}
	return newXLAFromFile(real, options)
}

// newXLAErr is the error newXLAFromFile returns when XLA is not compiled in.
func newXLAErr() error {
	_, err := newXLAFromFile("", "")
	return err
}

// loadablePath returns a path go-xla will classify as the right kind of plugin. go-xla
// decides "is this CPU / CUDA" from substrings of the path it was given ("CPU"; "CUDA" or
// "NVIDIA"), and that choice changes how ops are lowered. A CPU plugin under, say,
// /home/nvidia/ is therefore loaded through a symlink in a private temporary folder (the
// CPU plugin needs no libraries next to it). A CUDA plugin cannot move (see openXLA), so a
// misleading path is an error that says what to rename.
func loadablePath(name, real string) (string, error) {
	up := strings.ToUpper(real)
	isCUDA := strings.Contains(up, "CUDA") || strings.Contains(up, "NVIDIA")
	isCPU := strings.Contains(up, "CPU")
	switch name {
	case CPU:
		if isCPU && !isCUDA {
			return real, nil
		}
		dir, err := os.MkdirTemp("", "gostudy-pjrt-")
		if err != nil {
			return "", fmt.Errorf("%s: make a folder for a plugin symlink: %w", name, err)
		}
		link := filepath.Join(dir, CPUPluginFile)
		if err := os.Symlink(real, link); err != nil {
			return "", fmt.Errorf("%s: symlink %s: %w", name, real, err)
		}
		up = strings.ToUpper(link)
		if strings.Contains(up, "CUDA") || strings.Contains(up, "NVIDIA") {
			return "", fmt.Errorf("%s: the temporary folder %s contains \"cuda\" or \"nvidia\", which go-xla would "+
				"take for a CUDA plugin; set TMPDIR elsewhere", name, dir)
		}
		return link, nil
	default: // CUDA
		if isCUDA && !isCPU {
			return real, nil
		}
		return "", fmt.Errorf("%s: go-xla would misjudge the plugin %s (its path must name \"cuda\" and not \"cpu\"); "+
			"move the install so that it does", name, real)
	}
}

// prepareCUDAEnv points XLA at the CUDA tools (ptxas, libdevice) of a pip-style install,
// where the NVIDIA packages sit in site-packages/nvidia next to jax_plugins/. go-xla looks
// for them only in <plugin>/../../nvidia (its own installer's layout) and warns otherwise,
// so its check is switched off when the pip layout is recognised.
func prepareCUDAEnv(realPlugin string) {
	site := filepath.Dir(filepath.Dir(filepath.Dir(realPlugin))) // .../site-packages
	nvidia := filepath.Join(site, "nvidia")
	if !isDir(nvidia) {
		return
	}
	if _, ok := os.LookupEnv("GOPJRT_CUDA_CHECKS"); !ok {
		_ = os.Setenv("GOPJRT_CUDA_CHECKS", "0")
	}
	flags := os.Getenv("XLA_FLAGS")
	if strings.Contains(flags, "--xla_gpu_cuda_data_dir") {
		return
	}
	for _, sub := range []string{"cu13", "cuda_nvcc"} {
		dir := filepath.Join(nvidia, sub)
		if isFile(filepath.Join(dir, "bin", "ptxas")) {
			_ = os.Setenv("XLA_FLAGS", strings.TrimSpace(flags+" --xla_gpu_cuda_data_dir="+dir))
			return
		}
	}
}

// probeGPU runs the GPU probe once per process; the caller holds st.mu.
func (s *state) probeGPU() GPUInfo {
	if s.gpu == nil {
		g := gpuProbe()
		s.gpu = &g
	}
	return *s.gpu
}

// available lists the candidates; the caller holds st.mu.
func (s *state) available() []Choice {
	gpu := s.probeGPU()
	var choices []Choice
	for _, name := range []string{CUDA, CPU} {
		c := Choice{Name: name}
		file := CPUPluginFile
		if name == CUDA {
			file = CUDAPluginFile
		}
		path, searched := findPlugin(file)
		switch {
		case !xlaCompiledIn:
			c.Reason = newXLAErr().Error()
		case name == CUDA && !gpu.Present:
			c.Reason = gpu.Detail
		case path == "":
			c.Reason = fmt.Sprintf("no %s in %s (run scripts/install-plugins.sh)", file, strings.Join(quoteAll(searched), ", "))
			if len(searched) == 0 {
				c.Reason = fmt.Sprintf("no plugins folder found (set $%s or run scripts/install-plugins.sh)", EnvPlugins)
			}
		case s.failed[name] != nil:
			c.Reason = "failed to load: " + s.failed[name].Error()
		default:
			c.Usable = true
			c.Detail = path
			if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
				c.Detail += " -> " + real
			}
			if name == CUDA {
				c.Detail += "; " + gpu.Detail
			}
		}
		choices = append(choices, c)
	}
	choices = append(choices, Choice{Name: Go, Usable: true,
		Detail: "pure Go, always available (slow; lacks a few ops such as the max-pool gradient)"})
	return choices
}

// canonicalName names an opened backend as gostudy does ("xla:cpu" rather than the
// plugin path go-xla records).
func canonicalName(config string, b compute.Backend) string {
	name, _, _ := strings.Cut(config, ",")
	switch name {
	case Go, CPU, CUDA:
		return name
	}
	if xb, ok := b.(interface{ IsCUDA() bool }); ok && xb.IsCUDA() {
		return CUDA
	}
	if xb, ok := b.(interface{ IsCPU() bool }); ok && xb.IsCPU() {
		return CPU
	}
	return b.Name()
}

// summary is the one-line description of an opened backend: plugin and devices.
// banner is the line shown when a backend is opened: the backend and its first device, how
// many devices there are, and where the details are.
func banner(name string, b compute.Backend) string {
	device := "no device"
	if n := b.NumDevices(); n > 0 {
		d, _, _ := strings.Cut(b.DeviceDescription(0), " [")
		device = "device " + strings.TrimSpace(d)
		if n > 1 {
			device += fmt.Sprintf(" (of %d)", n)
		}
	}
	return fmt.Sprintf("gostudy: backend %s on %s · %%backend for details", name, device)
}

// newWithConfig calls compute.NewWithConfig, which panics (rather than failing) on an
// unknown backend name.
func newWithConfig(config string) (b compute.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("open backend %q: %v", config, r)
		}
	}()
	b, err = compute.NewWithConfig(config)
	if err != nil {
		return nil, fmt.Errorf("open backend %q: %w", config, err)
	}
	return b, nil
}

func quoteAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
