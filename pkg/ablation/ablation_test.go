package ablation

import (
	"context"
	"encoding/csv"
	"errors"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	_ "github.com/gomlx/gomlx/backends/default"
	"github.com/gostudy/gostudy/pkg/backend/backendtest"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/experiment/digits"
)

func TestParseAxis(t *testing.T) {
	ax, err := ParseAxis("hidden=16, 32,64")
	if err != nil || ax.Key != "hidden" || !reflect.DeepEqual(ax.Values, []string{"16", "32", "64"}) {
		t.Errorf("got %+v %v", ax, err)
	}
	ax, err = ParseAxis(`widths=[16,32],[32,64]`)
	if err != nil || !reflect.DeepEqual(ax.Values, []string{"[16,32]", "[32,64]"}) {
		t.Errorf("bracketed values: %+v %v", ax, err)
	}
	for _, bad := range []string{"hidden", "=1,2", "a=1,,2", "a=[1,2", "a=1,1"} {
		if _, err := ParseAxis(bad); err == nil {
			t.Errorf("ParseAxis(%q) should fail", bad)
		}
	}
	if got := points([]Axis{{"a", []string{"1", "2"}}, {"b", []string{"x", "y", "z"}}}); len(got) != 6 ||
		!reflect.DeepEqual(got[0], []string{"1", "x"}) || !reflect.DeepEqual(got[5], []string{"2", "z"}) {
		t.Errorf("points %v", got)
	}
}

// smallDigits keeps the test grid quick: 384 training images, two epochs (24 steps).
func smallDigits() map[string]string {
	return map[string]string{"epochs": "2", "train_size": "384", "val_size": "128", "test_size": "128",
		"learning_rate": "0.01"}
}

func TestGridSkipsDoneRunsAndResumes(t *testing.T) {
	b := backendtest.Go(t)
	dir := t.TempDir()
	grid := []Axis{{Key: "hidden", Values: []string{"24", "64"}}, {Key: "arch", Values: []string{"mlp"}}}
	started := 0
	countStarts := func(ev experiment.Event) {
		if ev.Kind == experiment.EventStart || ev.Kind == experiment.EventResume {
			started++
		}
	}
	var rowsSeen []int
	spec := Spec{Experiment: digits.Name, Set: smallDigits(), Grid: grid, Seeds: 2, Dir: dir, Backend: b,
		Progress: countStarts, OnRow: func(i int, tab *Table) { rowsSeen = append(rowsSeen, len(tab.Rows)) }}
	tab, err := Run(context.Background(), spec)
	if err != nil {
		t.Fatalf("ablation: %v", err)
	}
	if started != 4 || len(tab.Rows) != 2 || !reflect.DeepEqual(rowsSeen, []int{1, 2}) {
		t.Fatalf("started %d runs (want 4), rows %d, OnRow saw %v", started, len(tab.Rows), rowsSeen)
	}
	for i, r := range tab.Rows {
		if r.Values[0] != grid[0].Values[i] || len(r.Summary.Seeds) != 2 {
			t.Errorf("row %d: %v seeds %v", i, r.Values, r.Summary.Seeds)
		}
		var cfg digits.Config
		if err := jsonInto(r.Summary.Config, &cfg); err != nil || strconv.Itoa(cfg.Hidden) != r.Values[0] || cfg.TrainSize != 384 {
			t.Errorf("row %d config %+v (%v)", i, cfg, err)
		}
		if acc := r.Summary.Final["acc"].Mean; acc < 0.25 {
			t.Errorf("row %d accuracy %.3f: two epochs on seven-segment digits should beat chance (0.1) by far", i, acc)
		}
		t.Logf("row %v: %s", r.Values, r.Summary.Final["acc"])
	}

	// The same grid with a third seed trains only the new seed of each point.
	started = 0
	spec.Seeds = 3
	tab3, err := Run(context.Background(), spec)
	if err != nil {
		t.Fatalf("ablation with 3 seeds: %v", err)
	}
	if started != 2 {
		t.Errorf("3-seed rerun started %d runs, want 2 (the done ones are skipped)", started)
	}
	for i := range tab3.Rows {
		if tab3.Rows[i].Summary.Final["acc"].Values[0] != tab.Rows[i].Summary.Final["acc"].Values[0] {
			t.Errorf("row %d: seed 0 changed between runs", i)
		}
	}

	// Interrupted in the middle of a grid, the rows done so far come back with the error, and
	// the next start resumes the cut run rather than starting it over.
	started = 0
	ctx, cancel := context.WithCancel(context.Background())
	spec2 := spec
	spec2.Grid = []Axis{{Key: "hidden", Values: []string{"24", "40"}}}
	spec2.Seeds = 1
	spec2.Progress = func(ev experiment.Event) {
		if ev.Kind == experiment.EventStep && ev.Step == 3 {
			cancel()
		}
	}
	part, err := Run(ctx, spec2)
	// hidden=24 seed 0 is already done (skipped, no steps), so the cancel hits hidden=40.
	if !errors.Is(err, context.Canceled) || part == nil || len(part.Rows) != 1 {
		t.Fatalf("interrupted grid: %d rows, err %v", len(part.Rows), err)
	}
	var resumedAt []int
	spec2.Progress = func(ev experiment.Event) {
		if ev.Kind == experiment.EventResume {
			resumedAt = append(resumedAt, ev.Step)
		}
	}
	full, err := Run(context.Background(), spec2)
	if err != nil || len(full.Rows) != 2 {
		t.Fatalf("resumed grid: %v", err)
	}
	if !reflect.DeepEqual(resumedAt, []int{3}) {
		t.Errorf("resumed at steps %v, want [3]", resumedAt)
	}
	if full.Rows[0].Summary.Final["acc"].Mean != tab.Rows[0].Summary.Final["acc"].Values[0] {
		t.Errorf("hidden=24 seed 0 should be the run of the first grid")
	}

	// Files: CSV numbers equal the summaries, Markdown shows mean ± std, one SVG per metric.
	files, err := tab3.WriteFiles(ResultsDir(spec, tab3))
	if err != nil {
		t.Fatalf("write files: %v", err)
	}
	f, _ := os.Open(files.CSV)
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 3 {
		t.Fatalf("csv: %v %v", rows, err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for i, r := range tab3.Rows {
		st := r.Summary.Final["acc"]
		mean, _ := strconv.ParseFloat(rows[i+1][col["test_acc_mean"]], 64)
		std, _ := strconv.ParseFloat(rows[i+1][col["test_acc_std"]], 64)
		if math.Abs(mean-st.Mean) > 1e-6 || math.Abs(std-st.Std) > 1e-6 || rows[i+1][col["n"]] != "3" ||
			rows[i+1][col["hidden"]] != r.Values[0] {
			t.Errorf("csv row %d: %v vs %v", i, rows[i+1], st)
		}
	}
	md, _ := os.ReadFile(files.Markdown)
	if !strings.Contains(string(md), "| hidden | arch | test loss | test acc |") ||
		!strings.Contains(string(md), tab3.Rows[1].Summary.Final["acc"].String()) {
		t.Errorf("markdown:\n%s", md)
	}
	svg, _ := os.ReadFile(files.Plots["acc"])
	if !strings.Contains(string(svg), "<svg") || !strings.Contains(string(svg), "hidden") ||
		!strings.Contains(string(svg), "arch=mlp") {
		t.Errorf("svg plot lacks the axis label or legend (%d bytes)", len(svg))
	}
}

func TestSpecErrors(t *testing.T) {
	if _, err := Run(context.Background(), Spec{Experiment: "no-such"}); err == nil ||
		!strings.Contains(err.Error(), digits.Name) {
		t.Errorf("unknown experiment error should list the registered ones: %v", err)
	}
	_, err := Run(context.Background(), Spec{Experiment: digits.Name, Grid: []Axis{{Key: "hiden", Values: []string{"1"}}}})
	if err == nil || !strings.Contains(err.Error(), "hiden") {
		t.Errorf("a misspelt grid key must fail before training: %v", err)
	}
	_, err = Run(context.Background(), Spec{Experiment: digits.Name, Grid: []Axis{{Key: "hidden", Values: []string{"x"}}}})
	if err == nil {
		t.Errorf("an unparsable grid value must fail before training")
	}
}
