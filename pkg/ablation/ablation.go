// Package ablation runs an experiment over a grid of config values and several seeds, and
// reports mean ± std of the final metrics in a table (CSV, Markdown) and a plot (SVG).
//
// It is the notes' "change one knob and see a table" workflow: every grid point × seed is an
// ordinary [experiment] run, stored under the runs directory by config id and seed, so a grid
// that is run again (with more seeds, or after being killed) trains only what is missing and
// resumes what was cut short.
//
// From the command line: `gostudy ablate <experiment> -grid key=v1,v2 -grid other=a,b -seeds 3`.
// From a notebook: [Run] with a [Spec], whose OnRow callback sees each row as it completes.
package ablation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Axis is one dimension of a grid: a config key (see [experiment.Field]) and its values, as
// text parsed by [experiment.Set].
type Axis struct {
	Key    string
	Values []string
}

// ParseAxis parses "key=v1,v2,...". Commas inside brackets or quotes do not split, so a list
// value reads "widths=[16,32],[32,64]".
func ParseAxis(spec string) (Axis, error) {
	key, vals, ok := strings.Cut(spec, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" || strings.TrimSpace(vals) == "" {
		return Axis{}, fmt.Errorf("grid %q: want key=v1,v2,...", spec)
	}
	values, err := splitValues(vals)
	if err != nil {
		return Axis{}, fmt.Errorf("grid %q: %w", spec, err)
	}
	seen := map[string]bool{}
	for _, v := range values {
		if seen[v] {
			return Axis{}, fmt.Errorf("grid %q: value %q repeated", spec, v)
		}
		seen[v] = true
	}
	return Axis{Key: key, Values: values}, nil
}

func splitValues(s string) ([]string, error) {
	var out []string
	depth := 0
	inQuote := false
	start := 0
	for i, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
		case inQuote:
		case r == '[' || r == '{':
			depth++
		case r == ']' || r == '}':
			depth--
		case r == ',' && depth == 0:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	if depth != 0 || inQuote {
		return nil, fmt.Errorf("unbalanced brackets or quotes")
	}
	out = append(out, strings.TrimSpace(s[start:]))
	for _, v := range out {
		if v == "" {
			return nil, fmt.Errorf("empty value")
		}
	}
	return out, nil
}

// Spec describes an ablation.
type Spec struct {
	// Experiment is the registered experiment name; Runnable, when set, is used instead.
	Experiment string
	Runnable   experiment.Runnable
	// Base is a pointer to the base config; nil means the experiment's defaults, with
	// ConfigFile and then Set applied.
	Base       any
	ConfigFile string
	Set        map[string]string
	// Grid is the list of axes; the table has one row per combination, the first axis
	// varying slowest.
	Grid []Axis
	// Seeds is the number of seeds per grid point (default 1), starting at FirstSeed.
	Seeds     int
	FirstSeed int64
	// Dir is the runs root ("" means "runs").
	Dir string
	// Backend runs the graphs; nil means experiment.DefaultBackend.
	Backend compute.Backend
	// Progress receives every run's events.
	Progress experiment.Progress
	// OnRow is called when a grid point's seeds are all done, with the row's index and the
	// table so far (rows up to and including index) — a notebook redraws its table from it.
	OnRow func(index int, table *Table)
	// Retrain names runs to discard and train again from the start (see [Plan.Select] for
	// the forms a name takes); a name that matches no run of the grid is an error.
	Retrain []string
}

func (s *Spec) runnable() (experiment.Runnable, error) {
	if s.Runnable != nil {
		return s.Runnable, nil
	}
	return experiment.Lookup(s.Experiment)
}

func (s *Spec) seeds() []int64 {
	n := s.Seeds
	if n <= 0 {
		n = 1
	}
	return experiment.Seeds(n, s.FirstSeed)
}

// MaxSeeds bounds Spec.Seeds: more seeds than this per grid point is a typing mistake.
const MaxSeeds = 10000

func (s *Spec) check() error {
	if s.Seeds < 0 || s.Seeds > MaxSeeds {
		return fmt.Errorf("seeds must be between 1 and %d (0 means 1), got %d", MaxSeeds, s.Seeds)
	}
	if s.FirstSeed < 0 || s.FirstSeed > math.MaxInt64-MaxSeeds {
		return fmt.Errorf("first seed must be between 0 and %d, got %d", int64(math.MaxInt64-MaxSeeds), s.FirstSeed)
	}
	keys := map[string]bool{}
	for _, ax := range s.Grid {
		if keys[ax.Key] {
			return fmt.Errorf("grid key %q given twice", ax.Key)
		}
		keys[ax.Key] = true
		if len(ax.Values) == 0 {
			return fmt.Errorf("grid key %q has no values", ax.Key)
		}
	}
	return nil
}

// baseConfig returns a fresh copy of the base config with the file and overrides applied.
func (s *Spec) baseConfig(r experiment.Runnable) (any, error) {
	cfg := r.NewConfig()
	if s.Base != nil {
		js, err := experiment.ConfigJSON(s.Base)
		if err != nil {
			return nil, err
		}
		if err := jsonInto(js, cfg); err != nil {
			return nil, fmt.Errorf("base config: %w", err)
		}
	}
	if s.ConfigFile != "" {
		if err := experiment.LoadConfigFile(s.ConfigFile, cfg); err != nil {
			return nil, err
		}
	}
	for k, v := range s.Set {
		if err := experiment.Set(cfg, k, v); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// points enumerates the grid's combinations, first axis slowest.
func points(grid []Axis) [][]string {
	out := [][]string{{}}
	for _, ax := range grid {
		var next [][]string
		for _, p := range out {
			for _, v := range ax.Values {
				next = append(next, append(append([]string(nil), p...), v))
			}
		}
		out = next
	}
	return out
}

// Run runs every grid point with every seed (skipping runs already done and resuming
// interrupted ones) and returns the table. A run that fails does not stop the others: its row
// lists it under Missing and the error says why. When ctx is cancelled Run returns the rows
// finished so far together with the error.
func Run(ctx context.Context, spec Spec) (*Table, error) {
	plan, err := NewPlan(spec)
	if err != nil {
		return nil, err
	}
	if len(spec.Retrain) > 0 {
		runs, err := plan.Select(spec.Retrain...)
		if err != nil {
			return nil, err
		}
		if err := plan.Reset(runs...); err != nil {
			return nil, err
		}
	}
	table := plan.newTable()
	var failures []error
	for pt := range plan.Points {
		var recs []*experiment.Record
		var missing []MissingRun
		for _, run := range plan.pointRuns(pt) {
			rec, err := plan.Train(ctx, run.Index)
			if ctx.Err() != nil {
				return table, fmt.Errorf("ablation %s at %s: %w", plan.Experiment.ExperimentName(),
					describe(spec.Grid, run.Values), err)
			}
			if err != nil {
				failures = append(failures, fmt.Errorf("%s seed %d: %w", describe(spec.Grid, run.Values), run.Seed, err))
				m := MissingRun{Index: run.Index, Seed: run.Seed, Dir: run.Dir, Reason: err.Error()}
				if rec != nil {
					m.Status = rec.Status
				}
				missing = append(missing, m)
				continue
			}
			recs = append(recs, rec)
		}
		row, err := plan.row(pt, recs, missing)
		if err != nil {
			return table, err
		}
		table.Rows = append(table.Rows, row)
		if spec.OnRow != nil {
			spec.OnRow(len(table.Rows)-1, table)
		}
	}
	if len(failures) > 0 {
		return table, fmt.Errorf("ablation %s: %d of %d runs failed: %w", plan.Experiment.ExperimentName(),
			len(failures), len(plan.Runs), errors.Join(failures...))
	}
	return table, nil
}

func describe(grid []Axis, pt []string) string {
	parts := make([]string, len(grid))
	for i, ax := range grid {
		parts[i] = ax.Key + "=" + pt[i]
	}
	return strings.Join(parts, " ")
}

// ResultsDir is where [Table.WriteFiles] puts an ablation's files by default:
// <runs>/<experiment>/ablations/<keys>-<hash>, the hash covering the base config, the grid
// and the seeds, so a different ablation never overwrites another's table.
func ResultsDir(spec Spec, t *Table) string {
	root := spec.Dir
	if root == "" {
		root = "runs"
	}
	h := sha256.New()
	h.Write(t.BaseConfig)
	for _, ax := range spec.Grid {
		fmt.Fprintf(h, "|%s=%s", ax.Key, strings.Join(ax.Values, "\x00"))
	}
	fmt.Fprintf(h, "|seeds=%v", spec.seeds())
	var keys []string
	for _, ax := range spec.Grid {
		keys = append(keys, sanitize(ax.Key))
	}
	name := strings.Join(keys, "_")
	if name == "" {
		name = "base"
	}
	return filepath.Join(root, t.Experiment, "ablations", name+"-"+hex.EncodeToString(h.Sum(nil))[:8])
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == os.PathSeparator || r == ' ' {
			return '_'
		}
		return r
	}, s)
}
