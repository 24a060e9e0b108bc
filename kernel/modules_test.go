package kernel

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportFetchesMissingModule: a cell importing a package of a module the session does
// not have gets it (go get into the session's module, with a note) instead of failing with
// "missing go.sum entry … go mod download"; `!go mod …` lines run in the session's module;
// the project's go.mod and go.sum stay as they were. Needs the Go module proxy.
func TestImportFetchesMissingModule(t *testing.T) {
	if out, err := exec.Command("go", "env", "GOPROXY").Output(); err != nil || strings.TrimSpace(string(out)) == "off" {
		t.Skip("no module proxy (GOPROXY=off)")
	}
	repo := repoDir(t)
	modBefore, _ := os.ReadFile(filepath.Join(repo, "go.mod"))
	sumBefore, _ := os.ReadFile(filepath.Join(repo, "go.sum"))
	e := newTestEngine(t)
	c := &cellRun{e: e, t: t}
	c.ok("kept := 5")
	rec := c.ok("import \"github.com/dustin/go-humanize\"\n\nhumanize.Comma(1234567)")
	if got := rec.text(); got != `"1,234,567"` {
		t.Errorf("humanize.Comma(1234567) = %s, want \"1,234,567\"", got)
	}
	if s := rec.stderr.String(); !strings.Contains(s, "github.com/dustin/go-humanize") || !strings.Contains(s, "project's go.mod is unchanged") {
		t.Errorf("no note about the fetched module; stderr: %q", s)
	}
	// Later cells use it without fetching again; unrelated state survives unless the runner
	// had to be rebuilt (then the note says which variables were lost).
	if got := c.ok("humanize.Ordinal(3)").text(); got != `"3rd"` {
		t.Errorf("humanize.Ordinal(3) = %s", got)
	}
	rec = c.ok("!go mod edit -json")
	if !strings.Contains(rec.stdout.String(), `"Path": "gostudy.session"`) || !strings.Contains(rec.stdout.String(), "go-humanize") {
		t.Errorf("!go mod edit -json did not run in the session module:\n%s", rec.stdout.String())
	}
	modAfter, _ := os.ReadFile(filepath.Join(repo, "go.mod"))
	sumAfter, _ := os.ReadFile(filepath.Join(repo, "go.sum"))
	if string(modAfter) != string(modBefore) || string(sumAfter) != string(sumBefore) {
		t.Error("the project's go.mod or go.sum changed")
	}
}
