package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/ablation"
	"github.com/gostudy/gostudy/pkg/experiment"
	// The example experiment; lessons register theirs the same way, by being imported.
	_ "github.com/gostudy/gostudy/pkg/experiment/digits"
)

func init() {
	commands["ablate"] = command{runAblate, "run an experiment over a config grid and seeds; print the results table"}
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// parseWithPositional parses flags that may come before or after one positional argument
// ("gostudy ablate digits -seeds 3" and "gostudy ablate -seeds 3 digits" both work).
func parseWithPositional(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", nil
	}
	name := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return name, nil
}

// runAblate implements `gostudy ablate <experiment> -grid key=v1,v2 ... -seeds N`.
func runAblate(args []string) error {
	fs := flag.NewFlagSet("ablate", flag.ContinueOnError)
	var grid, sets listFlag
	fs.Var(&grid, "grid", "a grid axis `key=v1,v2,...` (repeatable; the first axis is the plot's x axis)")
	fs.Var(&sets, "set", "override one base config field, `key=value` (repeatable)")
	seeds := fs.Int("seeds", 1, "seeds per grid point")
	firstSeed := fs.Int64("first-seed", 0, "first seed")
	configFile := fs.String("config", "", "base config file (.json, .yaml)")
	dir := fs.String("dir", lesson.RunsDir(), "runs directory (finished runs there are reused; notebooks use the same, see $"+lesson.EnvRuns+")")
	out := fs.String("out", "", "directory for results.csv, results.md and the SVG plots (default: under -dir)")
	list := fs.Bool("list", false, "list the registered experiments and exit")
	quiet := fs.Bool("q", false, "print only the table")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: gostudy ablate <experiment> [-grid key=v1,v2]... [-seeds N] [flags]\n\n"+
			"Runs every grid point with every seed (runs already done under -dir are skipped, cut ones\n"+
			"resume), then writes and prints a table of the final metrics as mean ± std.\n\nflags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nexperiments: %s\n", strings.Join(experiment.Names(), ", "))
	}
	name, err := parseWithPositional(fs, args)
	if err != nil {
		return err
	}
	if *list {
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
		return nil
	}
	if name == "" {
		fs.Usage()
		return errors.New("missing the experiment name")
	}
	spec := ablation.Spec{Experiment: name, ConfigFile: *configFile, Seeds: *seeds, FirstSeed: *firstSeed,
		Dir: *dir, Set: map[string]string{}}
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("-set %q: want key=value", s)
		}
		spec.Set[strings.TrimSpace(k)] = v
	}
	for _, g := range grid {
		ax, err := ablation.ParseAxis(g)
		if err != nil {
			return err
		}
		spec.Grid = append(spec.Grid, ax)
	}
	if !*quiet {
		spec.Progress = printProgress
	}
	// Ctrl-C stops after the current step, with a checkpoint: the next identical command
	// resumes there.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	table, runErr := ablation.Run(ctx, spec)
	if table == nil || len(table.Rows) == 0 {
		return runErr
	}
	outDir := *out
	if outDir == "" {
		outDir = ablation.ResultsDir(spec, table)
	}
	files, err := table.WriteFiles(outDir)
	if err != nil {
		return errors.Join(runErr, err)
	}
	fmt.Print(table.Markdown())
	if !*quiet {
		fmt.Fprintf(os.Stderr, "\nwrote %s, %s", files.CSV, files.Markdown)
		for _, m := range table.Metrics() {
			fmt.Fprintf(os.Stderr, ", %s", files.Plots[m])
		}
		fmt.Fprintln(os.Stderr)
	}
	return runErr
}

// printProgress reports a run's milestones on stderr, one line each.
func printProgress(ev experiment.Event) {
	switch ev.Kind {
	case experiment.EventSkip:
		fmt.Fprintf(os.Stderr, "%s seed %d: done before %s\n", ev.RunDir, ev.Seed, fmtMetrics(ev.Metrics))
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
