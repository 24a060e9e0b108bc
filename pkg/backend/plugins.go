package backend

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gostudy/gostudy/internal/checkout"
)

// ModulePath is the module whose go.mod marks the project root that holds plugins/.
const ModulePath = checkout.ModulePath

// Environment variables this package reads or sets.
const (
	// EnvPlugins names the plugins folder explicitly, skipping the search.
	EnvPlugins = "GOSTUDY_PLUGINS"
	// EnvPJRTPath is go-xla's list of folders searched for PJRT plugins.
	EnvPJRTPath = "PJRT_PLUGIN_LIBRARY_PATH"
	// EnvNoAutoInstall stops go-xla from downloading plugins from GitHub.
	EnvNoAutoInstall = "GOMLX_NO_AUTO_INSTALL"
	// EnvBackend is GoMLX's backend override ("go", "xla:cpu", "xla:cuda", ...).
	EnvBackend = "GOMLX_BACKEND"
	// EnvQuiet, when non-empty, stops the one-line backend report on stderr.
	EnvQuiet = "GOSTUDY_QUIET"
)

// Plugin file names inside the plugins folder, as go-xla names them.
const (
	CPUPluginFile  = "pjrt_c_api_cpu_plugin.so"
	CUDAPluginFile = "pjrt_c_api_cuda_plugin.so"
)

// PluginsDir returns the project-local plugins folder and how it was found. See the
// package documentation for the search order. It fails when no folder is found; the
// pure-Go backend still works then.
func PluginsDir() (dir, how string, err error) {
	if d := os.Getenv(EnvPlugins); d != "" {
		abs, err := filepath.Abs(d)
		if err != nil {
			return "", "", fmt.Errorf("resolve $%s=%q: %w", EnvPlugins, d, err)
		}
		if !isDir(abs) {
			return "", "", fmt.Errorf("$%s=%q is not a directory", EnvPlugins, d)
		}
		return abs, "$" + EnvPlugins, nil
	}
	var starts []struct{ dir, how string }
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, struct{ dir, how string }{wd, "walking up from the working directory"})
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		starts = append(starts, struct{ dir, how string }{filepath.Dir(exe), "walking up from the executable"})
	}
	// The source location is recorded at build time (absent with -trimpath); it finds the
	// project when a notebook cell or test binary runs from a temporary folder.
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, struct{ dir, how string }{filepath.Dir(file), "from gostudy's source location"})
	}
	for _, s := range starts {
		if root := findProjectRoot(s.dir); root != "" {
			return filepath.Join(root, "plugins"), s.how, nil
		}
	}
	return "", "", fmt.Errorf("no plugins/ folder found next to a go.mod of %s (set $%s or run scripts/install-plugins.sh)",
		ModulePath, EnvPlugins)
}

// findProjectRoot returns the gostudy checkout at or above dir when it holds a plugins/
// folder, else "".
func findProjectRoot(dir string) string {
	root, err := checkout.Find(dir)
	if err != nil || !isDir(filepath.Join(root, "plugins")) {
		return ""
	}
	return root
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// pluginSearchDirs lists, in order, the folders searched for plugin files: $GOSTUDY_PLUGINS
// (or the discovered project plugins/ folder) first, then the folders in the
// PJRT_PLUGIN_LIBRARY_PATH the user set before this package touched it, then go-xla's
// install folders.
func pluginSearchDirs() []string {
	var dirs []string
	if d, _, err := PluginsDir(); err == nil {
		dirs = append(dirs, d)
	}
	extra := filepath.SplitList(userPJRTPath)
	// go-xla's own installer puts plugins here (CUDA under nvidia/); honouring them lets
	// a GoMLX user's existing install work without copying.
	if home, err := os.UserHomeDir(); err == nil {
		extra = append(extra, filepath.Join(home, ".local", "lib", "go-xla"), filepath.Join(home, ".local", "lib", "go-xla", "nvidia"))
	}
	extra = append(extra, "/usr/local/lib/go-xla", "/usr/local/lib/go-xla/nvidia")
	for _, d := range extra {
		if d != "" && !containsString(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// findPlugin returns the absolute path of the named plugin file in the search folders, or
// "" and the folders searched.
func findPlugin(file string) (path string, searched []string) {
	searched = pluginSearchDirs()
	for _, d := range searched {
		p := filepath.Join(d, file)
		// os.Stat follows a symlink, so a dangling link to a removed JAX install does not count.
		if isFile(p) {
			abs, err := filepath.Abs(p)
			if err != nil {
				continue
			}
			return abs, searched
		}
	}
	return "", searched
}

// wheelInfo returns the line scripts/install-plugins.sh wrote next to a plugin naming the
// wheel it came from ("lammps-jax-pjrt-cpu==0.11.2 sha256:..."), or "".
func wheelInfo(pluginPath string) string {
	data, err := os.ReadFile(pluginPath + ".wheel")
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimSpace(line)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// GPUInfo says whether an NVIDIA GPU is present and how that was decided.
type GPUInfo struct {
	Present bool
	// Detail is what the probe saw: the nvidia-smi GPU line, the driver version, or why
	// no GPU was found.
	Detail string
}

// gpuProbe detects an NVIDIA GPU. It is a variable so that tests can substitute fakes
// for nvidia-smi and /proc/driver/nvidia.
var gpuProbe = func() GPUInfo { return probeGPU("nvidia-smi", "/proc/driver/nvidia") }

// probeGPU decides whether an NVIDIA GPU is present the way scripts/install-plugins.sh
// does: nvidia-smi runs and lists a GPU, or the kernel driver's /proc folder exists.
func probeGPU(nvidiaSMI, procDir string) GPUInfo {
	if path, err := exec.LookPath(nvidiaSMI); err == nil {
		cmd := exec.Command(path, "--query-gpu=name,driver_version", "--format=csv,noheader")
		out, err := runWithTimeout(cmd, 10*time.Second)
		line := strings.TrimSpace(firstLine(out))
		if err == nil && line != "" {
			return GPUInfo{Present: true, Detail: "nvidia-smi: " + line}
		}
	}
	if isDir(procDir) {
		detail := procDir + " exists"
		if data, err := os.ReadFile(filepath.Join(procDir, "version")); err == nil {
			detail += ": " + strings.TrimSpace(firstLine(data))
		}
		return GPUInfo{Present: true, Detail: detail}
	}
	return GPUInfo{Present: false, Detail: "no NVIDIA GPU (nvidia-smi lists none and " + procDir + " is missing)"}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

// runWithTimeout runs cmd and returns its stdout, killing it after d so that a hung
// driver cannot block the first Default call forever.
func runWithTimeout(cmd *exec.Cmd, d time.Duration) ([]byte, error) {
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.Bytes(), err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return out.Bytes(), fmt.Errorf("%s timed out after %s", cmd.Path, d)
	}
}
