package kernelspec

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestInstallGostudy(t *testing.T) {
	data := t.TempDir()
	spec := Gostudy([]string{"/opt/gostudy/bin/gostudy", "kernel", "--connection-file", "{connection_file}"})
	spec.Env = map[string]string{"GOMLX_BACKEND": "xla:cpu"}
	dir, err := Install(data, spec)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(data, "kernels", "gostudy"); dir != want {
		t.Errorf("Install returned %s, want %s", dir, want)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var kj map[string]any
	if err := json.Unmarshal(raw, &kj); err != nil {
		t.Fatalf("kernel.json does not parse: %v", err)
	}
	want := map[string]any{
		"display_name":   "Go (gostudy)",
		"language":       "go",
		"interrupt_mode": "message",
	}
	for k, v := range want {
		if kj[k] != v {
			t.Errorf("kernel.json %s = %v, want %v", k, kj[k], v)
		}
	}
	argv, _ := kj["argv"].([]any)
	if len(argv) != 4 || argv[3] != "{connection_file}" {
		t.Errorf("argv = %v", kj["argv"])
	}
	if env, _ := kj["env"].(map[string]any); env["GOMLX_BACKEND"] != "xla:cpu" {
		t.Errorf("env = %v", kj["env"])
	}
	if _, ok := kj["metadata"]; ok {
		t.Errorf("empty metadata written: %s", raw)
	}

	for name, size := range map[string]int{"logo-32x32.png": 32, "logo-64x64.png": 64} {
		f, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(f))
		if err != nil {
			t.Fatalf("%s is not a PNG: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
			t.Errorf("%s is %v, want %dx%d", name, b, size, size)
		}
		checkLogoPixels(t, name, img)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "logo-svg.svg"))
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		XMLName xml.Name
		Width   string `xml:"width,attr"`
		Text    string `xml:"text"`
	}
	if err := xml.Unmarshal(svg, &root); err != nil {
		t.Fatalf("logo-svg.svg is not XML: %v", err)
	}
	if root.XMLName.Local != "svg" || root.Width != "64" || root.Text != "Go" {
		t.Errorf("svg root = %+v", root)
	}
	for _, name := range []string{"logo-svg.svg", "logo-32x32.png", "logo-64x64.png"} {
		src, err := os.ReadFile(filepath.Join("logo", name))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, name)); !bytes.Equal(got, src) {
			t.Errorf("installed %s differs from logo/%s", name, name)
		}
	}

	// Installing again replaces the spec and leaves no temporary files.
	spec.DisplayName = "Go (gostudy, dev)"
	if _, err := Install(data, spec); err != nil {
		t.Fatal(err)
	}
	raw, _ = os.ReadFile(filepath.Join(dir, "kernel.json"))
	if !strings.Contains(string(raw), "Go (gostudy, dev)") {
		t.Errorf("reinstall did not replace kernel.json: %s", raw)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "kernel.json,logo-32x32.png,logo-64x64.png,logo-svg.svg" {
		t.Errorf("kernel dir holds %v", names)
	}
}

// checkLogoPixels checks the drawing, not just the format: transparent corners, an
// opaque body, and white letter pixels in the middle.
func checkLogoPixels(t *testing.T, name string, img image.Image) {
	t.Helper()
	n := img.Bounds().Dx()
	if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
		t.Errorf("%s: corner is not transparent (alpha %d)", name, a)
	}
	if _, _, _, a := img.At(n/2, n/10).RGBA(); a != 0xffff {
		t.Errorf("%s: body is not opaque", name)
	}
	white := 0
	for y := n / 4; y < 3*n/4; y++ {
		for x := n / 8; x < 7*n/8; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r > 0xf000 && g > 0xf000 && b > 0xf000 {
				white++
			}
		}
	}
	if frac := float64(white) / float64(n*n); frac < 0.05 || frac > 0.4 {
		t.Errorf("%s: %.2f of the pixels are letter white, want a visible \"Go\"", name, frac)
	}
}

func TestSpecValidation(t *testing.T) {
	good := Gostudy([]string{"gostudy", "kernel", "{connection_file}"})
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []Spec{
		func() Spec { s := good; s.Name = "go study"; return s }(),
		func() Spec { s := good; s.Name = ""; return s }(),
		func() Spec { s := good; s.Argv = nil; return s }(),
		func() Spec { s := good; s.DisplayName = ""; return s }(),
		func() Spec { s := good; s.Language = ""; return s }(),
		func() Spec { s := good; s.InterruptMode = "sigint"; return s }(),
	}
	for i, s := range bad {
		if _, err := Install(t.TempDir(), s); err == nil {
			t.Errorf("bad spec %d installed: %+v", i, s)
		}
	}
}

func TestUserDataDir(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the XDG rules checked here are Linux's")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("JUPYTER_DATA_DIR", "")
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("JUPYTER_PLATFORM_DIRS", "")
	os.Unsetenv("JUPYTER_PLATFORM_DIRS")
	realHome, _ := filepath.EvalSymlinks(home)
	check := func(want string) {
		t.Helper()
		got, err := UserDataDir()
		if err != nil || got != want {
			t.Errorf("UserDataDir = %q, %v; want %q", got, err, want)
		}
	}
	check(filepath.Join(realHome, ".local", "share", "jupyter"))
	t.Setenv("XDG_DATA_HOME", "/xdg/data")
	check("/xdg/data/jupyter")
	t.Setenv("JUPYTER_PLATFORM_DIRS", "1")
	check("/xdg/data/jupyter")
	t.Setenv("JUPYTER_DATA_DIR", "/custom/jupyter")
	check("/custom/jupyter")
}

// TestJupyterReadsSpec checks the installed spec with jupyter_client's own loader, when
// a Python with jupyter_client is available ($GOSTUDY_PYTHON or the project .venv).
func TestJupyterReadsSpec(t *testing.T) {
	py := os.Getenv("GOSTUDY_PYTHON")
	if py == "" {
		if wd, err := os.Getwd(); err == nil {
			py = filepath.Join(wd, "..", "..", ".venv", "bin", "python")
		}
	}
	if err := exec.Command(py, "-c", "import jupyter_client").Run(); err != nil {
		t.Skip("no Python with jupyter_client (set GOSTUDY_PYTHON or run scripts/setup.sh)")
	}
	data := t.TempDir()
	if _, err := Install(data, Gostudy([]string{"gostudy", "kernel", "{connection_file}"})); err != nil {
		t.Fatal(err)
	}
	script := `
import sys
from jupyter_client.kernelspec import KernelSpecManager
m = KernelSpecManager(kernel_dirs=[sys.argv[1]])
s = m.get_kernel_spec("gostudy")
assert s.display_name == "Go (gostudy)", s.display_name
assert s.language == "go", s.language
assert s.interrupt_mode == "message", s.interrupt_mode
assert s.argv[-1] == "{connection_file}", s.argv
import os
files = set(os.listdir(m.get_all_specs()["gostudy"]["resource_dir"]))
assert files >= {"logo-32x32.png", "logo-64x64.png", "logo-svg.svg"}, files
print("ok")
`
	out, err := exec.Command(py, "-c", script, filepath.Join(data, "kernels")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("jupyter_client rejects the spec: %v\n%s", err, out)
	}
}
