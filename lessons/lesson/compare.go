package lesson

import (
	"context"
	"fmt"
	"math"
	"path/filepath"

	"github.com/gostudy/gostudy/pkg/ablation"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Arm is one setting of a comparison: a name for tables and legends, and the run config.
type Arm[C any] struct {
	Name   string
	Config C
}

// Result is an arm trained with every seed of a comparison.
type Result[C any] struct {
	Arm[C]
	// Summary holds the runs' records in seed order and each final metric as mean ± std.
	Summary *experiment.Summary
	// Dirs are the runs' folders, in seed order ([Load] or `gostudy export` opens one).
	Dirs []string
}

// Acc is the arm's test accuracy over the seeds (the final metric "acc").
func (r Result[C]) Acc() experiment.Stat { return r.Summary.Final["acc"] }

// Final is the arm's final metric name over the seeds ("acc", "loss", ...).
func (r Result[C]) Final(name string) experiment.Stat { return r.Summary.Final[name] }

// ArmAxis is the axis name of a comparison's table: its values are the arms' names.
const ArmAxis = "arm"

// Compare trains every arm with seeds 0 … seeds−1 through pkg/ablation (each arm is the
// one-point ablation `gostudy ablate` would run for that config, so the runs, and the table's
// CSV, Markdown and plots, are the same), reusing runs already done: a notebook's main run is
// seed 0 of the arm with its config. It returns one result per arm and the table (axis
// [ArmAxis]). onRow, when not nil, sees the table after each arm. When ctx is cancelled it
// returns the arms done so far with the error.
func Compare[C any](ctx context.Context, e *experiment.Experiment[C], arms []Arm[C], seeds int, opts Options,
	onRow func(i int, t *ablation.Table)) ([]Result[C], *ablation.Table, error) {
	if len(arms) == 0 {
		return nil, nil, fmt.Errorf("compare %s: no arms", e.Name)
	}
	names := make([]string, len(arms))
	seen := map[string]bool{}
	for i, a := range arms {
		if a.Name == "" || seen[a.Name] {
			return nil, nil, fmt.Errorf("compare %s: arm %d has an empty or repeated name %q", e.Name, i, a.Name)
		}
		seen[a.Name] = true
		names[i] = a.Name
	}
	table := &ablation.Table{Experiment: e.Name, Axes: []ablation.Axis{{Key: ArmAxis, Values: names}}}
	var out []Result[C]
	for i, a := range arms {
		spec := ablation.Spec{Runnable: e, Base: &a.Config, Seeds: max(seeds, 1), Dir: opts.dir(), Backend: opts.Backend}
		if opts.Progress != nil {
			name := a.Name
			spec.Progress = func(ev experiment.Event) { opts.Progress(name, ev) }
		}
		one, err := ablation.Run(ctx, spec)
		if err != nil {
			return out, table, fmt.Errorf("compare %s, arm %q: %w", e.Name, a.Name, err)
		}
		if i == 0 {
			table.BaseConfig = one.BaseConfig
		}
		sum := one.Rows[0].Summary
		table.Rows = append(table.Rows, ablation.Row{Values: []string{a.Name}, Summary: sum})
		r := Result[C]{Arm: a, Summary: sum}
		for _, rec := range sum.Records {
			r.Dirs = append(r.Dirs, experiment.RunDir(opts.dir(), e.Name, rec.ConfigID, rec.Seed))
		}
		out = append(out, r)
		if onRow != nil {
			onRow(i, table)
		}
	}
	return out, table, nil
}

// Sweep runs one knob of base over values (an ablation.Axis: a config key and its values as
// text, what `gostudy ablate <name> -grid key=v1,v2` runs) with seeds 0 … seeds−1, reusing runs
// already done. Progress events are labelled "key=value". onRow sees the table after each value.
func Sweep[C any](ctx context.Context, e *experiment.Experiment[C], base C, axis ablation.Axis, seeds int, opts Options,
	onRow func(i int, t *ablation.Table)) (*ablation.Table, error) {
	spec := ablation.Spec{Runnable: e, Base: &base, Grid: []ablation.Axis{axis}, Seeds: max(seeds, 1),
		Dir: opts.dir(), Backend: opts.Backend, OnRow: onRow}
	if opts.Progress != nil {
		// Runs are told apart by their config id, the parent of the seed folder.
		labels := map[string]string{}
		for _, v := range axis.Values {
			cfg := base
			if err := experiment.Set(&cfg, axis.Key, v); err != nil {
				return nil, fmt.Errorf("sweep %s: %w", e.Name, err)
			}
			id, err := experiment.ConfigID(cfg)
			if err != nil {
				return nil, err
			}
			labels[id] = axis.Key + "=" + v
		}
		spec.Progress = func(ev experiment.Event) {
			opts.Progress(labels[filepath.Base(filepath.Dir(ev.RunDir))], ev)
		}
	}
	t, err := ablation.Run(ctx, spec)
	if err != nil {
		return t, fmt.Errorf("sweep %s over %s: %w", e.Name, axis.Key, err)
	}
	return t, nil
}

// Diff is how one mean compares with a reference mean, said in a way that does not overclaim.
type Diff struct {
	// Points is the difference of the means ×100 (percentage points for an accuracy).
	Points float64
	// StdErr is the standard error of that difference ×100, from both sample standard
	// deviations (0 when either side has one seed: then nothing can be concluded).
	StdErr float64
	// Verdict is "higher", "lower", "within noise" (|Points| ≤ 2·StdErr) or, with fewer than
	// two seeds on a side, "one seed: no verdict".
	Verdict string
}

// Verdicts of [Versus].
const (
	Higher      = "higher"
	Lower       = "lower"
	WithinNoise = "within noise"
	OneSeed     = "one seed: no verdict"
)

// Versus compares a with ref: the difference of their means and whether it exceeds twice its
// standard error.
func Versus(a, ref experiment.Stat) Diff {
	d := Diff{Points: 100 * (a.Mean - ref.Mean)}
	if a.N() < 2 || ref.N() < 2 {
		d.Verdict = OneSeed
		return d
	}
	d.StdErr = 100 * math.Sqrt(a.Std*a.Std/float64(a.N())+ref.Std*ref.Std/float64(ref.N()))
	switch {
	case math.Abs(d.Points) <= 2*d.StdErr:
		d.Verdict = WithinNoise
	case d.Points > 0:
		d.Verdict = Higher
	default:
		d.Verdict = Lower
	}
	return d
}

// String is "+0.42 points (standard error 0.10): higher".
func (d Diff) String() string {
	if d.Verdict == OneSeed {
		return fmt.Sprintf("%+.2f points (%s)", d.Points, d.Verdict)
	}
	return fmt.Sprintf("%+.2f points (standard error %.2f): %s", d.Points, d.StdErr, d.Verdict)
}
