package reaper

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// guardEnv, set to "1", makes a process started from the kernel's executable run as the
// guard (see init).
const guardEnv = "GOSTUDY_REAPER_GUARD"

// sweepTime bounds one sweep; processes that SIGKILL cannot end within it are stuck in the
// kernel and will die when they return.
const sweepTime = 5 * time.Second

// init turns this process into the guard when the kernel started it as one. The guard is
// the kernel's own executable run again (every binary that runs kernel sessions links this
// package), so there is no second program to install or to find.
func init() {
	if os.Getenv(guardEnv) == "1" {
		runGuard()
		os.Exit(0)
	}
}

// Prepare sets cmd to start in a session of its own (its session and process group ids are
// its pid) and to be killed when the kernel dies (Pdeathsig SIGKILL, unless cmd already
// names a parent-death signal). Call it before cmd.Start.
func Prepare(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setsid = true
	cmd.SysProcAttr.Setpgid = false // implied by Setsid; both together fail
	if cmd.SysProcAttr.Pdeathsig == 0 {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
}

var guard struct {
	once sync.Once
	mu   sync.Mutex
	w    *os.File // the pipe to the guard; nil when it could not start
	err  error
}

// StartGuard starts the guard process, once per process; later calls return the first
// call's error. Without a guard (it failed to start), children still die with the kernel
// through Pdeathsig, but their own children may not.
func StartGuard() error {
	guard.once.Do(func() {
		r, w, err := os.Pipe()
		if err != nil {
			guard.err = fmt.Errorf("reaper: pipe: %w", err)
			return
		}
		defer r.Close()
		cmd := exec.Command("/proc/self/exe")
		cmd.Env = append(os.Environ(), guardEnv+"=1")
		cmd.Stdin = r
		cmd.Stderr = os.Stderr
		// Its own session keeps terminal signals away. No Pdeathsig: the guard must outlive
		// the kernel; it ends at end of file on the pipe, which only the kernel holds open.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			w.Close()
			guard.err = fmt.Errorf("reaper: start guard: %w", err)
			return
		}
		go func() { _ = cmd.Wait() }() // reaps it if it ever exits first
		guard.w = w
	})
	return guard.err
}

// Watch tells the guard about a started child: if the kernel dies, the child's session,
// process group and descendants are killed. It does nothing when no guard runs.
func Watch(pid int) {
	guard.mu.Lock()
	defer guard.mu.Unlock()
	if guard.w == nil {
		return
	}
	if _, err := fmt.Fprintf(guard.w, "%d\n", pid); err != nil {
		fmt.Fprintf(os.Stderr, "gostudy: the process guard stopped (%v); children of a killed kernel may survive\n", err)
		guard.w.Close()
		guard.w = nil
	}
}

// Kill kills the process pid, every process in its session or process group, and all
// their descendants, and returns once they are gone (or after a few seconds). Processes
// started before this one are never touched, so a reused pid cannot hit an unrelated
// process.
func Kill(pid int) {
	since := startTime(os.Getpid())
	sweep(func(p proc) bool { return p.pid == pid || p.pgid == pid || p.sid == pid }, nil, since)
}

// KillDescendants kills every descendant of this process (the runner, on its way out).
func KillDescendants() {
	self := os.Getpid()
	sweep(func(proc) bool { return false }, []int{self}, startTime(self))
}

// BecomeSubreaper makes this process the child subreaper of its descendants: orphans
// re-parent to it instead of to init, so KillDescendants finds them.
func BecomeSubreaper() error {
	if err := prctl(prSetChildSubreaper, 1); err != nil {
		return fmt.Errorf("reaper: PR_SET_CHILD_SUBREAPER: %w", err)
	}
	return nil
}

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER from <linux/prctl.h> (the syscall package
// does not name it).
const prSetChildSubreaper = 36

func prctl(option, arg uintptr) error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, option, arg, 0); errno != 0 {
		return errno
	}
	return nil
}

// proc is one process as /proc describes it.
type proc struct {
	pid, ppid, pgid, sid int
	start                uint64 // clock ticks after boot
	zombie               bool
}

// readProc reads /proc/<pid>/stat.
func readProc(pid int) (proc, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return proc{}, false
	}
	// The command name is in parentheses and may itself contain spaces or parentheses.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return proc{}, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 {
		return proc{}, false
	}
	p := proc{pid: pid, zombie: f[0] == "Z" || f[0] == "X"}
	p.ppid, _ = strconv.Atoi(f[1])
	p.pgid, _ = strconv.Atoi(f[2])
	p.sid, _ = strconv.Atoi(f[3])
	p.start, _ = strconv.ParseUint(f[19], 10, 64)
	return p, true
}

func startTime(pid int) uint64 {
	p, _ := readProc(pid)
	return p.start
}

// scan lists every process.
func scan() []proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	out := make([]proc, 0, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

// targets are the live processes that match, or descend from one that does or from one of
// parents, started at or after since, not counting this process.
func targets(procs []proc, match func(proc) bool, parents []int, since uint64) map[int]bool {
	self := os.Getpid()
	children := map[int][]proc{}
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p)
	}
	out := map[int]bool{}
	var todo []proc
	add := func(p proc) {
		if p.pid == self || p.start < since || out[p.pid] {
			return
		}
		out[p.pid] = true
		todo = append(todo, p)
	}
	for _, p := range procs {
		if match(p) {
			add(p)
		}
	}
	for _, pid := range parents {
		for _, c := range children[pid] {
			add(c)
		}
	}
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		for _, c := range children[p.pid] {
			add(c)
		}
	}
	for _, p := range procs {
		if out[p.pid] && p.zombie {
			delete(out, p.pid) // already dead; its parent (or init) reaps it
		}
	}
	return out
}

// sweep stops every target, looks again until no new one appears (a stopped process cannot
// fork, so the set is complete), then kills them all, and repeats until none is left.
func sweep(match func(proc) bool, parents []int, since uint64) {
	deadline := time.Now().Add(sweepTime)
	stopped := map[int]bool{}
	for time.Now().Before(deadline) {
		ts := targets(scan(), match, parents, since)
		if len(ts) == 0 {
			return
		}
		fresh := false
		for pid := range ts {
			if !stopped[pid] {
				stopped[pid] = true
				fresh = true
				_ = syscall.Kill(pid, syscall.SIGSTOP)
			}
		}
		if fresh {
			continue
		}
		for pid := range ts {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runGuard is the guard process: it collects child ids from standard input until end of
// file, then kills what is left of them.
func runGuard() {
	// Only the end of the pipe ends the guard; a signal meant for the kernel's group or a
	// terminal must not.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	since := startTime(os.Getppid())
	var mu sync.Mutex
	ids := map[int]bool{}
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil && pid > 0 {
				mu.Lock()
				ids[pid] = true
				mu.Unlock()
			}
		}
	}()
	// Forget ids that no process carries any more, before the pid can be reused by an
	// unrelated process: pids are handed out in sequence, so reuse takes a wrap-around.
	prune := time.NewTicker(2 * time.Second)
	defer prune.Stop()
	match := func(p proc) bool { return ids[p.pid] || ids[p.pgid] || ids[p.sid] }
	for {
		select {
		case <-prune.C:
			// Only ids known before the scan may be pruned: one that arrives during it
			// belongs to a process the scan may have missed.
			mu.Lock()
			known := make([]int, 0, len(ids))
			for id := range ids {
				known = append(known, id)
			}
			mu.Unlock()
			live := map[int]bool{}
			for _, p := range scan() {
				if p.start >= since {
					live[p.pid], live[p.pgid], live[p.sid] = true, true, true
				}
			}
			mu.Lock()
			for _, id := range known {
				if !live[id] {
					delete(ids, id)
				}
			}
			mu.Unlock()
		case <-eof:
			mu.Lock()
			defer mu.Unlock()
			sweep(match, nil, since)
			return
		}
	}
}
