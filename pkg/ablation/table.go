package ablation

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/gostudy/gostudy/pkg/experiment"
)

// Table is the result of an ablation: one row per grid point.
type Table struct {
	Experiment string
	Axes       []Axis
	// BaseConfig is the config every grid point starts from.
	BaseConfig json.RawMessage
	Rows       []Row
}

// Row is one grid point: the axis values (in Axes order) and the summary over the seeds
// whose runs are done.
type Row struct {
	Values  []string
	Summary *experiment.Summary
	// Missing lists the point's runs that have no result (failed, cut, never started); their
	// seeds are left out of Summary. A point with no done run has an empty Summary.
	Missing []MissingRun
}

// MissingRun is a run of a grid point without a final result.
type MissingRun struct {
	// Index is the run's index in the [Plan].
	Index int
	Seed  int64
	Dir   string
	// Status is the run's record status ("" when it has no record).
	Status string
	// Reason is the error that stopped it, or why it has no result.
	Reason string
	// Note is what a caller adds, e.g. the Slurm task's state and log file.
	Note string
}

// Missing lists every row's missing runs, in plan order.
func (t *Table) Missing() []MissingRun {
	var out []MissingRun
	for _, r := range t.Rows {
		out = append(out, r.Missing...)
	}
	return out
}

// Metrics lists the final metrics that appear in the rows, "loss" first.
func (t *Table) Metrics() []string {
	seen := map[string]bool{}
	var names []string
	for _, r := range t.Rows {
		for _, m := range r.Summary.MetricNames() {
			if !seen[m] {
				seen[m] = true
				names = append(names, m)
			}
		}
	}
	sort.SliceStable(names, func(i, j int) bool {
		if (names[i] == "loss") != (names[j] == "loss") {
			return names[i] == "loss"
		}
		return names[i] < names[j]
	})
	return names
}

func (t *Table) split() string {
	for _, r := range t.Rows {
		if len(r.Summary.Records) > 0 {
			return r.Summary.Records[0].FinalSplit
		}
	}
	return "test"
}

// WriteCSV writes the table with separate mean and std columns (for spreadsheets and pandas):
// the axes, config_id, n, then <split>_<metric>_mean/_std per metric, best_val_mean/_std, and
// wall_seconds_mean.
func (t *Table) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	metrics := t.Metrics()
	split := t.split()
	header := []string{}
	for _, ax := range t.Axes {
		header = append(header, ax.Key)
	}
	header = append(header, "config_id", "n")
	for _, m := range metrics {
		header = append(header, split+"_"+m+"_mean", split+"_"+m+"_std")
	}
	header = append(header, "best_val_mean", "best_val_std", "wall_seconds_mean")
	// Only a table with gaps gets the column, so a complete table's CSV is the same as ever.
	withMissing := len(t.Missing()) > 0
	if withMissing {
		header = append(header, "missing_seeds")
	}
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("write CSV: %w", err)
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
	for _, r := range t.Rows {
		s := r.Summary
		rec := append([]string(nil), r.Values...)
		rec = append(rec, s.ConfigID, strconv.Itoa(len(s.Seeds)))
		for _, m := range metrics {
			st, ok := s.Final[m]
			if !ok {
				rec = append(rec, "", "")
				continue
			}
			rec = append(rec, f(st.Mean), f(st.Std))
		}
		if len(s.Seeds) > 0 {
			rec = append(rec, f(s.BestVal.Mean), f(s.BestVal.Std), f(s.WallSeconds.Mean))
		} else {
			rec = append(rec, "", "", "")
		}
		if withMissing {
			var seeds []string
			for _, m := range r.Missing {
				seeds = append(seeds, strconv.FormatInt(m.Seed, 10))
			}
			rec = append(rec, strings.Join(seeds, " "))
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write CSV: %w", err)
	}
	return nil
}

// Markdown renders the table with "mean ± std" cells, for a notebook or a terminal.
func (t *Table) Markdown() string {
	metrics := t.Metrics()
	split := t.split()
	var head []string
	for _, ax := range t.Axes {
		head = append(head, ax.Key)
	}
	for _, m := range metrics {
		head = append(head, split+" "+m)
	}
	sel := "best val"
	if len(t.Rows) > 0 && len(t.Rows[0].Summary.Records) > 0 && t.Rows[0].Summary.Records[0].Best != nil {
		sel = "best val " + t.Rows[0].Summary.Records[0].Best.Metric
	}
	head = append(head, sel, "seeds", "wall s")
	var b strings.Builder
	writeRow := func(cells []string) {
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	writeRow(head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = "---"
		if i >= len(t.Axes) {
			sep[i] = "---:"
		}
	}
	writeRow(sep)
	for _, r := range t.Rows {
		cells := append([]string(nil), r.Values...)
		if len(r.Summary.Seeds) == 0 {
			for range len(metrics) + 1 {
				cells = append(cells, "missing")
			}
			cells = append(cells, fmt.Sprintf("0 (%d missing)", len(r.Missing)), "")
			writeRow(cells)
			continue
		}
		for _, m := range metrics {
			if st, ok := r.Summary.Final[m]; ok {
				cells = append(cells, st.String())
			} else {
				cells = append(cells, "")
			}
		}
		seeds := strconv.Itoa(len(r.Summary.Seeds))
		if len(r.Missing) > 0 {
			seeds += fmt.Sprintf(" (%d missing)", len(r.Missing))
		}
		cells = append(cells, r.Summary.BestVal.String(), seeds, fmt.Sprintf("%.1f", r.Summary.WallSeconds.Mean))
		writeRow(cells)
	}
	if missing := t.Missing(); len(missing) > 0 {
		b.WriteString("\nMissing runs (left out of the means):\n\n")
		for _, r := range t.Rows {
			for _, m := range r.Missing {
				fmt.Fprintf(&b, "- %s: %s\n", t.describeMissing(r, m), m.explain())
			}
		}
	}
	return b.String()
}

func (t *Table) describeMissing(r Row, m MissingRun) string {
	var parts []string
	for i, ax := range t.Axes {
		parts = append(parts, ax.Key+"="+r.Values[i])
	}
	parts = append(parts, fmt.Sprintf("seed %d", m.Seed))
	return fmt.Sprintf("%s (run %d, %s)", strings.Join(parts, " "), m.Index, m.Dir)
}

// explain is the missing run's status, reason and note in one line.
func (m MissingRun) explain() string {
	var parts []string
	if m.Status != "" {
		parts = append(parts, m.Status)
	}
	if m.Reason != "" {
		parts = append(parts, strings.ReplaceAll(m.Reason, "\n", " "))
	}
	if m.Note != "" {
		parts = append(parts, m.Note)
	}
	if len(parts) == 0 {
		return "no result"
	}
	return strings.Join(parts, "; ")
}

// Files are the paths [Table.WriteFiles] wrote.
type Files struct {
	CSV, Markdown string
	// Plots maps each metric to its SVG.
	Plots map[string]string
}

// WriteFiles writes results.csv, results.md and one SVG plot per metric (results-<metric>.svg)
// into dir, each atomically.
func (t *Table) WriteFiles(dir string) (*Files, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create results dir: %w", err)
	}
	files := &Files{CSV: filepath.Join(dir, "results.csv"), Markdown: filepath.Join(dir, "results.md"),
		Plots: map[string]string{}}
	var csvBuf strings.Builder
	if err := t.WriteCSV(&csvBuf); err != nil {
		return nil, err
	}
	if err := writeAtomic(files.CSV, []byte(csvBuf.String())); err != nil {
		return nil, err
	}
	if err := writeAtomic(files.Markdown, []byte(t.Markdown())); err != nil {
		return nil, err
	}
	for _, m := range t.Metrics() {
		svg, err := t.PlotSVG(m)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, "results-"+sanitize(m)+".svg")
		if err := writeAtomic(p, svg); err != nil {
			return nil, err
		}
		files.Plots[m] = p
	}
	return files, nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func jsonInto(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode config: %w", err)
	}
	return nil
}
