package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/ablation"
	"github.com/gostudy/gostudy/pkg/experiment"
	// The example experiment; lessons register theirs the same way, by being imported.
	_ "github.com/gostudy/gostudy/pkg/experiment/digits"
)

func init() {
	commands["ablate"] = command{runAblate, "run an experiment over a config grid and seeds (here or on Slurm); print the results table"}
}

// ablateFlags are the flags of `gostudy ablate`.
type ablateFlags struct {
	grid, sets, retrain, slurmOpts listFlag

	seeds      int
	firstSeed  int64
	configFile string
	dir, out   string
	list       bool
	quiet      bool
	collect    bool

	task int
	plan string

	slurm      bool
	wait       bool
	poll       time.Duration
	maxRunning int
}

func newAblateFlags() (*flag.FlagSet, *ablateFlags) {
	fs := flag.NewFlagSet("ablate", flag.ContinueOnError)
	f := &ablateFlags{}
	fs.Var(&f.grid, "grid", "a grid axis `key=v1,v2,...` (repeatable; the first axis is the plot's x axis)")
	fs.Var(&f.sets, "set", "override one base config field, `key=value` (repeatable)")
	fs.IntVar(&f.seeds, "seeds", 1, fmt.Sprintf("seeds per grid point (1 to %d)", ablation.MaxSeeds))
	fs.Int64Var(&f.firstSeed, "first-seed", 0, "first seed (≥ 0)")
	fs.StringVar(&f.configFile, "config", "", "base config file (.json, .yaml)")
	fs.StringVar(&f.dir, "dir", lesson.RunsDir(), "runs directory (finished runs there are reused; notebooks use the same, see $"+lesson.EnvRuns+"; with -slurm, on a filesystem the nodes share)")
	fs.StringVar(&f.out, "out", "", "directory for results.csv, results.md and the SVG plots (default: under -dir)")
	fs.BoolVar(&f.list, "list", false, "list the registered experiments and exit")
	fs.BoolVar(&f.quiet, "q", false, "print only the table (with -slurm, when submitting: only the job id)")
	fs.Var(&f.retrain, "retrain", "discard a run and train it again: a run index, run dir, `config-id[/seed-N] or key=v,...,seed=N` (repeatable)")
	fs.BoolVar(&f.collect, "collect", false, "train and submit nothing: write the table of the runs done so far, listing the missing ones")
	fs.IntVar(&f.task, "task", -1, "train only run `I` of the grid (a Slurm array task; see -plan)")
	fs.StringVar(&f.plan, "plan", "", "with -task: the plan `file` a -slurm submission wrote (tasks read the grid from it)")
	fs.BoolVar(&f.slurm, "slurm", false, "submit the runs not done yet as one Slurm job array (sbatch) and exit")
	fs.Var(&f.slurmOpts, "slurm-opt", "an sbatch option for the array, e.g. `--partition=gpu` (repeatable)")
	fs.BoolVar(&f.wait, "wait", false, "with -slurm: wait for the array to end, then write the table")
	fs.DurationVar(&f.poll, "poll", 15*time.Second, "with -wait: how often to ask squeue")
	fs.IntVar(&f.maxRunning, "slurm-max-running", 0, "with -slurm: at most `N` tasks of the array at once (0: no cap)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: gostudy ablate <experiment> [-grid key=v1,v2]... [-seeds N] [flags]\n\n"+
			"Runs every grid point with every seed (runs already done under -dir are skipped, cut ones\n"+
			"resume), then writes and prints a table of the final metrics as mean ± std. With -slurm the\n"+
			"runs go to a Slurm job array instead (see docs/experiments.md).\n\nflags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nexperiments: %s\n", strings.Join(experiment.Names(), ", "))
	}
	return fs, f
}

// check rejects flag values out of range and flags that make no sense together.
func (f *ablateFlags) check(fs *flag.FlagSet) error {
	if err := checkRange("seeds", int64(f.seeds), 1, ablation.MaxSeeds); err != nil {
		return err
	}
	if err := checkRange("first-seed", f.firstSeed, 0, math.MaxInt64-ablation.MaxSeeds); err != nil {
		return err
	}
	if f.dir == "" {
		return usagef("-dir is empty")
	}
	if flagGiven(fs, "task") {
		if err := checkRange("task", int64(f.task), 0, math.MaxInt32); err != nil {
			return err
		}
	}
	if f.plan != "" && !flagGiven(fs, "task") {
		return usagef("-plan needs -task I (the run to train)")
	}
	if err := checkRange("slurm-max-running", int64(f.maxRunning), 0, math.MaxInt32); err != nil {
		return err
	}
	if f.poll < time.Second || f.poll > time.Hour {
		return usagef("-poll %v is out of range: want 1s to 1h", f.poll)
	}
	for _, name := range []string{"slurm-opt", "wait", "poll", "slurm-max-running"} {
		if flagGiven(fs, name) && !f.slurm {
			return usagef("-%s only applies with -slurm", name)
		}
	}
	for _, o := range f.slurmOpts {
		if !strings.HasPrefix(o, "-") {
			return usagef("-slurm-opt %q: want an sbatch option such as --partition=gpu", o)
		}
		if strings.HasPrefix(o, "--array") || strings.HasPrefix(o, "-a") {
			return usagef("-slurm-opt %q: gostudy sets the array itself (one task per run); use -slurm-max-running for %%N", o)
		}
	}
	modes := 0
	for _, on := range []bool{f.collect, flagGiven(fs, "task"), f.slurm && !f.collect} {
		if on {
			modes++
		}
	}
	if modes > 1 {
		return usagef("-task, -slurm and -collect are separate modes: give one (-slurm -collect collects with Slurm's view of the tasks)")
	}
	if len(f.retrain) > 0 && (f.collect || flagGiven(fs, "task")) {
		return usagef("-retrain trains: it does not go with -collect or -task")
	}
	return nil
}

// runAblate implements `gostudy ablate <experiment> -grid key=v1,v2 ... -seeds N`.
func runAblate(args []string) error {
	fs, f := newAblateFlags()
	name, err := parseWithPositional(fs, args)
	if err != nil {
		return err
	}
	if f.list {
		listExperiments()
		return nil
	}
	if err := f.check(fs); err != nil {
		return err
	}
	// Ctrl-C, scancel and a time limit (SIGTERM), and sbatch --signal's usual USR1/USR2 stop
	// training after the current step, with a checkpoint: the next identical command resumes
	// there.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGUSR2)
	defer stop()
	if f.plan != "" {
		return runSlurmTask(ctx, f)
	}
	if name == "" {
		fs.Usage()
		return usagef("missing the experiment name")
	}
	spec, err := f.spec(name)
	if err != nil {
		return err
	}
	plan, err := ablation.NewPlan(spec)
	if err != nil {
		return asUsage(err)
	}
	if len(f.retrain) > 0 {
		if _, err := plan.Select(f.retrain...); err != nil {
			return asUsage(fmt.Errorf("-retrain: %w", err))
		}
	}
	switch {
	case flagGiven(fs, "task"):
		if f.task >= len(plan.Runs) {
			return usagef("-task %d: this grid has runs 0 to %d", f.task, len(plan.Runs)-1)
		}
		return trainOne(ctx, plan, f.task)
	case f.slurm:
		return runSlurm(ctx, plan, f)
	case f.collect:
		table, err := plan.Collect()
		if err != nil {
			return err
		}
		return finish(plan, table, f, nil)
	}
	table, runErr := ablation.Run(ctx, spec)
	if table == nil || len(table.Rows) == 0 {
		return runErr
	}
	return finish(plan, table, f, runErr)
}

// spec builds the ablation spec from the flags.
func (f *ablateFlags) spec(name string) (ablation.Spec, error) {
	spec := ablation.Spec{Experiment: name, ConfigFile: f.configFile, Seeds: f.seeds, FirstSeed: f.firstSeed,
		Dir: f.dir, Set: map[string]string{}, Retrain: f.retrain}
	for _, s := range f.sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return spec, usagef("-set %q: want key=value", s)
		}
		spec.Set[strings.TrimSpace(k)] = v
	}
	for _, g := range f.grid {
		ax, err := ablation.ParseAxis(g)
		if err != nil {
			return spec, asUsage(err)
		}
		spec.Grid = append(spec.Grid, ax)
	}
	spec.Progress = progressPrinter(f.quiet)
	return spec, nil
}

// finish writes the table's files and prints it, then the missing runs; it returns runErr,
// or an error naming the missing runs when there are some.
func finish(plan *ablation.Plan, table *ablation.Table, f *ablateFlags, runErr error) error {
	outDir := f.out
	if outDir == "" {
		outDir = plan.ResultsDir()
	}
	files, err := table.WriteFiles(outDir)
	if err != nil {
		return errors.Join(runErr, err)
	}
	fmt.Print(table.Markdown())
	if !f.quiet {
		fmt.Fprintf(os.Stderr, "\nwrote %s, %s", files.CSV, files.Markdown)
		for _, m := range table.Metrics() {
			fmt.Fprintf(os.Stderr, ", %s", files.Plots[m])
		}
		fmt.Fprintln(os.Stderr)
	}
	if runErr != nil {
		return runErr
	}
	if missing := table.Missing(); len(missing) > 0 {
		return fmt.Errorf("%d of %d runs have no result (listed under the table); rerun to train them", len(missing), len(plan.Runs))
	}
	return nil
}

// trainOne trains run i of plan in this process: what an array task does.
func trainOne(ctx context.Context, plan *ablation.Plan, i int) error {
	host, _ := os.Hostname()
	task := ""
	if id := os.Getenv("SLURM_ARRAY_JOB_ID"); id != "" {
		task = fmt.Sprintf(" (Slurm task %s_%s)", id, os.Getenv("SLURM_ARRAY_TASK_ID"))
	}
	fmt.Fprintf(os.Stderr, "gostudy ablate: run %d of %d%s on %s: %s %s, run dir %s\n", i, len(plan.Runs), task, host,
		plan.Experiment.ExperimentName(), plan.Describe(i), plan.Runs[i].Dir)
	rec, err := plan.Train(ctx, i)
	if err != nil {
		return fmt.Errorf("run %d (%s): %w", i, plan.Describe(i), err)
	}
	fmt.Fprintf(os.Stderr, "gostudy ablate: run %d done on %s (%s): %s\n", i, rec.Backend, rec.Device, fmtMetrics(rec.Final))
	return nil
}

func listExperiments() {
	for _, n := range experiment.Names() {
		r, _ := experiment.Lookup(n)
		fmt.Printf("%-16s %s\n", n, r.About())
		if cfg := r.NewConfig(); cfg != nil {
			if fields, err := experiment.Fields(cfg); err == nil {
				for _, f := range fields {
					fmt.Printf("    %-18s %-10s %s\n", f.Key, f.Value(), f.Help)
				}
			}
		}
	}
}

// progressPrinter reports runs' milestones on stderr, one line each; with quiet, only what
// the user must know (a corrupt checkpoint or record moved aside).
func progressPrinter(quiet bool) experiment.Progress {
	return func(ev experiment.Event) {
		if quiet && ev.Kind != experiment.EventCorrupt {
			return
		}
		switch ev.Kind {
		case experiment.EventCorrupt:
			fmt.Fprintf(os.Stderr, "WARNING %s seed %d: %s\n", ev.RunDir, ev.Seed, ev.Detail)
		case experiment.EventSkip:
			fmt.Fprintf(os.Stderr, "%s seed %d: done before %s\n", ev.RunDir, ev.Seed, fmtMetrics(ev.Metrics))
			if ev.Detail != "" {
				fmt.Fprintf(os.Stderr, "  note: %s\n", ev.Detail)
			}
		case experiment.EventStart:
			fmt.Fprintf(os.Stderr, "%s seed %d: start\n", ev.RunDir, ev.Seed)
		case experiment.EventResume:
			fmt.Fprintf(os.Stderr, "%s seed %d: resume at step %d\n", ev.RunDir, ev.Seed, ev.Step)
		case experiment.EventEpoch:
			fmt.Fprintf(os.Stderr, "  epoch %d/%d step %d train loss %.4g val %s\n", ev.Epoch+1, ev.Epochs, ev.Step,
				ev.Loss, fmtMetrics(ev.Metrics))
		case experiment.EventDone:
			fmt.Fprintf(os.Stderr, "  done: %s\n", fmtMetrics(ev.Metrics))
		}
	}
}

func fmtMetrics(m map[string]float64) string {
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %.4g", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
