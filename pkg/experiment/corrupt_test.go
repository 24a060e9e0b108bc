package experiment

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gostudy/gostudy/pkg/backend/backendtest"
)

// cutRun trains cfg with seed until step `at`, then cancels it: the run is left with a
// resumable checkpoint at that step.
func cutRun(t *testing.T, e *Experiment[blobConfig], cfg blobConfig, dir string, seed int64, at int) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := e.Run(ctx, cfg, Options{Dir: dir, Seed: seed, Backend: backendtest.Go(t), Progress: func(ev Event) {
		if ev.Kind == EventStep && ev.Step == at {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cut run: %v", err)
	}
	id, _ := ConfigID(cfg)
	return RunDir(dir, e.Name, id, seed)
}

func TestCorruptCheckpointIsQuarantinedAndTheRunRestarts(t *testing.T) {
	e := newBlobExperiment("corrupt-ckpt")
	cfg := killConfig()
	ref, err := e.Run(context.Background(), cfg, Options{Dir: t.TempDir(), Seed: 2, Backend: backendtest.Go(t)})
	if err != nil {
		t.Fatalf("reference run: %v", err)
	}
	corruptions := map[string]func(t *testing.T, ckpt string){
		// A checkpoint whose values file lost its tail (a disk that filled up, a bad copy).
		"truncated values": func(t *testing.T, ckpt string) {
			bins, _ := filepath.Glob(filepath.Join(ckpt, "checkpoint-*.bin"))
			if len(bins) != 1 {
				t.Fatalf("checkpoint files: %v", bins)
			}
			if err := os.Truncate(bins[0], 10); err != nil {
				t.Fatal(err)
			}
		},
		// A checkpoint whose run record is garbage.
		"garbage record": func(t *testing.T, ckpt string) {
			if err := os.WriteFile(filepath.Join(ckpt, recordFile), []byte("\x00\x01not json"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		// A checkpoint directory with its files gone.
		"empty directory": func(t *testing.T, ckpt string) {
			entries, _ := os.ReadDir(ckpt)
			for _, en := range entries {
				os.Remove(filepath.Join(ckpt, en.Name()))
			}
		},
	}
	for name, corrupt := range corruptions {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			runDir := cutRun(t, e, cfg, dir, 2, 25) // checkpoint at step 20
			ckpts, _ := filepath.Glob(filepath.Join(runDir, ckptDirName, ckptPrefix+"*"))
			if len(ckpts) != 1 {
				t.Fatalf("checkpoints after the cut: %v", ckpts)
			}
			corrupt(t, ckpts[0])
			var kinds []EventKind
			var detail string
			rec, err := e.Run(context.Background(), cfg, Options{Dir: dir, Seed: 2, Backend: backendtest.Go(t),
				Progress: func(ev Event) {
					if ev.Kind == EventStep {
						return
					}
					kinds = append(kinds, ev.Kind)
					if ev.Kind == EventCorrupt {
						detail = ev.Detail
					}
				}})
			if err != nil {
				t.Fatalf("a corrupt checkpoint must not stop the run: %v", err)
			}
			if len(kinds) < 2 || kinds[0] != EventCorrupt || kinds[1] != EventStart {
				t.Errorf("events %v: want a corrupt report, then a fresh start", kinds)
			}
			kept, _ := filepath.Glob(filepath.Join(runDir, "checkpoint.corrupt-*"))
			if len(kept) != 1 {
				t.Fatalf("quarantined checkpoints: %v", kept)
			}
			if !strings.Contains(detail, kept[0]) || !strings.Contains(detail, filepath.Base(ckpts[0])) {
				t.Errorf("the report %q should name the bad checkpoint and where it was kept (%s)", detail, kept[0])
			}
			if len(rec.Notes) != 1 || !strings.Contains(rec.Notes[0], kept[0]) {
				t.Errorf("the record should note the quarantine: %q", rec.Notes)
			}
			if len(rec.Sessions) != 1 || rec.Sessions[0].Resumed {
				t.Errorf("sessions %+v: the run starts over", rec.Sessions)
			}
			assertSameResults(t, rec, ref)
			// The next start finds a done run: nothing is reported or trained again.
			kinds = nil
			if _, err := e.Run(context.Background(), cfg, Options{Dir: dir, Seed: 2, Backend: backendtest.Go(t),
				Progress: func(ev Event) { kinds = append(kinds, ev.Kind) }}); err != nil || len(kinds) != 1 || kinds[0] != EventSkip {
				t.Errorf("rerun: %v, events %v", err, kinds)
			}
		})
	}
}

func TestCorruptRecordOfADoneRunIsReportedAndKept(t *testing.T) {
	e := newBlobExperiment("corrupt-record")
	cfg := blobDefaults()
	dir := t.TempDir()
	ref, err := e.Run(context.Background(), cfg, Options{Dir: dir, Seed: 4, Backend: backendtest.Go(t)})
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	id, _ := ConfigID(cfg)
	runDir := RunDir(dir, e.Name, id, 4)
	garbage := []byte(`{"experiment": "corrupt-record", "status": "do`)
	if err := os.WriteFile(filepath.Join(runDir, recordFile), garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	var reports []Event
	rec, err := e.Run(context.Background(), cfg, Options{Dir: dir, Seed: 4, Backend: backendtest.Go(t),
		Progress: func(ev Event) {
			if ev.Kind == EventCorrupt {
				reports = append(reports, ev)
			}
		}})
	if err != nil {
		t.Fatalf("retrain: %v", err)
	}
	if len(reports) != 1 || !strings.Contains(reports[0].Detail, "record.json") {
		t.Fatalf("the corrupt record must be reported, got %+v", reports)
	}
	kept, _ := filepath.Glob(filepath.Join(runDir, "record.corrupt-*.json"))
	if len(kept) != 1 {
		t.Fatalf("kept records: %v", kept)
	}
	if data, _ := os.ReadFile(kept[0]); !bytes.Equal(data, garbage) {
		t.Errorf("the kept file must be the corrupt one, byte for byte")
	}
	if !strings.Contains(reports[0].Detail, kept[0]) {
		t.Errorf("report %q does not say where the file was kept", reports[0].Detail)
	}
	assertSameResults(t, rec, ref)
}

func TestResetRunDiscardsStateUnderTheLock(t *testing.T) {
	e := newBlobExperiment("reset")
	cfg := blobDefaults()
	dir := t.TempDir()
	if _, err := e.Run(context.Background(), cfg, Options{Dir: dir, Seed: 0, Backend: backendtest.Go(t)}); err != nil {
		t.Fatal(err)
	}
	id, _ := ConfigID(cfg)
	runDir := RunDir(dir, e.Name, id, 0)
	if err := ResetRun(runDir); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if _, err := ReadRecord(runDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after a reset the record must be gone: %v", err)
	}
	var kinds []EventKind
	if _, err := e.Run(context.Background(), cfg, Options{Dir: dir, Seed: 0, Backend: backendtest.Go(t),
		Progress: func(ev Event) {
			if ev.Kind != EventStep {
				kinds = append(kinds, ev.Kind)
			}
		}}); err != nil || kinds[0] != EventStart {
		t.Errorf("a reset run trains from the start: %v %v", err, kinds)
	}
	if err := ResetRun(filepath.Join(dir, "not-a-run")); err != nil {
		t.Errorf("resetting a run that never started is a no-op: %v", err)
	}
}
