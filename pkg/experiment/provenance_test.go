package experiment

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gostudy/gostudy/pkg/backend/backendtest"
)

// gitRepo makes a repository in a temporary folder with one committed file and returns the
// folder, the file and a function that runs git there.
func gitRepo(t *testing.T) (dir, file string, git func(args ...string) string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir = t.TempDir()
	git = func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t",
			"GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	file = filepath.Join(dir, "model.go")
	if err := os.WriteFile(file, []byte("package m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "model.go")
	git("commit", "-q", "-m", "first")
	return dir, file, git
}

// TestGitCommitFollowsEdits: the commit a record names is read when the record is made, so one
// long-lived process (the notebook kernel's runner) sees an edit and a commit made after its
// first run. GitCommit used to be computed once per process and kept saying the first commit.
func TestGitCommitFollowsEdits(t *testing.T) {
	dir, file, git := gitRepo(t)
	first := git("rev-parse", "HEAD")
	t.Chdir(dir)
	if got := GitCommit(); got != first {
		t.Fatalf("clean checkout: %q, want %q", got, first)
	}
	if err := os.WriteFile(file, []byte("package m\n\nconst edited = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := GitCommit(); got != first+"+dirty" {
		t.Errorf("after an edit: %q, want %q", got, first+"+dirty")
	}
	git("commit", "-q", "-am", "second")
	second := git("rev-parse", "HEAD")
	if got := GitCommit(); got != second || second == first {
		t.Errorf("after committing the edit: %q, want %q (first was %q)", got, second, first)
	}
	if got := GitCommitIn(t.TempDir()); got != "unknown" {
		t.Errorf("outside a repository: %q, want unknown", got)
	}
}

// TestSkipSaysWhenTheCodeMoved: a done run is found by its config and seed only; when the
// checkout has changed since it was trained, the skip event says so, and a restart records the
// code it was trained with.
func TestSkipSaysWhenTheCodeMoved(t *testing.T) {
	b := backendtest.Go(t)
	dir, file, _ := gitRepo(t)
	t.Chdir(dir)
	e := newBlobExperiment("stale")
	cfg := blobDefaults()
	cfg.Epochs = 1
	runs := t.TempDir()
	run := func(restart bool) (*Record, Event) {
		var skip Event
		rec, err := e.Run(context.Background(), cfg, Options{Dir: runs, Backend: b, Restart: restart,
			Progress: func(ev Event) {
				if ev.Kind == EventSkip {
					skip = ev
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		return rec, skip
	}
	first, _ := run(false)
	if strings.HasSuffix(first.GitCommit, "+dirty") || first.GitCommit == "unknown" {
		t.Fatalf("first run recorded %q, want the clean commit", first.GitCommit)
	}
	if _, skip := run(false); skip.Kind != EventSkip || skip.Detail != "" {
		t.Errorf("same code: skip %q with detail %q, want a silent skip", skip.Kind, skip.Detail)
	}
	if err := os.WriteFile(file, []byte("package m\n\nconst edited = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	again, skip := run(false)
	if again.GitCommit != first.GitCommit || !strings.Contains(skip.Detail, "trained at commit "+first.GitCommit[:12]) ||
		!strings.Contains(skip.Detail, "+dirty") {
		t.Errorf("after an edit: record %q, skip detail %q", again.GitCommit, skip.Detail)
	}
	restarted, _ := run(true)
	if restarted.GitCommit != first.GitCommit+"+dirty" {
		t.Errorf("restarted after the edit: recorded %q, want %q", restarted.GitCommit, first.GitCommit+"+dirty")
	}
}

func TestStaleCode(t *testing.T) {
	a, b := strings.Repeat("a", 40), strings.Repeat("b", 40)
	for _, c := range []struct {
		recorded, now, want string
	}{
		{a, a, ""},
		{a, "unknown", ""},
		{"", a, ""},
		{a, b, "trained at commit aaaaaaaaaaaa, the code is now at bbbbbbbbbbbb"},
		{a, a + "+dirty", "the code is now at aaaaaaaaaaaa+dirty"},
		{a + "+dirty", a + "+dirty", "uncommitted changes on aaaaaaaaaaaa+dirty, and there are uncommitted changes now"},
		{a + "+dirty", a, "trained at commit aaaaaaaaaaaa+dirty, the code is now at aaaaaaaaaaaa:"},
	} {
		got := StaleCode(c.recorded, c.now)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("StaleCode(%q, %q) = %q, want it to contain %q", c.recorded, c.now, got, c.want)
		}
	}
}
