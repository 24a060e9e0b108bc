package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gostudy/gostudy/pkg/ablation"
	"github.com/gostudy/gostudy/pkg/ablation/slurm"
)

// runSlurmTask is one array task: `gostudy ablate -plan FILE -task I`.
func runSlurmTask(ctx context.Context, f *ablateFlags) error {
	plan, err := slurm.LoadPlan(f.plan, progressPrinter(f.quiet))
	if err != nil {
		return err
	}
	if f.task >= len(plan.Runs) {
		return usagef("-task %d: plan %s has runs 0 to %d", f.task, f.plan, len(plan.Runs)-1)
	}
	return trainOne(ctx, plan, f.task)
}

// runSlurm submits the runs of plan that are neither done nor queued or running on Slurm as
// one job array and, with -wait or when nothing is left to train, collects the table. With
// -collect it submits nothing.
func runSlurm(ctx context.Context, plan *ablation.Plan, f *ablateFlags) error {
	_, noSlurm := exec.LookPath("sbatch")
	if noSlurm != nil && !f.collect {
		return slurm.ErrNoSbatch
	}
	jobs, err := slurm.Jobs(plan)
	if err != nil {
		return err
	}
	states := slurm.States{}
	if len(jobs) > 0 && noSlurm == nil {
		if states, err = slurm.Query(ctx, nil, jobs); err != nil {
			return fmt.Errorf("ask Slurm about this ablation's earlier jobs: %w", err)
		}
	}
	inFlight := slurm.InFlight(jobs, states)
	var todo []int
	for _, i := range plan.Pending() {
		if _, busy := inFlight[i]; !busy {
			todo = append(todo, i)
		}
	}
	if !f.collect && len(f.retrain) > 0 {
		runs, _ := plan.Select(f.retrain...) // checked in runAblate
		for _, i := range runs {
			if task, busy := inFlight[i]; busy {
				return fmt.Errorf("-retrain %s: Slurm task %s is training it now; scancel it first", plan.Describe(i), task)
			}
		}
		if err := plan.Reset(runs...); err != nil {
			return err
		}
		todo = mergeSorted(todo, runs)
	}
	if !f.collect && len(todo) > 0 {
		reportEarlierFailures(plan, jobs, states, todo)
		job, err := submit(ctx, plan, todo, f)
		if err != nil {
			return err
		}
		jobs = append(jobs, job)
		for _, i := range todo {
			inFlight[i] = job.Task(i)
		}
	}
	if len(inFlight) > 0 && !f.collect {
		if !f.wait {
			if len(todo) == 0 {
				fmt.Fprintf(os.Stderr, "gostudy ablate: nothing submitted: %d runs are queued or running (%s); "+
					"rerun this command after they end, or add -wait, to collect the table\n", len(inFlight), taskList(inFlight))
			} else if !f.quiet {
				fmt.Fprintf(os.Stderr, "rerun this command when the array has ended (or add -wait) to collect the table\n")
			}
			return nil
		}
		var active []*slurm.Job
		for _, j := range jobs {
			for _, r := range j.Runs {
				if task, ok := inFlight[r]; ok && task == j.Task(r) {
					active = append(active, j)
					break
				}
			}
		}
		last := -1
		err := slurm.Wait(ctx, nil, active, f.poll, func(n int) {
			if n != last && !f.quiet {
				fmt.Fprintf(os.Stderr, "waiting: %d tasks queued or running\n", n)
			}
			last = n
		})
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("stopped waiting (the array goes on; rerun to collect): %w", err)
			}
			return err
		}
		if states, err = slurm.Query(ctx, nil, jobs); err != nil {
			return err
		}
	}
	table, err := plan.Collect()
	if err != nil {
		return err
	}
	slurm.Annotate(table, jobs, states)
	err = finish(plan, table, f, nil)
	for _, m := range table.Missing() {
		if j := slurm.Latest(jobs, m.Index); j != nil {
			if tail := slurm.LogTail(j.Log(m.Index), 3); tail != "" {
				fmt.Fprintf(os.Stderr, "run %d, end of %s:\n%s\n", m.Index, j.Log(m.Index), indent(tail))
			}
		}
	}
	return err
}

// submit checks what can be checked from here and submits todo as one array.
func submit(ctx context.Context, plan *ablation.Plan, todo []int, f *ablateFlags) (*slurm.Job, error) {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return nil, fmt.Errorf("locate the gostudy binary for the nodes: %w", err)
	}
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return nil, fmt.Errorf("this gostudy is a temporary `go run` build (%s) that the nodes cannot run: "+
			"build it into a shared folder (go build -o .bin/gostudy ./cmd/gostudy) and run that", exe)
	}
	for _, p := range [][2]string{{"runs folder", f.dir}, {"gostudy binary", exe}} {
		warning, err := slurm.CheckShared(p[0], p[1])
		if err != nil {
			return nil, err
		}
		if warning != "" {
			fmt.Fprintf(os.Stderr, "WARNING %s\n", warning)
		}
	}
	job, err := slurm.Submit(ctx, plan, todo, slurm.SubmitOptions{Executable: exe, Sbatch: f.slurmOpts, MaxRunning: f.maxRunning})
	if err != nil {
		return job, err
	}
	if f.quiet {
		fmt.Println(job.ID)
	} else {
		fmt.Fprintf(os.Stderr, "submitted Slurm job array %s: %d of %d runs (array indices = run indices %s)\n"+
			"logs: %s\n", job.ID, len(todo), len(plan.Runs), slurm.Ranges(todo), job.Log(todo[0]))
		fmt.Printf("%s\n", job.ID)
	}
	return job, nil
}

// reportEarlierFailures lists the runs about to be submitted again because an earlier task
// ended without finishing them.
func reportEarlierFailures(plan *ablation.Plan, jobs []*slurm.Job, states slurm.States, todo []int) {
	for _, i := range todo {
		last := slurm.Latest(jobs, i)
		if last == nil {
			continue
		}
		st := states[last.Task(i)]
		state := st.State
		if state == "" {
			state = "ended (Slurm no longer knows how)"
		}
		fmt.Fprintf(os.Stderr, "run %d (%s): Slurm task %s %s without finishing it; log %s; submitting it again "+
			"(it resumes from its last checkpoint)\n", i, plan.Describe(i), last.Task(i), state, last.Log(i))
	}
}

func taskList(m map[int]string) string {
	var tasks []string
	for _, t := range m {
		tasks = append(tasks, t)
	}
	sort.Strings(tasks)
	if len(tasks) > 6 {
		tasks = append(tasks[:6], "...")
	}
	return strings.Join(tasks, " ")
}

func mergeSorted(a, b []int) []int {
	seen := map[int]bool{}
	var out []int
	for _, x := range append(append([]int(nil), a...), b...) {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Ints(out)
	return out
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
