package slurm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gostudy/gostudy/pkg/ablation"
)

// TaskState is what Slurm says about one array task.
type TaskState struct {
	// State is Slurm's job state: PENDING, RUNNING, COMPLETED, CANCELLED, FAILED, TIMEOUT,
	// PREEMPTED, OUT_OF_MEMORY, NODE_FAIL, ... ("" when Slurm no longer knows the task).
	State string
	// Detail is squeue's reason (why pending) or sacct's exit code ("1:0", "0:15").
	Detail string
	// Source is the command that reported it: "squeue" or "sacct".
	Source string
}

// Active reports whether the task is queued, running or about to run again: a run it
// trains must not be submitted a second time.
func (s TaskState) Active() bool {
	switch s.State {
	case "", "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE",
		"OUT_OF_MEMORY", "SPECIAL_EXIT", "REVOKED":
		return false
	}
	return true
}

// States maps "<job id>_<run>" to the task's state.
type States map[string]TaskState

// Runner runs squeue and sacct; nil means exec.CommandContext (tests substitute fakes).
type Runner func(ctx context.Context, name string, args ...string) *exec.Cmd

func (r Runner) output(ctx context.Context, name string, args ...string) (string, error) {
	var cmd *exec.Cmd
	if r != nil {
		cmd = r(ctx, name, args...)
	} else {
		cmd = exec.CommandContext(ctx, name, args...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Query asks Slurm for the state of every task of jobs: squeue for the tasks the controller
// still holds (queued, running, and finished ones for a few minutes, MinJobAge), then sacct
// for the others when the cluster keeps accounting. A task neither knows has State "".
func Query(ctx context.Context, run Runner, jobs []*Job) (States, error) {
	states := States{}
	if len(jobs) == 0 {
		return states, nil
	}
	ours := map[string]bool{}
	var ids []string
	for _, j := range jobs {
		ours[j.ID] = true
		ids = append(ids, j.ID)
	}
	// Filtering by user rather than by job id: squeue fails outright when asked for a job
	// id the controller has already forgotten.
	who := strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	out, err := run.output(ctx, "squeue", "--noheader", "--array", "--states=all", "--user="+who,
		"--format=%F|%K|%T|%r")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) != 4 || !ours[f[0]] {
			continue
		}
		states[f[0]+"_"+f[1]] = TaskState{State: baseState(f[2]), Detail: f[3], Source: "squeue"}
	}
	var unknown bool
	for _, j := range jobs {
		for _, r := range j.Runs {
			if _, ok := states[j.Task(r)]; !ok {
				unknown = true
			}
		}
	}
	if !unknown {
		return states, nil
	}
	// Without accounting (no slurmdbd) sacct fails; the tasks it would have named stay unknown.
	out, err = run.output(ctx, "sacct", "--noheader", "--parsable2", "--allocations",
		"--jobs="+strings.Join(ids, ","), "--format=JobID,State,ExitCode")
	if err != nil {
		return states, nil
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) != 3 {
			continue
		}
		job, task, ok := strings.Cut(f[0], "_")
		if !ok || !ours[job] {
			continue
		}
		if _, err := strconv.Atoi(task); err != nil {
			continue // a pending remainder such as 123_[4-9]
		}
		if _, seen := states[f[0]]; !seen {
			states[f[0]] = TaskState{State: baseState(f[1]), Detail: "exit " + f[2], Source: "sacct"}
		}
	}
	return states, nil
}

// baseState drops what sacct appends to a state ("CANCELLED by 0").
func baseState(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), " ")
	return s
}

// InFlight returns the runs that a task of jobs is queued for or training, with the task.
func InFlight(jobs []*Job, states States) map[int]string {
	out := map[int]string{}
	for _, j := range jobs {
		for _, r := range j.Runs {
			if states[j.Task(r)].Active() {
				out[r] = j.Task(r)
			}
		}
	}
	return out
}

// Wait polls Slurm every interval until no task of jobs is queued or running. report, when
// set, is called after each poll with the number of active tasks.
func Wait(ctx context.Context, run Runner, jobs []*Job, interval time.Duration, report func(active int)) error {
	for {
		states, err := Query(ctx, run, jobs)
		if err != nil {
			return err
		}
		active := len(InFlight(jobs, states))
		if report != nil {
			report(active)
		}
		if active == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// Annotate adds to each missing run of table the last task that tried to train it: its
// Slurm state and log file (or that no submission included the run).
func Annotate(table *ablation.Table, jobs []*Job, states States) {
	for i := range table.Rows {
		for k := range table.Rows[i].Missing {
			m := &table.Rows[i].Missing[k]
			j := Latest(jobs, m.Index)
			if j == nil {
				m.Note = "not submitted to Slurm yet"
				continue
			}
			st := states[j.Task(m.Index)]
			state := st.State
			if state == "" {
				state = "state unknown to Slurm now"
			}
			if st.Detail != "" && st.Detail != "None" {
				state += " (" + st.Detail + ")"
			}
			log := j.Log(m.Index)
			if _, err := os.Stat(log); err != nil {
				log += " (absent: the task never started, or its node cannot write to the runs folder)"
			}
			m.Note = fmt.Sprintf("Slurm task %s %s; log %s", j.Task(m.Index), state, log)
		}
	}
}

// Latest is the last of jobs (oldest first, as [Jobs] returns them) that included run, or nil.
func Latest(jobs []*Job, run int) *Job {
	var last *Job
	for _, j := range jobs {
		if slices.Contains(j.Runs, run) {
			last = j
		}
	}
	return last
}

// LogTail returns the last n lines of a task's log ("" when there is none).
func LogTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
