package kernel

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gostudy/gostudy/kernel/internal/compiler"
)

// TestHelpWrapsAtWordBoundaries: %help fits the width and never breaks a word, and it
// lists every magic of the table.
func TestHelpWrapsAtWordBoundaries(t *testing.T) {
	for _, width := range []int{60, helpWidth} {
		text := helpText(width)
		for _, line := range strings.Split(text, "\n") {
			if utf8.RuneCountInString(line) > width {
				t.Errorf("width %d: line of %d runes: %q", width, utf8.RuneCountInString(line), line)
			}
		}
		words := map[string]bool{}
		for _, w := range strings.Fields(text) {
			words[w] = true
		}
		var texts []string
		for _, m := range magics {
			texts = append(texts, m.help)
			if !strings.Contains(text, "%"+m.name) {
				t.Errorf("%%help does not list %%%s", m.name)
			}
		}
		for _, s := range syntaxHelp {
			texts = append(texts, s.help)
		}
		for _, h := range texts {
			for _, w := range strings.Fields(h) {
				if !words[w] {
					t.Errorf("width %d: the word %q was broken or lost", width, w)
				}
			}
		}
	}
}

// TestMagicTableDrivesParsingAndCompletion: the parser, completion and dispatch all come
// from the one table.
func TestMagicTableDrivesParsingAndCompletion(t *testing.T) {
	if got := magicCompletions("%%w"); !slices.Equal(got, []string{"%%writefile"}) {
		t.Errorf("completions of %%%%w = %v", got)
	}
	if got := magicCompletions("%ti"); !slices.Equal(got, []string{"%time"}) {
		t.Errorf("completions of %%ti = %v", got)
	}
	for _, m := range magics {
		if m.run == nil {
			t.Errorf("%%%s has no handler", m.name)
		}
		if !m.line && m.cell == compiler.NotCellMagic {
			t.Errorf("%%%s can be written neither as a line nor as a cell magic", m.name)
		}
		p := cellSyntax.Parse("%%" + m.name + " args\nx := 1")
		if got := p.Magic != nil; got != (m.cell != compiler.NotCellMagic) {
			t.Errorf("%%%%%s parsed as a cell magic: %v", m.name, got)
		}
	}
	if p := cellSyntax.Parse("%%writefile f.txt\nnot Go {"); p.Magic == nil || p.Magic.Body != "not Go {" || p.Go != "" {
		t.Errorf("%%%%writefile parse = %+v", p)
	}
	if p := cellSyntax.Parse("%%time\nx := 1"); p.Magic == nil || !strings.Contains(p.Go, "x := 1") {
		t.Errorf("%%%%time parse = %+v", p)
	}
}

// TestGoflagsRacesNothing: %goflags replaces the session while other requests (completion,
// %vars, kernel_info's readiness) read it. Run with -race (scripts/test.sh does).
func TestGoflagsRacesNothing(t *testing.T) {
	// A checkout without go.mod: each session fails to prepare at once, no build is needed.
	e, err := NewEngine(EngineOptions{RepoDir: t.TempDir(), WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	stop := repeatUntilStopped(3, func() { readSession(e) })
	rec := &recorder{}
	for i := range 20 {
		if err := e.goflags("-tags=t"+strings.Repeat("x", i), rec); err != nil {
			t.Fatal(err)
		}
		if err := e.env("GOSTUDY_RACE_TEST=1", rec); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	if err := e.WaitReady(context.Background()); err == nil || !strings.Contains(err.Error(), "go.mod") {
		t.Errorf("session without go.mod prepared: %v", err)
	}
	if !strings.Contains(rec.stdout.String(), `GOFLAGS="-tags=txxx"`) {
		t.Errorf("%%goflags output %q", rec.stdout.String())
	}
}

// TestGoflagsRacesCachedSession is TestGoflagsRacesNothing with sessions that do prepare:
// from scratch, then from the session cache, each starting its runner early. %goflags
// replaces the session while other goroutines read what a restore, a cache save and go get
// change (the runner binary, readiness, variables, completion files, comms), a go mod line
// marks the module changed, and Close saves the last one. Run with -race (scripts/test.sh
// does). After each switch the runner that runs is the new session's, a restored session
// runs the cached runner binary, the runner binaries of replaced sessions do not pile up in
// the session directory, and Close removes that directory.
func TestGoflagsRacesCachedSession(t *testing.T) {
	cacheDir := t.TempDir()
	e, err := NewEngine(EngineOptions{RepoDir: repoDir(t), WorkDir: t.TempDir(), CacheDir: cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	stop := repeatUntilStopped(3, func() { readSession(e) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rec := &recorder{}
	// Two flag sets that change no build, so the second visit to each restores the first.
	flags := []string{"-tags=gostudy_race_a", "-tags=gostudy_race_b"}
	for i := range 4 {
		if err := e.goflags(flags[i%2], rec); err != nil {
			t.Fatal(err)
		}
		if err := e.WaitReady(ctx); err != nil {
			t.Fatalf("session %d (%s): %v", i, flags[i%2], err)
		}
		st := e.session()
		e.mu.Lock()
		rcSess := e.rcSess
		e.mu.Unlock()
		if rcSess != st {
			t.Errorf("session %d (%s): the runner that runs is not the session's", i, flags[i%2])
		}
		if bin := e.RunnerBinary(); i >= 2 && !strings.HasPrefix(bin, cacheDir+string(filepath.Separator)) {
			t.Errorf("session %d (%s) was not restored from the cache: runner %s", i, flags[i%2], bin)
		}
		// A go mod line changes the session's module state (what go get changes) while
		// the readers run.
		if err := e.Execute(ctx, i+1, "!go mod edit -json", &recorder{}); err != nil {
			t.Fatalf("session %d: !go mod edit: %v", i, err)
		}
	}
	stop()
	// The replaced sessions' runner binaries are gone from the session directory; only the
	// current session's may be there (when it rebuilt its runner after a module change).
	bins, _ := filepath.Glob(filepath.Join(e.Dir(), "*.runner.bin"))
	if bins = slices.DeleteFunc(bins, func(b string) bool { return b == e.RunnerBinary() }); len(bins) > 0 {
		t.Errorf("runner binaries of replaced sessions left in the session directory: %v", bins)
	}
	e.Close()
	if _, err := os.Stat(e.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("session directory after Close: %v", err)
	}
}

// readSession calls the Engine's methods that read the session, as the kernel's other
// requests (completion, %vars, kernel_info, comms) do while a cell runs %goflags.
func readSession(e *Engine) {
	_ = e.Ready()
	_ = e.Variables()
	_ = e.RunnerBinary()
	_ = e.Comms("")
	_, _, _, _ = e.CompletionFile("fmt.Pr", 6)
	_ = e.WaitReady(context.Background())
}

// repeatUntilStopped calls f over and over in n goroutines until stop is called; stop
// returns once they all returned.
func repeatUntilStopped(n int, f func()) (stop func()) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
					f()
				}
			}
		}()
	}
	return func() {
		close(done)
		wg.Wait()
	}
}
