// Package kernelspec installs a Jupyter kernel specification: the kernels/<name>
// directory of a Jupyter data directory, holding kernel.json and the logos frontends
// show in their launchers.
package kernelspec

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
)

// Name, DisplayName, Language and InterruptMode describe the gostudy kernel.
const (
	Name          = "gostudy"
	DisplayName   = "Go (gostudy)"
	Language      = "go"
	InterruptMode = "message"
)

// Spec is a kernel specification (the fields of kernel.json, plus the kernel's
// directory name).
type Spec struct {
	// Name is the kernel's directory name, what `jupyter kernelspec list` shows and
	// notebooks record in their metadata.
	Name        string
	DisplayName string
	Language    string
	// Argv starts the kernel; Jupyter replaces "{connection_file}" with the path of the
	// connection file.
	Argv []string
	Env  map[string]string
	// InterruptMode is "signal" (SIGINT) or "message" (interrupt_request on control);
	// empty leaves Jupyter's default, "signal".
	InterruptMode string
	Metadata      map[string]any
}

// Gostudy returns the gostudy kernel's spec, started by argv.
func Gostudy(argv []string) Spec {
	return Spec{
		Name:          Name,
		DisplayName:   DisplayName,
		Language:      Language,
		Argv:          argv,
		InterruptMode: InterruptMode,
	}
}

// kernelJSON is the on-disk form of Spec.
type kernelJSON struct {
	Argv          []string          `json:"argv"`
	DisplayName   string            `json:"display_name"`
	Language      string            `json:"language"`
	InterruptMode string            `json:"interrupt_mode,omitempty"`
	Env           map[string]string `json:"env,omitempty"`
	Metadata      map[string]any    `json:"metadata,omitempty"`
}

// Jupyter accepts kernel names made of ASCII letters, digits, '.', '_' and '-'.
var validName = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// Validate reports what would make the spec unusable by Jupyter.
func (s Spec) Validate() error {
	var errs []error
	if !validName.MatchString(s.Name) {
		errs = append(errs, fmt.Errorf("kernel name %q: use letters, digits, '.', '_' or '-'", s.Name))
	}
	if s.DisplayName == "" {
		errs = append(errs, errors.New("display name is empty"))
	}
	if s.Language == "" {
		errs = append(errs, errors.New("language is empty"))
	}
	if len(s.Argv) == 0 || s.Argv[0] == "" {
		errs = append(errs, errors.New("argv is empty"))
	}
	switch s.InterruptMode {
	case "", "signal", "message":
	default:
		errs = append(errs, fmt.Errorf("interrupt mode %q: want \"signal\" or \"message\"", s.InterruptMode))
	}
	return errors.Join(errs...)
}

// logoFiles are the logos frontends show for the kernel: "Go" over a 4×4 grid of tensor
// cells shaded like a small feature map, on a dark rounded square. JupyterLab uses the SVG;
// the PNGs (32 and 64 pixels, Jupyter's names) serve the classic notebook and other front
// ends.
//
//go:embed logo/logo-svg.svg logo/logo-32x32.png logo/logo-64x64.png
var logoFiles embed.FS

// Install writes kernel.json and the logos (logo-32x32.png, logo-64x64.png,
// logo-svg.svg) into <dataDir>/kernels/<spec.Name>, replacing a previous install, and
// returns that directory.
func Install(dataDir string, spec Spec) (string, error) {
	if err := spec.Validate(); err != nil {
		return "", fmt.Errorf("install kernel spec: %w", err)
	}
	dir := filepath.Join(dataDir, "kernels", strings.ToLower(spec.Name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("install kernel spec: %w", err)
	}
	kj, err := json.MarshalIndent(kernelJSON{
		Argv:          spec.Argv,
		DisplayName:   spec.DisplayName,
		Language:      spec.Language,
		InterruptMode: spec.InterruptMode,
		Env:           spec.Env,
		Metadata:      spec.Metadata,
	}, "", "  ")
	if err != nil {
		return "", fmt.Errorf("install kernel spec: encode kernel.json: %w", err)
	}
	files := map[string][]byte{"kernel.json": append(kj, '\n')}
	logos, err := fs.ReadDir(logoFiles, "logo")
	if err != nil {
		return "", fmt.Errorf("install kernel spec: %w", err)
	}
	for _, l := range logos {
		if files[l.Name()], err = fs.ReadFile(logoFiles, "logo/"+l.Name()); err != nil {
			return "", fmt.Errorf("install kernel spec: %w", err)
		}
	}
	for name, data := range files {
		if err := writeFileAtomic(filepath.Join(dir, name), data); err != nil {
			return "", fmt.Errorf("install kernel spec: %w", err)
		}
	}
	return dir, nil
}

// writeFileAtomic replaces path in one rename, so a frontend listing kernels while we
// install never reads half a kernel.json.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// UserDataDir returns Jupyter's per-user data directory, following jupyter_core:
// $JUPYTER_DATA_DIR if set; with $JUPYTER_PLATFORM_DIRS set, the platformdirs
// location; otherwise ~/Library/Jupyter on macOS, %APPDATA%\jupyter on Windows, and
// $XDG_DATA_HOME/jupyter (default ~/.local/share/jupyter) elsewhere.
func UserDataDir() (string, error) {
	if d := os.Getenv("JUPYTER_DATA_DIR"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("jupyter data dir: %w", err)
	}
	// jupyter_core resolves symlinks in the home directory.
	if real, err := filepath.EvalSymlinks(home); err == nil {
		home = real
	}
	xdg := func() string {
		if x := os.Getenv("XDG_DATA_HOME"); x != "" {
			return filepath.Join(x, "jupyter")
		}
		return filepath.Join(home, ".local", "share", "jupyter")
	}
	if envSet("JUPYTER_PLATFORM_DIRS") {
		switch runtime.GOOS {
		case "darwin":
			return filepath.Join(home, "Library", "Application Support", "jupyter"), nil
		case "windows":
			if d := os.Getenv("LOCALAPPDATA"); d != "" {
				return filepath.Join(d, "jupyter"), nil
			}
			return filepath.Join(home, "AppData", "Local", "jupyter"), nil
		}
		return xdg(), nil
	}
	switch runtime.GOOS {
	case "darwin":
		return filepath.Join(home, "Library", "Jupyter"), nil
	case "windows":
		if d := os.Getenv("APPDATA"); d != "" {
			return filepath.Join(d, "jupyter"), nil
		}
		return filepath.Join(home, ".jupyter", "data"), nil
	}
	return xdg(), nil
}

// envSet mirrors jupyter_core's envset: set, and not a spelling of false.
func envSet(name string) bool {
	v, ok := os.LookupEnv(name)
	if !ok {
		return false
	}
	switch strings.ToLower(v) {
	case "no", "n", "false", "off", "0", "0.0":
		return false
	}
	return true
}
