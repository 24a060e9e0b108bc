package ablation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gostudy/gostudy/pkg/experiment"
)

// Plan is an ablation laid out run by run: every grid point × seed in a fixed order, each with
// its config and run directory. [Run] trains a plan's runs one after the other in one process;
// a cluster back end (package ablation/slurm) trains each run as its own task with
// [Plan.Train], the same call, and gathers the table with [Plan.Collect].
type Plan struct {
	Spec Spec
	// Experiment is the experiment the spec names.
	Experiment experiment.Runnable
	// BaseConfig is the config every grid point starts from (defaults, file, overrides).
	BaseConfig json.RawMessage
	// Seeds are the seeds of every grid point; Points the grid points (axis values in Grid
	// order, the first axis varying slowest).
	Seeds  []int64
	Points [][]string
	// Runs are the grid points × seeds, point-major: Runs[i].Index == i.
	Runs []PlannedRun
	root string // the runs directory
}

// PlannedRun is one run of a plan.
type PlannedRun struct {
	// Index is the run's position in Plan.Runs: Point*len(Seeds) + the seed's position.
	Index int
	// Point indexes Plan.Points; Values are that point's axis values.
	Point  int
	Values []string
	Seed   int64
	// ConfigID and Dir name the run as package experiment does: Dir is
	// <runs>/<experiment>/<ConfigID>/seed-<Seed>.
	ConfigID string
	Dir      string
	config   any // pointer to the experiment's config type
}

// NewPlan checks a spec (experiment, grid keys and values, seeds, every grid point's config)
// and lays out its runs. Nothing is trained or written.
func NewPlan(spec Spec) (*Plan, error) {
	if err := spec.check(); err != nil {
		return nil, err
	}
	r, err := spec.runnable()
	if err != nil {
		return nil, err
	}
	base, err := spec.baseConfig(r)
	if err != nil {
		return nil, err
	}
	baseJSON, err := experiment.ConfigJSON(base)
	if err != nil {
		return nil, err
	}
	// Every value must parse on its own before any point is built, so that the error names
	// the value rather than a combination.
	for _, ax := range spec.Grid {
		for _, v := range ax.Values {
			probe := r.NewConfig()
			if err := jsonInto(baseJSON, probe); err != nil {
				return nil, err
			}
			if err := experiment.Set(probe, ax.Key, v); err != nil {
				return nil, err
			}
		}
	}
	root := spec.Dir
	if root == "" {
		root = "runs"
	}
	p := &Plan{Spec: spec, Experiment: r, BaseConfig: baseJSON, Seeds: spec.seeds(), Points: points(spec.Grid),
		root: root}
	for pi, pt := range p.Points {
		cfg := r.NewConfig()
		if err := jsonInto(baseJSON, cfg); err != nil {
			return nil, err
		}
		for i, ax := range spec.Grid {
			if err := experiment.Set(cfg, ax.Key, pt[i]); err != nil {
				return nil, err
			}
		}
		// A config the experiment rejects fails here, before any run of the grid starts.
		if v, ok := cfg.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				return nil, fmt.Errorf("ablation %s at %s: invalid config: %w", r.ExperimentName(), describe(spec.Grid, pt), err)
			}
		}
		id, err := experiment.ConfigID(cfg)
		if err != nil {
			return nil, err
		}
		for _, seed := range p.Seeds {
			p.Runs = append(p.Runs, PlannedRun{Index: len(p.Runs), Point: pi, Values: pt, Seed: seed, ConfigID: id,
				Dir: experiment.RunDir(root, r.ExperimentName(), id, seed), config: cfg})
		}
	}
	return p, nil
}

// pointRuns returns the runs of grid point pt, in seed order.
func (p *Plan) pointRuns(pt int) []PlannedRun {
	n := len(p.Seeds)
	return p.Runs[pt*n : (pt+1)*n]
}

// Describe names a run for people: "hidden=64 arch=cnn seed 1".
func (p *Plan) Describe(i int) string {
	run := p.Runs[i]
	if len(p.Spec.Grid) == 0 {
		return fmt.Sprintf("seed %d", run.Seed)
	}
	return fmt.Sprintf("%s seed %d", describe(p.Spec.Grid, run.Values), run.Seed)
}

// Train trains run i of the plan (skipping it when done, resuming it when cut) with the
// spec's backend and progress: what [Run] does for each run.
func (p *Plan) Train(ctx context.Context, i int) (*experiment.Record, error) {
	if i < 0 || i >= len(p.Runs) {
		return nil, fmt.Errorf("ablation %s has runs 0 to %d, not %d", p.Experiment.ExperimentName(), len(p.Runs)-1, i)
	}
	run := p.Runs[i]
	return p.Experiment.RunConfig(ctx, run.config, experiment.Options{
		Dir: p.root, Seed: run.Seed,
		Backend: p.Spec.Backend, Progress: p.Spec.Progress,
	})
}

// Done reports whether run i has finished (its record says done).
func (p *Plan) Done(i int) bool {
	rec, err := experiment.ReadRecord(p.Runs[i].Dir)
	return err == nil && rec.Status == experiment.StatusDone
}

// Pending lists the indices of the runs not done yet.
func (p *Plan) Pending() []int {
	var out []int
	for i := range p.Runs {
		if !p.Done(i) {
			out = append(out, i)
		}
	}
	return out
}

// Collect builds the table from the runs' records without training anything: the table
// [Run] returns once every run is done. Runs not done are listed in their row's Missing,
// with their status and error.
func (p *Plan) Collect() (*Table, error) {
	table := p.newTable()
	for pt := range p.Points {
		var recs []*experiment.Record
		var missing []MissingRun
		for _, run := range p.pointRuns(pt) {
			rec, err := experiment.ReadRecord(run.Dir)
			if err == nil && rec.Status == experiment.StatusDone {
				recs = append(recs, rec)
				continue
			}
			m := MissingRun{Index: run.Index, Seed: run.Seed, Dir: run.Dir}
			switch {
			case errors.Is(err, fs.ErrNotExist):
				m.Reason = "not started"
			case err != nil:
				m.Reason = err.Error()
			default:
				m.Status, m.Reason = rec.Status, rec.Error
			}
			missing = append(missing, m)
		}
		row, err := p.row(pt, recs, missing)
		if err != nil {
			return table, err
		}
		table.Rows = append(table.Rows, row)
	}
	return table, nil
}

func (p *Plan) newTable() *Table {
	return &Table{Experiment: p.Experiment.ExperimentName(), Axes: p.Spec.Grid, BaseConfig: p.BaseConfig}
}

// row summarizes grid point pt over its done runs.
func (p *Plan) row(pt int, recs []*experiment.Record, missing []MissingRun) (Row, error) {
	row := Row{Values: p.Points[pt], Missing: missing}
	if len(recs) == 0 {
		run := p.pointRuns(pt)[0]
		row.Summary = &experiment.Summary{Experiment: p.Experiment.ExperimentName(), ConfigID: run.ConfigID,
			Config: json.RawMessage(mustJSON(run.config)), Final: map[string]experiment.Stat{}}
		return row, nil
	}
	sum, err := experiment.Summarize(recs)
	if err != nil {
		return row, fmt.Errorf("ablation %s at %s: %w", p.Experiment.ExperimentName(), describe(p.Spec.Grid, p.Points[pt]), err)
	}
	row.Summary = sum
	return row, nil
}

func mustJSON(cfg any) []byte {
	b, err := experiment.ConfigJSON(cfg)
	if err != nil {
		return nil // NewPlan already encoded this config to name its run
	}
	return b
}

// ResultsDir is [ResultsDir] for the plan's spec.
func (p *Plan) ResultsDir() string { return ResultsDir(p.Spec, p.newTable()) }

// Select returns the indices of the runs that names match, in plan order. A name is
//
//   - a run index ("3": Slurm array task 3, see Plan.Runs);
//   - a run directory, as progress lines print it ("runs/digits/3f2a…/seed-1");
//   - a config id with a seed ("3f2a…/seed-1") or without (all its seeds);
//   - a grid point with an optional seed, "key=value,key=value,seed=N": the keys given must
//     match, the others may be anything ("hidden=64,seed=1", "arch=cnn").
//
// A name that matches no run is an error, so a typo never retrains nothing in silence.
func (p *Plan) Select(names ...string) ([]int, error) {
	chosen := make([]bool, len(p.Runs))
	for _, name := range names {
		match, err := p.matcher(strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		found := false
		for i, run := range p.Runs {
			if match(run) {
				chosen[i], found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("%q matches no run of this ablation (%d runs: indices 0-%d, config ids %s)",
				name, len(p.Runs), len(p.Runs)-1, strings.Join(p.configIDs(), ", "))
		}
	}
	var out []int
	for i, c := range chosen {
		if c {
			out = append(out, i)
		}
	}
	return out, nil
}

func (p *Plan) configIDs() []string {
	var ids []string
	for pt := range p.Points {
		ids = append(ids, p.pointRuns(pt)[0].ConfigID)
	}
	return ids
}

func (p *Plan) matcher(name string) (func(PlannedRun) bool, error) {
	if name == "" {
		return nil, errors.New("an empty run name")
	}
	if i, err := strconv.Atoi(name); err == nil {
		if i < 0 || i >= len(p.Runs) {
			return nil, fmt.Errorf("run index %d: this ablation has runs 0-%d", i, len(p.Runs)-1)
		}
		return func(r PlannedRun) bool { return r.Index == i }, nil
	}
	if strings.Contains(name, "=") {
		return p.pointMatcher(name)
	}
	// A run directory or <config id>[/seed-N]: compare the trailing path elements.
	clean := filepath.ToSlash(filepath.Clean(name))
	return func(r PlannedRun) bool {
		dir := filepath.ToSlash(r.Dir)
		if abs, err := filepath.Abs(name); err == nil {
			if absDir, err := filepath.Abs(r.Dir); err == nil && abs == absDir {
				return true
			}
		}
		return clean == r.ConfigID || clean == r.ConfigID+"/"+filepath.Base(dir) || dir == clean
	}, nil
}

func (p *Plan) pointMatcher(name string) (func(PlannedRun) bool, error) {
	parts, err := splitValues(name)
	if err != nil {
		return nil, fmt.Errorf("run %q: %w", name, err)
	}
	want := map[int]string{}
	var seed *int64
	for _, part := range parts {
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("run %q: want key=value,...[,seed=N]", name)
		}
		if k == "seed" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("run %q: seed %q is not an integer", name, v)
			}
			seed = &n
			continue
		}
		axis := -1
		for i, ax := range p.Spec.Grid {
			if ax.Key == k {
				axis = i
			}
		}
		if axis < 0 {
			return nil, fmt.Errorf("run %q: %q is not a grid key of this ablation (%s)", name, k, p.gridKeys())
		}
		want[axis] = v
	}
	return func(r PlannedRun) bool {
		if seed != nil && r.Seed != *seed {
			return false
		}
		for axis, v := range want {
			if r.Values[axis] != v {
				return false
			}
		}
		return true
	}, nil
}

func (p *Plan) gridKeys() string {
	var keys []string
	for _, ax := range p.Spec.Grid {
		keys = append(keys, ax.Key)
	}
	keys = append(keys, "seed")
	return strings.Join(keys, ", ")
}

// Reset discards the state of the given runs (see [experiment.ResetRun]) so that they train
// from the start. It stops at the first run that is being trained.
func (p *Plan) Reset(runs ...int) error {
	for _, i := range runs {
		if err := experiment.ResetRun(p.Runs[i].Dir); err != nil {
			return fmt.Errorf("retrain %s: %w", p.Describe(i), err)
		}
	}
	return nil
}
