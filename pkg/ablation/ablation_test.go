package ablation

import (
	"context"
	"encoding/csv"
	"errors"
	"math"
	"os"
	"path/filepath"
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

func TestSpecRejectsOutOfRangeSeeds(t *testing.T) {
	for _, spec := range []Spec{
		{Experiment: digits.Name, Seeds: -3},
		{Experiment: digits.Name, Seeds: MaxSeeds + 1},
		{Experiment: digits.Name, Seeds: 2, FirstSeed: -1},
	} {
		if _, err := Run(context.Background(), spec); err == nil || !strings.Contains(err.Error(), "seed") {
			t.Errorf("seeds %d first %d: want an error before training, got %v", spec.Seeds, spec.FirstSeed, err)
		}
	}
	_, err := Run(context.Background(), Spec{Experiment: digits.Name, Grid: []Axis{{Key: "jitter", Values: []string{"1", "5"}}}})
	if err == nil || !strings.Contains(err.Error(), "jitter=5") {
		t.Errorf("a grid point the experiment rejects must fail before training, naming it: %v", err)
	}
}

// failingSeed is digits with the runs of one seed failing, as a run with a bug or a broken
// node would.
type failingSeed struct {
	experiment.Runnable
	seed int64
}

func (f failingSeed) RunConfig(ctx context.Context, cfg any, opts experiment.Options) (*experiment.Record, error) {
	if opts.Seed == f.seed {
		return nil, errors.New("simulated failure")
	}
	return f.Runnable.RunConfig(ctx, cfg, opts)
}

func TestAFailedRunDoesNotStopTheGrid(t *testing.T) {
	d, err := experiment.Lookup(digits.Name)
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Runnable: failingSeed{d, 1}, Set: smallDigits(), Seeds: 2, Dir: t.TempDir(), Backend: backendtest.Go(t),
		Grid: []Axis{{Key: "hidden", Values: []string{"16", "32"}}}}
	tab, err := Run(context.Background(), spec)
	if err == nil || !strings.Contains(err.Error(), "2 of 4 runs failed") || !strings.Contains(err.Error(), "simulated failure") {
		t.Fatalf("want the failures reported, got %v", err)
	}
	if tab == nil || len(tab.Rows) != 2 {
		t.Fatalf("both rows must be there: %+v", tab)
	}
	for i, r := range tab.Rows {
		if len(r.Summary.Seeds) != 1 || r.Summary.Seeds[0] != 0 || len(r.Missing) != 1 || r.Missing[0].Seed != 1 ||
			r.Missing[0].Index != 2*i+1 {
			t.Errorf("row %d: seeds %v, missing %+v", i, r.Summary.Seeds, r.Missing)
		}
	}
	md := tab.Markdown()
	if !strings.Contains(md, "| 1 (1 missing) |") || !strings.Contains(md, "Missing runs") ||
		!strings.Contains(md, "hidden=32 seed 1 (run 3, ") || !strings.Contains(md, "simulated failure") {
		t.Errorf("the table must mark the missing runs:\n%s", md)
	}
	var csvText strings.Builder
	if err := tab.WriteCSV(&csvText); err != nil {
		t.Fatal(err)
	}
	rows, _ := csv.NewReader(strings.NewReader(csvText.String())).ReadAll()
	if last := len(rows[0]) - 1; rows[0][last] != "missing_seeds" || rows[1][last] != "1" || rows[1][1] == "" {
		t.Errorf("csv: %v", rows)
	}
	// Collect, with nothing trained, gives the same rows and the same gaps.
	plan, err := NewPlan(spec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := plan.Collect()
	if err != nil {
		t.Fatal(err)
	}
	for i := range got.Rows {
		if !reflect.DeepEqual(got.Rows[i].Summary.Final, tab.Rows[i].Summary.Final) || len(got.Rows[i].Missing) != 1 ||
			got.Rows[i].Missing[0].Reason != "not started" {
			t.Errorf("collect row %d: %+v missing %+v", i, got.Rows[i].Summary.Final, got.Rows[i].Missing)
		}
	}
	if !reflect.DeepEqual(plan.Pending(), []int{1, 3}) {
		t.Errorf("pending %v, want [1 3]", plan.Pending())
	}
}

// TestCorruptCheckpointDoesNotBlockTheGrid is issue 13 item 9: before, one run's corrupt
// checkpoint failed the whole ablation on every rerun.
func TestCorruptCheckpointDoesNotBlockTheGrid(t *testing.T) {
	dir := t.TempDir()
	set := smallDigits()
	set["checkpoint_every"] = "5"
	spec := Spec{Experiment: digits.Name, Set: set, Seeds: 1, Dir: dir, Backend: backendtest.Go(t),
		Grid: []Axis{{Key: "hidden", Values: []string{"16", "32"}}}}
	ref, err := Run(context.Background(), Spec{Experiment: digits.Name, Set: set, Seeds: 1, Dir: t.TempDir(),
		Backend: backendtest.Go(t), Grid: spec.Grid})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cut := spec
	cut.Progress = func(ev experiment.Event) {
		if ev.Kind == experiment.EventStep && ev.Step == 7 {
			cancel()
		}
	}
	if _, err := Run(ctx, cut); !errors.Is(err, context.Canceled) {
		t.Fatalf("cut: %v", err)
	}
	plan, _ := NewPlan(spec)
	bins, _ := filepath.Glob(filepath.Join(plan.Runs[0].Dir, "ckpt", "step-*", "*.bin"))
	if len(bins) != 1 {
		t.Fatalf("checkpoint of the cut run: %v", bins)
	}
	if err := os.WriteFile(bins[0], []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	var corrupt []string
	spec.Progress = func(ev experiment.Event) {
		if ev.Kind == experiment.EventCorrupt {
			corrupt = append(corrupt, ev.Detail)
		}
	}
	tab, err := Run(context.Background(), spec)
	if err != nil {
		t.Fatalf("a corrupt checkpoint must not fail the grid: %v", err)
	}
	if len(corrupt) != 1 || !strings.Contains(corrupt[0], "checkpoint.corrupt-") {
		t.Errorf("reports %q", corrupt)
	}
	for i := range tab.Rows {
		if !reflect.DeepEqual(tab.Rows[i].Summary.Final, ref.Rows[i].Summary.Final) {
			t.Errorf("row %d: %v, want the uninterrupted %v", i, tab.Rows[i].Summary.Final, ref.Rows[i].Summary.Final)
		}
	}
}

func TestRetrainSelectsRuns(t *testing.T) {
	dir := t.TempDir()
	spec := Spec{Experiment: digits.Name, Set: smallDigits(), Seeds: 2, Dir: dir, Backend: backendtest.Go(t),
		Grid: []Axis{{Key: "hidden", Values: []string{"16", "32"}}, {Key: "arch", Values: []string{"mlp", "cnn"}}}}
	plan, err := NewPlan(spec)
	if err != nil {
		t.Fatal(err)
	}
	r5 := plan.Runs[5] // hidden=32 arch=mlp seed 1
	for name, want := range map[string][]int{
		"5":                         {5},
		"hidden=32,arch=mlp,seed=1": {5},
		"hidden=32, seed=1":         {5, 7},
		"arch=cnn":                  {2, 3, 6, 7},
		r5.Dir:                      {5},
		r5.ConfigID + "/seed-1":     {5},
		r5.ConfigID:                 {4, 5},
	} {
		got, err := plan.Select(name)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Select(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	for _, bad := range []string{"8", "-1", "hiden=32", "hidden=48", "seed=x", "hidden=32,seed=9", "0123abcd/seed-0", ""} {
		if got, err := plan.Select(bad); err == nil {
			t.Errorf("Select(%q) = %v, want an error", bad, got)
		}
	}

	small := Spec{Experiment: digits.Name, Set: smallDigits(), Seeds: 2, Dir: dir, Backend: backendtest.Go(t),
		Grid: []Axis{{Key: "hidden", Values: []string{"16"}}}}
	first, err := Run(context.Background(), small)
	if err != nil {
		t.Fatal(err)
	}
	var starts []int64
	small.Retrain = []string{"seed=1"}
	small.Progress = func(ev experiment.Event) {
		if ev.Kind == experiment.EventStart || ev.Kind == experiment.EventResume {
			starts = append(starts, ev.Seed)
		}
	}
	again, err := Run(context.Background(), small)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(starts, []int64{1}) {
		t.Errorf("retrained seeds %v, want [1]", starts)
	}
	if !reflect.DeepEqual(again.Rows[0].Summary.Final, first.Rows[0].Summary.Final) {
		t.Errorf("a retrained run is the same run: %v vs %v", again.Rows[0].Summary.Final, first.Rows[0].Summary.Final)
	}
	small.Retrain = []string{"seed=7"}
	if _, err := Run(context.Background(), small); err == nil || !strings.Contains(err.Error(), "matches no run") {
		t.Errorf("a retrain name that matches nothing: %v", err)
	}
}

// TestTwoTrainersNeverShareARun: a second process (here a second Plan) asked to train a run
// that is being trained fails at once, naming the reason, and the run finishes once.
func TestTwoTrainersNeverShareARun(t *testing.T) {
	dir := t.TempDir()
	spec := Spec{Experiment: digits.Name, Set: smallDigits(), Seeds: 1, Dir: dir, Backend: backendtest.Go(t)}
	inside, release := make(chan bool), make(chan bool)
	first := spec
	first.Progress = func(ev experiment.Event) {
		if ev.Kind == experiment.EventStep && ev.Step == 2 {
			inside <- true
			<-release
		}
	}
	p1, err := NewPlan(first)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := p1.Train(context.Background(), 0)
		done <- err
	}()
	<-inside
	p2, _ := NewPlan(spec)
	if _, err := p2.Train(context.Background(), 0); err == nil || !strings.Contains(err.Error(), "being trained by another") {
		t.Errorf("a second trainer of the same run: %v", err)
	}
	if err := p2.Reset(0); err == nil {
		t.Errorf("a run being trained must not be reset under its trainer")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("first trainer: %v", err)
	}
	if !p2.Done(0) {
		t.Errorf("the run should be done")
	}
}
