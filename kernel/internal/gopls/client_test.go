package gopls

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// guard is a deadlock guard: the first request waits for gopls to load the module,
// which takes seconds on a busy 2-core machine.
const guard = 3 * time.Minute

// goplsPath finds gopls: $GOSTUDY_GOPLS, the project's .bin/gopls (installed by
// scripts/setup.sh), or PATH.
func goplsPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GOSTUDY_GOPLS"); p != "" {
		return p
	}
	if dir, err := os.Getwd(); err == nil {
		for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				if p := filepath.Join(d, ".bin", "gopls"); fileExists(p) {
					return p
				}
				break
			}
		}
	}
	if p, err := exec.LookPath("gopls"); err == nil {
		return p
	}
	t.Skip("gopls not found: install it with `GOBIN=$PWD/.bin go install golang.org/x/tools/gopls@v0.23.0` or set GOSTUDY_GOPLS")
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// tempModule writes a one-package module and returns its directory.
func tempModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":    "module example.com/cells\n\ngo 1.26\n",
		"helper.go": "package main\n\n// Greeting is what the cells print.\nconst Greeting = \"hi\"\n",
		"main.go":   "package main\n\nfunc main() {}\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func labels(cs []Completion) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Label
	}
	return out
}

func find(cs []Completion, label string) *Completion {
	for i := range cs {
		if cs[i].Label == label {
			return &cs[i]
		}
	}
	return nil
}

// TestGopls runs one gopls for all checks: starting it is the expensive part.
func TestGopls(t *testing.T) {
	bin := goplsPath(t)
	dir := tempModule(t)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	logs := &recorder{}
	c, err := Start(ctx, bin, dir, nil, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	pid := c.cmd.Process.Pid
	closed := false
	defer func() {
		if !closed {
			c.Close()
		}
	}()

	t.Run("CompleteFmtPr", func(t *testing.T) {
		src := "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Pr\n}\n"
		off := strings.Index(src, "fmt.Pr") + len("fmt.Pr")
		cs, err := c.Complete(ctx, "main.go", []byte(src), off)
		if err != nil {
			t.Fatal(err)
		}
		p := find(cs, "Println")
		if p == nil {
			t.Fatalf("Println not among %v", labels(cs))
		}
		if p.Kind != "function" || p.InsertText != "Println" {
			t.Errorf("Println candidate = %+v", *p)
		}
		if got := src[p.ReplaceStart:p.ReplaceEnd]; got != "Pr" {
			t.Errorf("replaced text = %q, want \"Pr\"", got)
		}
		for _, l := range labels(cs) {
			if !strings.HasPrefix(strings.ToLower(l), "pr") {
				// gopls ranks fuzzy matches; every fmt candidate for "Pr" starts so.
				t.Errorf("unexpected candidate %q", l)
			}
		}
	})

	t.Run("HoverPrintln", func(t *testing.T) {
		src := "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(Greeting)\n}\n"
		off := strings.Index(src, "Println") + 2
		doc, err := c.Hover(ctx, "main.go", []byte(src), off)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(doc, "func fmt.Println(a ...any) (n int, err error)") ||
			!strings.Contains(doc, "Println formats using the default formats") {
			t.Errorf("hover = %q", doc)
		}
		// The module's own declarations are visible too.
		off = strings.Index(src, "Greeting") + 1
		doc, err = c.Hover(ctx, "main.go", []byte(src), off)
		if err != nil || !strings.Contains(doc, "Greeting is what the cells print.") {
			t.Errorf("hover on Greeting = %q, %v", doc, err)
		}
		// Nothing to say about indentation.
		doc, err = c.Hover(ctx, "main.go", []byte(src), strings.Index(src, "\tfmt"))
		if err != nil || doc != "" {
			t.Errorf("hover on indentation = %q, %v", doc, err)
		}
	})

	t.Run("NonASCIIBeforeCursor", func(t *testing.T) {
		// Multi-byte text earlier on the same line: a byte-for-UTF-16 mix-up would put
		// the cursor several characters too far right.
		src := "package main\n\nimport \"strings\"\n\nfunc main() {\n\ts := \"héllo 😀 世界\"; _ = strings.Has\n\t_ = s\n}\n"
		off := strings.Index(src, "strings.Has") + len("strings.Has")
		cs, err := c.Complete(ctx, "main.go", []byte(src), off)
		if err != nil {
			t.Fatal(err)
		}
		p := find(cs, "HasPrefix")
		if p == nil || find(cs, "HasSuffix") == nil {
			t.Fatalf("HasPrefix/HasSuffix not among %v", labels(cs))
		}
		if got := src[p.ReplaceStart:p.ReplaceEnd]; got != "Has" {
			t.Errorf("replaced text = %q, want \"Has\"", got)
		}
		// Hover after non-ASCII text on the same line.
		src2 := "package main\n\nimport \"strings\"\n\nvar x = \"😀😀\" + strings.ToUpper(\"ü\")\n"
		off = strings.Index(src2, "ToUpper") + 3
		doc, err := c.Hover(ctx, "main.go", []byte(src2), off)
		if err != nil || !strings.Contains(doc, "func strings.ToUpper(s string) string") {
			t.Errorf("hover on ToUpper = %q, %v", doc, err)
		}
	})

	t.Run("OtherFileAndCancel", func(t *testing.T) {
		// A file that does not exist on disk: gopls works from the content sent.
		src := "package main\n\nfunc cell() { _ = Gree }\n"
		off := strings.Index(src, "Gree") + len("Gree")
		cs, err := c.Complete(ctx, filepath.Join(dir, "cell_2.go"), []byte(src), off)
		if err != nil {
			t.Fatal(err)
		}
		if find(cs, "Greeting") == nil {
			t.Errorf("Greeting not among %v", labels(cs))
		}
		done, stop := context.WithCancel(ctx)
		stop()
		if _, err := c.Complete(done, "main.go", []byte(src), off); err == nil {
			t.Errorf("Complete with a cancelled context succeeded")
		}
	})

	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	closed = true
	if strings.Contains(logs.String(), "killing") {
		t.Errorf("gopls ignored shutdown/exit and had to be killed:\n%s", logs)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Errorf("gopls (pid %d) still exists after Close", pid)
	}
	if left := processesInGroup(t, pid); len(left) > 0 {
		t.Errorf("processes left in gopls's group after Close: %v", left)
	}
	if _, err := c.Complete(context.Background(), "main.go", []byte("package main\n"), 0); err == nil {
		t.Errorf("Complete after Close succeeded")
	}
}

// recorder collects log output.
type recorder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.b.Write(p)
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.b.String()
}

// processesInGroup lists the pids whose process group is pgid (Linux /proc).
func processesInGroup(t *testing.T, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the parenthesized command: state ppid pgrp ...
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 2 && fields[2] == strconv.Itoa(pgid) {
			out = append(out, pid)
		}
	}
	return out
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(context.Background(), "/nonexistent/gopls", t.TempDir(), nil, nil); err == nil {
		t.Error("Start with a missing binary succeeded")
	}
	if _, err := Start(context.Background(), "gopls", filepath.Join(t.TempDir(), "missing"), nil, nil); err == nil {
		t.Error("Start with a missing module dir succeeded")
	}
}

func TestCloseBeforeReady(t *testing.T) {
	bin := goplsPath(t)
	c, err := Start(context.Background(), bin, tempModule(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := c.cmd.Process.Pid
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Errorf("gopls (pid %d) still exists after Close", pid)
	}
}
