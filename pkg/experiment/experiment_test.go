package experiment

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gofrs/flock"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/backend/backendtest"
)

func TestRunTrainsRecordsAndSkipsWhenDone(t *testing.T) {
	b := backendtest.Go(t)
	e := newBlobExperiment("blobs")
	cfg := blobDefaults()
	dir := t.TempDir()
	var kinds []EventKind
	steps := 0
	rec, err := e.Run(context.Background(), cfg, Options{Dir: dir, Seed: 1, Backend: b,
		Progress: func(ev Event) {
			if ev.Kind == EventStep {
				steps++
				return
			}
			kinds = append(kinds, ev.Kind)
		}})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	// 256 examples, batch 16, 3 epochs.
	if rec.Step != 48 || steps != 48 {
		t.Errorf("steps: record %d, events %d, want 48", rec.Step, steps)
	}
	if rec.Status != StatusDone || rec.FinalSplit != "test" {
		t.Errorf("status %q split %q", rec.Status, rec.FinalSplit)
	}
	if len(rec.Epochs) != 3 || len(rec.Steps) != 24 {
		t.Errorf("epochs %d (want 3), step points %d (want 24)", len(rec.Epochs), len(rec.Steps))
	}
	if acc := rec.Final["acc"]; acc < 0.85 {
		t.Errorf("final test accuracy %.3f, want >= 0.85 on well separated blobs", acc)
	}
	if l := rec.Final["loss"]; !(l > 0 && l < 0.6) {
		t.Errorf("final test loss %.3f, want in (0, 0.6)", l)
	}
	// The loss must fall: last epoch's mean training loss well below the first's.
	if first, last := rec.Epochs[0].TrainLoss, rec.Epochs[2].TrainLoss; !(last < 0.7*first) {
		t.Errorf("train loss did not fall: epoch 0 %.3f, epoch 2 %.3f", first, last)
	}
	if rec.Best == nil || rec.Best.Metric != "acc" {
		t.Fatalf("best: %+v", rec.Best)
	}
	// The best checkpoint is the epoch with the highest validation accuracy (first one on ties).
	bestEpoch := 0
	for i, ep := range rec.Epochs {
		if ep.Val["acc"] > rec.Epochs[bestEpoch].Val["acc"] {
			bestEpoch = i
		}
	}
	if rec.Best.Epoch != bestEpoch || rec.Best.Value != rec.Epochs[bestEpoch].Val["acc"] {
		t.Errorf("best = epoch %d (%.4f), want epoch %d (%.4f)", rec.Best.Epoch, rec.Best.Value,
			bestEpoch, rec.Epochs[bestEpoch].Val["acc"])
	}
	id, _ := ConfigID(cfg)
	runDir := RunDir(dir, "blobs", id, 1)
	if _, err := os.Stat(filepath.Join(runDir, rec.Best.Checkpoint)); err != nil {
		t.Errorf("best checkpoint missing: %v", err)
	}
	if _, err := os.Stat(filepath.Join(runDir, ckptDirName)); !os.IsNotExist(err) {
		t.Errorf("resumable checkpoints of a done run should be gone, stat: %v", err)
	}
	if onDisk, err := ReadRecord(runDir); err != nil || !reflect.DeepEqual(onDisk.Final, rec.Final) {
		t.Errorf("record on disk: %v, final %v vs %v", err, onDisk.Final, rec.Final)
	}
	if rec.Backend == "" || rec.Device == "" || rec.GitCommit == "" || rec.WallSeconds <= 0 || len(rec.Sessions) != 1 {
		t.Errorf("record metadata incomplete: backend %q device %q commit %q wall %v sessions %d",
			rec.Backend, rec.Device, rec.GitCommit, rec.WallSeconds, len(rec.Sessions))
	}
	wantKinds := []EventKind{EventStart, EventBest, EventCheckpoint, EventEpoch}
	if !reflect.DeepEqual(kinds[:4], wantKinds) || kinds[len(kinds)-1] != EventDone {
		t.Errorf("events %v", kinds)
	}

	// The best checkpoint, evaluated again on the test set, gives the recorded final metrics.
	data, _ := e.Data(cfg, 1)
	again, err := EvaluateCheckpoint(context.Background(), b, e, cfg, filepath.Join(runDir, rec.Best.Checkpoint), data.Test)
	if err != nil {
		t.Fatalf("evaluate best: %v", err)
	}
	for k, v := range rec.Final {
		if math.Abs(again[k]-v) > 1e-6 {
			t.Errorf("re-evaluated %s = %v, recorded %v", k, again[k], v)
		}
	}

	// A second call finds the run done and trains nothing.
	var second []EventKind
	rec2, err := e.Run(context.Background(), cfg, Options{Dir: dir, Seed: 1, Backend: b,
		Progress: func(ev Event) { second = append(second, ev.Kind) }})
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if !reflect.DeepEqual(second, []EventKind{EventSkip}) || !reflect.DeepEqual(rec2.Final, rec.Final) {
		t.Errorf("second run events %v, final %v", second, rec2.Final)
	}
}

func TestDeterministicPerSeed(t *testing.T) {
	t.Run("go", func(t *testing.T) { testDeterministic(t, backendtest.Go(t)) })
	t.Run("xla", func(t *testing.T) { testDeterministic(t, backendtest.XLA(t)) })
}

func testDeterministic(t *testing.T, b compute.Backend) {
	e := newBlobExperiment("det")
	cfg := blobDefaults()
	cfg.Epochs = 2
	run := func(dir string, seed int64) *Record {
		rec, err := e.Run(context.Background(), cfg, Options{Dir: dir, Seed: seed, Backend: b})
		if err != nil {
			t.Fatalf("run seed %d: %v", seed, err)
		}
		return rec
	}
	a, a2, c := run(t.TempDir(), 5), run(t.TempDir(), 5), run(t.TempDir(), 6)
	if !reflect.DeepEqual(a.Steps, a2.Steps) || !reflect.DeepEqual(a.Final, a2.Final) ||
		!reflect.DeepEqual(a.Epochs[1].Val, a2.Epochs[1].Val) {
		t.Errorf("same seed, different results:\n%v\n%v", a.Final, a2.Final)
	}
	if reflect.DeepEqual(a.Steps, c.Steps) {
		t.Errorf("seeds 5 and 6 gave identical loss curves")
	}
}

func TestRepeatMeanStd(t *testing.T) {
	b := backendtest.Go(t)
	e := newBlobExperiment("rep")
	cfg := blobDefaults()
	cfg.Epochs = 1
	dir := t.TempDir()
	sum, err := e.Repeat(context.Background(), cfg, Seeds(3, 10), Options{Dir: dir, Backend: b})
	if err != nil {
		t.Fatalf("repeat: %v", err)
	}
	if !reflect.DeepEqual(sum.Seeds, []int64{10, 11, 12}) || len(sum.Records) != 3 {
		t.Fatalf("seeds %v records %d", sum.Seeds, len(sum.Records))
	}
	acc := sum.Final["acc"]
	var mean float64
	for i, r := range sum.Records {
		if acc.Values[i] != r.Final["acc"] {
			t.Errorf("value %d = %v, record says %v", i, acc.Values[i], r.Final["acc"])
		}
		mean += r.Final["acc"] / 3
	}
	var ss float64
	for _, r := range sum.Records {
		ss += (r.Final["acc"] - mean) * (r.Final["acc"] - mean)
	}
	if math.Abs(acc.Mean-mean) > 1e-12 || math.Abs(acc.Std-math.Sqrt(ss/2)) > 1e-12 {
		t.Errorf("stat %v, want mean %v std %v", acc, mean, math.Sqrt(ss/2))
	}
	// Different seeds train differently, so the losses spread.
	if sum.Final["loss"].Std <= 0 {
		t.Errorf("loss std %v over 3 seeds, want > 0", sum.Final["loss"].Std)
	}
	// Repeating again with one more seed trains only the new one.
	started := 0
	sum2, err := e.Repeat(context.Background(), cfg, Seeds(4, 10), Options{Dir: dir, Backend: b,
		Progress: func(ev Event) {
			if ev.Kind == EventStart || ev.Kind == EventResume {
				started++
			}
		}})
	if err != nil {
		t.Fatalf("repeat 2: %v", err)
	}
	if started != 1 || sum2.Final["acc"].N() != 4 || sum2.Final["acc"].Values[0] != acc.Values[0] {
		t.Errorf("second repeat started %d runs (want 1), n=%d", started, sum2.Final["acc"].N())
	}
}

func TestStat(t *testing.T) {
	s := NewStat([]float64{1, 2, 3, 4})
	if s.Mean != 2.5 || math.Abs(s.Std-1.2909944487358056) > 1e-12 {
		t.Errorf("stat %+v", s)
	}
	if one := NewStat([]float64{7}); one.Mean != 7 || one.Std != 0 {
		t.Errorf("single value stat %+v", one)
	}
	if got := NewStat([]float64{0.9, 0.92}).String(); got != "0.91 ± 0.014" {
		t.Errorf("String() = %q", got)
	}
}

func TestCancelStopsPromptlyAndResumes(t *testing.T) {
	b := backendtest.Go(t)
	e := newBlobExperiment("cancel")
	cfg := blobDefaults()
	dir := t.TempDir()
	ref, err := e.Run(context.Background(), cfg, Options{Dir: t.TempDir(), Seed: 3, Backend: b})
	if err != nil {
		t.Fatalf("reference run: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	stepsSeen := 0
	rec, err := e.Run(ctx, cfg, Options{Dir: dir, Seed: 3, Backend: b, Progress: func(ev Event) {
		if ev.Kind == EventStep {
			stepsSeen++
			if ev.Step == 21 { // mid-epoch 1 (16 steps per epoch)
				cancel()
			}
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run returned %v, want context.Canceled", err)
	}
	// Stopped right after the step during which it was cancelled, and saved it.
	if stepsSeen != 21 || rec.Step != 21 || rec.Status != StatusInterrupted {
		t.Fatalf("stopped after %d steps (record %d, %s), want 21", stepsSeen, rec.Step, rec.Status)
	}
	id, _ := ConfigID(cfg)
	onDisk, err := ReadRecord(RunDir(dir, "cancel", id, 3))
	if err != nil || onDisk.Step != 21 || onDisk.EpochStep != 5 || onDisk.Status != StatusInterrupted {
		t.Fatalf("record on disk: %v %+v", err, onDisk)
	}

	var first Event
	rec, err = e.Run(context.Background(), cfg, Options{Dir: dir, Seed: 3, Backend: b, Progress: func(ev Event) {
		if first.Kind == "" {
			first = ev
		}
	}})
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if first.Kind != EventResume || first.Step != 21 || len(rec.Sessions) != 2 || !rec.Sessions[1].Resumed {
		t.Errorf("resume event %+v, sessions %+v", first, rec.Sessions)
	}
	assertSameResults(t, rec, ref)
}

// assertSameResults checks that an interrupted-and-resumed run ended exactly like an
// uninterrupted one: same loss curve, same per-epoch validation, same final metrics.
func assertSameResults(t *testing.T, got, want *Record) {
	t.Helper()
	if !reflect.DeepEqual(got.Steps, want.Steps) {
		t.Errorf("loss curve differs:\n got %v\nwant %v", got.Steps, want.Steps)
	}
	if len(got.Epochs) != len(want.Epochs) {
		t.Fatalf("epochs %d, want %d", len(got.Epochs), len(want.Epochs))
	}
	for i := range got.Epochs {
		if !reflect.DeepEqual(got.Epochs[i].Val, want.Epochs[i].Val) || got.Epochs[i].TrainLoss != want.Epochs[i].TrainLoss {
			t.Errorf("epoch %d: got %v %v, want %v %v", i, got.Epochs[i].TrainLoss, got.Epochs[i].Val,
				want.Epochs[i].TrainLoss, want.Epochs[i].Val)
		}
	}
	if !reflect.DeepEqual(got.Final, want.Final) {
		t.Errorf("final %v, want %v", got.Final, want.Final)
	}
}

func TestRunIsLocked(t *testing.T) {
	e := newBlobExperiment("locked")
	cfg := blobDefaults()
	dir := t.TempDir()
	id, _ := ConfigID(cfg)
	runDir := RunDir(dir, "locked", id, 0)
	os.MkdirAll(runDir, 0o755)
	other := flock.New(filepath.Join(runDir, lockFile))
	if ok, err := other.TryLock(); !ok || err != nil {
		t.Fatalf("take the lock: %v", err)
	}
	if _, err := e.Run(context.Background(), cfg, Options{Dir: dir, Backend: backendtest.Go(t)}); err == nil ||
		!strings.Contains(err.Error(), "another process") {
		t.Errorf("a locked run must not be trained twice at once: %v", err)
	}
	other.Unlock()
	if _, err := e.Run(context.Background(), cfg, Options{Dir: dir, Backend: backendtest.Go(t)}); err != nil {
		t.Errorf("after unlock: %v", err)
	}
}

func TestPanickingModelFailsTheRun(t *testing.T) {
	e := newBlobExperiment("panics")
	e.Model = func(scope *model.Scope, cfg blobConfig, inputs []*graph.Node) []*graph.Node {
		// A shape error, reported the GoMLX way: by panicking while building the graph.
		return []*graph.Node{graph.Add(inputs[0], graph.Ones(inputs[0].Graph(), shapes.Make(dtypes.Float32, 3)))}
	}
	dir := t.TempDir()
	cfg := blobDefaults()
	rec, err := e.Run(context.Background(), cfg, Options{Dir: dir, Backend: backendtest.Go(t)})
	if err == nil || rec == nil || rec.Status != StatusFailed || rec.Error == "" {
		t.Fatalf("want a failed run with an error, got %v / %+v", err, rec)
	}
	id, _ := ConfigID(cfg)
	if onDisk, _ := ReadRecord(RunDir(dir, "panics", id, 0)); onDisk == nil || onDisk.Status != StatusFailed {
		t.Errorf("record on disk: %+v", onDisk)
	}
}
