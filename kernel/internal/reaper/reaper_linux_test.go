package reaper

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeKernelEnv makes the test binary play a kernel: start the guard, start a shell
// pipeline whose members are grandchildren, have the guard remove fakeSessionEnv's path
// when it is gone, report, and wait to be killed.
const (
	fakeKernelEnv  = "REAPER_TEST_FAKE_KERNEL"
	fakeSessionEnv = "REAPER_TEST_FAKE_SESSION"
)

func TestMain(m *testing.M) {
	if script := os.Getenv(fakeKernelEnv); script != "" {
		if err := StartGuard(); err != nil {
			fmt.Println("guard:", err)
			os.Exit(1)
		}
		if err := Start(exec.Command("bash", "-c", script)); err != nil {
			fmt.Println("start:", err)
			os.Exit(1)
		}
		if err := RemoveWhenGone(os.Getenv(fakeSessionEnv)); err != nil {
			fmt.Println("remove:", err)
			os.Exit(1)
		}
		fmt.Println("started")
		time.Sleep(time.Hour)
	}
	os.Exit(m.Run())
}

// marker returns a sleep duration no other process on the machine uses, so the test can
// find its processes by command line.
func marker() string { return strconv.Itoa(100000 + rand.IntN(800000)) }

// withArg lists the live processes whose command line contains arg.
func withArg(arg string) []int {
	var pids []int
	for _, p := range scan() {
		if p.zombie {
			continue
		}
		cl, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/cmdline")
		if err == nil && bytes.Contains(cl, []byte("\x00"+arg+"\x00")) {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func cleanup(t *testing.T, args ...string) {
	t.Cleanup(func() {
		for _, a := range args {
			for _, pid := range withArg(a) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
}

// TestKillEndsTheWholeTree: Kill ends a child, its background jobs, and a grandchild that
// moved to a session of its own.
func TestKillEndsTheWholeTree(t *testing.T) {
	a, b, c := marker(), marker(), marker()
	cleanup(t, a, b, c)
	cmd := exec.Command("bash", "-c", fmt.Sprintf("sleep %s & setsid sleep %s & sleep %s", a, b, c))
	if err := Start(cmd); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the three sleeps", func() bool { return len(withArg(a))+len(withArg(b))+len(withArg(c)) == 3 })
	Kill(cmd.Process.Pid)
	_ = cmd.Wait()
	for _, m := range []string{a, b, c} {
		if left := withArg(m); len(left) > 0 {
			t.Errorf("sleep %s survived Kill: %v", m, left)
		}
	}
}

// TestGuardKillsGrandchildrenOfAKilledKernel: SIGKILL a process that started the guard and
// a pipeline; Pdeathsig ends the shell, and the guard must end both ends of the pipeline,
// then remove the folder the kernel gave it.
func TestGuardKillsGrandchildrenOfAKilledKernel(t *testing.T) {
	a, b := marker(), marker()
	cleanup(t, a, b)
	session := filepath.Join(t.TempDir(), "session")
	if err := os.MkdirAll(filepath.Join(session, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(session, "tmp", "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fake := exec.Command(exe, "-test.run=^$")
	fake.Env = append(os.Environ(), fakeKernelEnv+"="+fmt.Sprintf("sleep %s | sleep %s", a, b), fakeSessionEnv+"="+session)
	var out bytes.Buffer
	fake.Stdout = &out
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both ends of the pipeline", func() bool { return len(withArg(a)) == 1 && len(withArg(b)) == 1 })
	if err := fake.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = fake.Wait()
	if !strings.Contains(out.String(), "started") { // read after Wait: its copier wrote it
		t.Fatalf("fake kernel said %q", out.String())
	}
	waitFor(t, "the pipeline to die with the kernel", func() bool { return len(withArg(a))+len(withArg(b)) == 0 })
	waitFor(t, "the guard to remove the session folder", func() bool {
		_, err := os.Stat(session)
		return errors.Is(err, fs.ErrNotExist)
	})
}

// TestRemoveWhenGoneWantsOneAbsolutePath: a relative path (whose meaning the guard cannot
// know) or one spanning lines (which would read as two requests) is refused.
func TestRemoveWhenGoneWantsOneAbsolutePath(t *testing.T) {
	for _, p := range []string{"relative/dir", "/tmp/a\nwatch 1"} {
		if err := RemoveWhenGone(p); err == nil {
			t.Errorf("RemoveWhenGone(%q) = nil, want an error", p)
		}
	}
}

// TestKillSparesOlderProcesses: a process started before this one is never a target, even
// when its process group matches (pid reuse cannot make Kill hit an unrelated process).
func TestKillSparesOlderProcesses(t *testing.T) {
	procs := scan()
	self := os.Getpid()
	since := startTime(self)
	parent := os.Getppid()
	ts := targets(procs, func(p proc) bool { return p.pid == parent }, nil, since)
	if ts[parent] {
		t.Errorf("the parent process (started before this one) is a target")
	}
	if ts[self] {
		t.Errorf("a sweep would kill its own process")
	}
}

// TestSweepNeverLeavesAProcessStopped: a process the sweep stopped that then stops matching
// (its parent died of a parent-death signal and it was re-parented out of the tree, in a
// session of its own, as gopls's telemetry child is) is killed all the same, not left
// stopped for ever.
func TestSweepNeverLeavesAProcessStopped(t *testing.T) {
	m := marker()
	cleanup(t, m)
	cmd := exec.Command("sleep", m)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	seen := 0
	// It matches on the first look only: as if it left the tree once stopped.
	sweep(func(p proc) bool {
		if p.pid != cmd.Process.Pid {
			return false
		}
		seen++
		return seen == 1
	}, nil, startTime(os.Getpid()))
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("sleep ended with %v, want killed by SIGKILL", err)
		}
	case <-time.After(10 * time.Second):
		p, _ := readProc(cmd.Process.Pid)
		t.Fatalf("the process the sweep stopped is still there 10 s later (%+v)", p)
	}
}
