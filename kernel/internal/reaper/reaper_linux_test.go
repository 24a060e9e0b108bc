package reaper

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeKernelEnv makes the test binary play a kernel: start the guard, start a shell
// pipeline whose members are grandchildren, report, and wait to be killed.
const fakeKernelEnv = "REAPER_TEST_FAKE_KERNEL"

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
// a pipeline; Pdeathsig ends the shell, and the guard must end both ends of the pipeline.
func TestGuardKillsGrandchildrenOfAKilledKernel(t *testing.T) {
	a, b := marker(), marker()
	cleanup(t, a, b)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fake := exec.Command(exe, "-test.run=^$")
	fake.Env = append(os.Environ(), fakeKernelEnv+"="+fmt.Sprintf("sleep %s | sleep %s", a, b))
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
