package kernel

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestCloseRacingCompletion: completion requests that arrive while the kernel shuts down
// do not make the session directory again. Before Close refused them, the directory came
// back after Close (with only complete/ in it and no kernel.pid), and no later kernel
// removed it.
func TestCloseRacingCompletion(t *testing.T) {
	e := newTestEngine(t)
	stop := repeatUntilStopped(2, func() { _, _, _, _ = e.CompletionFile("fmt.Pr", 6) })
	time.Sleep(50 * time.Millisecond)
	e.Close()
	time.Sleep(50 * time.Millisecond) // requests still arriving after the shutdown
	stop()
	if _, err := os.Stat(e.Dir()); !errors.Is(err, fs.ErrNotExist) {
		entries, _ := os.ReadDir(e.Dir())
		t.Errorf("session directory after Close: %v (entries %v)", err, entries)
	}
}

// TestCleanStaleSessions: a starting kernel removes the session directories of kernels that
// are gone, including those left without kernel.pid by a kernel killed while creating or
// removing its directory, and keeps those of live kernels and any it cannot judge yet.
func TestCleanStaleSessions(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead, live := strconv.Itoa(gone.Process.Pid), strconv.Itoa(os.Getpid())
	mk := func(name, pidFile string, age time.Duration) string {
		d := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Join(d, "complete"), 0o755); err != nil {
			t.Fatal(err)
		}
		if pidFile != "" {
			if err := os.WriteFile(filepath.Join(d, sessionPidFile), []byte(pidFile), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		old := time.Now().Add(-age)
		if err := os.Chtimes(d, old, old); err != nil {
			t.Fatal(err)
		}
		return d
	}
	removed := []string{
		mk("gostudy-session-"+dead+"-1", dead, 0),          // killed kernel
		mk("gostudy-session-"+dead+"-2", "", 0),            // killed while removing it
		mk("gostudy-session-3", dead, 0),                   // older naming, killed kernel
		mk("gostudy-session-4", "", orphanAge+time.Minute), // older naming, no kernel.pid, old
	}
	kept := []string{
		mk("gostudy-session-"+live+"-5", live, 0),
		mk("gostudy-session-"+live+"-6", "", 0), // being created or removed by a live kernel
		mk("gostudy-session-7", "", 0),          // older naming, no kernel.pid yet
		mk("gostudy-session-8", live, orphanAge+time.Minute),
	}
	cleanStaleSessions()
	for _, d := range removed {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s was not removed (%v)", filepath.Base(d), err)
		}
	}
	for _, d := range kept {
		if _, err := os.Stat(filepath.Join(d, "complete")); err != nil {
			t.Errorf("%s was touched: %v", filepath.Base(d), err)
		}
	}
}

// TestMakeSessionDir: the directory's name and kernel.pid both name this kernel, and
// removeSessionDir removes it.
func TestMakeSessionDir(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	d, err := makeSessionDir()
	if err != nil {
		t.Fatal(err)
	}
	if pid, ok := sessionOwner(d); !ok || pid != os.Getpid() {
		t.Errorf("owner of %s = %d, %v; want %d", d, pid, ok, os.Getpid())
	}
	if err := os.Remove(filepath.Join(d, sessionPidFile)); err != nil {
		t.Fatal(err)
	}
	if pid, ok := sessionOwner(d); !ok || pid != os.Getpid() {
		t.Errorf("owner of %s without kernel.pid = %d, %v; want %d from the name", d, pid, ok, os.Getpid())
	}
	if err := removeSessionDir(d); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after removeSessionDir: %v", err)
	}
}
