package protocol_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// jupyterPython finds a Python with jupyter_client: $GOSTUDY_PYTHON, else the project
// venv made by scripts/setup.sh.
func jupyterPython(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("GOSTUDY_PYTHON")}
	if dir, err := os.Getwd(); err == nil {
		for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				candidates = append(candidates, filepath.Join(d, ".venv", "bin", "python"))
				break
			}
		}
	}
	for _, py := range candidates {
		if py == "" {
			continue
		}
		if err := exec.Command(py, "-c", "import jupyter_client, zmq").Run(); err == nil {
			return py
		}
	}
	t.Skip("no Python with jupyter_client (set GOSTUDY_PYTHON or run scripts/setup.sh)")
	return ""
}

// TestJupyterClientInterop drives internal/echokernel with the real jupyter_client.
func TestJupyterClientInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("interop test builds a kernel and starts Python")
	}
	py := jupyterPython(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // deadlock guard
	defer cancel()
	bin := filepath.Join(t.TempDir(), "echokernel")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./internal/echokernel").CombinedOutput(); err != nil {
		t.Fatalf("build echokernel: %v\n%s", err, out)
	}
	cmd := exec.CommandContext(ctx, py, filepath.Join("internal", "echokernel", "interop.py"), bin)
	cmd.Env = append(os.Environ(), "JUPYTER_RUNTIME_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("interop.py output:\n%s", out)
	if err != nil {
		t.Fatalf("interop.py: %v", err)
	}
	if !strings.Contains(string(out), "interop ok") {
		t.Fatal("interop.py did not report success")
	}
	// The message signed with the wrong key was seen and dropped by the kernel.
	if !strings.Contains(string(out), `reason="bad signature"`) {
		t.Error("kernel log does not show the wrong-key message being dropped")
	}
}
