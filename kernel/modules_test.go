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

// TestModuleLineKeepsRestoredRunner: a `!go mod` line that changes nothing the runner was
// built from keeps the runner (and the variables it holds) in a session restored from the
// session cache, as it does in one prepared from scratch. The session module's runner
// package is not in the cached toolchain state, so a restored session once compared against
// nothing, rebuilt the runner after every go get or go mod line, and lost all variables.
func TestModuleLineKeepsRestoredRunner(t *testing.T) {
	if testing.Short() {
		t.Skip("the engine builds real plugins; skipped in -short mode")
	}
	cacheDir := t.TempDir()
	var firstBin string
	for _, name := range []string{"from scratch", "restored"} {
		e, err := NewEngine(EngineOptions{RepoDir: repoDir(t), WorkDir: t.TempDir(), CacheDir: cacheDir})
		if err != nil {
			t.Fatal(err)
		}
		c := &cellRun{e: e, t: t}
		c.ok("kept := 5")
		// A session prepared from scratch ends up running its copy in the cache; a restored
		// one runs that same file (a build would have made a new one).
		bin := e.RunnerBinary()
		if firstBin == "" {
			firstBin = bin
		} else if bin != firstBin {
			t.Fatalf("the second session was not restored from the cache: it runs %s, not %s", bin, firstBin)
		}
		c.ok("!go mod edit -json")
		if got := e.RunnerBinary(); got != bin {
			t.Errorf("%s session: !go mod edit rebuilt the runner (%s, was %s)", name, got, bin)
		}
		if got := c.ok("kept").text(); got != "5" {
			t.Errorf("%s session: kept = %q after !go mod edit, want 5", name, got)
		}
		e.Close()
	}
}
