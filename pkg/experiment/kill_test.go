package experiment

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gostudy/gostudy/pkg/backend/backendtest"
)

// The kill tests run a repeat of two seeds in a child process (this test binary, re-executed
// with TestKillHelper selected), let it reach a chosen point of the second seed, SIGKILL it,
// and resume in this process. Nothing depends on timing: the child announces the point on its
// stdout and then blocks until it is killed.

const (
	killEnvDir  = "GOSTUDY_KILL_HELPER_DIR"
	killEnvMode = "GOSTUDY_KILL_HELPER_MODE"
	killReady   = "KILL-HELPER-READY"
)

func killConfig() blobConfig {
	cfg := blobDefaults()
	cfg.CheckpointEvery = 10 // checkpoints at steps 10, 16 (epoch end), 20, 30, 32, 40
	return cfg
}

// TestKillHelper is the child's body; it does nothing in a normal test run.
func TestKillHelper(t *testing.T) {
	dir, mode := os.Getenv(killEnvDir), os.Getenv(killEnvMode)
	if dir == "" {
		t.Skip("child process of the kill -9 tests only")
	}
	block := func() {
		fmt.Println(killReady)
		os.Stdout.Sync()
		select {} // wait for SIGKILL
	}
	progress := func(Event) {}
	switch mode {
	case "mid-epoch":
		// Killed after step 27 of seed 7: the last checkpoint is step 20, steps 21-27 are lost
		// and must be redone.
		progress = func(ev Event) {
			if ev.Seed == 7 && ev.Kind == EventStep && ev.Step == 27 {
				block()
			}
		}
	case "torn-write":
		// Killed while the step-30 checkpoint of seed 7 is written but not yet published.
		checkpointWrittenHook = func(tmp string) {
			if strings.Contains(tmp, "seed-7") && strings.Contains(tmp, ckptPrefix+"000000030") {
				block()
			}
		}
	default:
		t.Fatalf("unknown mode %q", mode)
	}
	e := newBlobExperiment("kill")
	_, err := e.Repeat(context.Background(), killConfig(), []int64{6, 7}, Options{Dir: dir, Backend: backendtest.Go(t), Progress: progress})
	t.Fatalf("child was not killed; repeat returned %v", err)
}

func TestKillNineResumes(t *testing.T) {
	b := backendtest.Go(t)
	e := newBlobExperiment("kill")
	cfg := killConfig()
	ref, err := e.Run(context.Background(), cfg, Options{Dir: t.TempDir(), Seed: 7, Backend: b})
	if err != nil {
		t.Fatalf("reference run: %v", err)
	}
	id, _ := ConfigID(cfg)
	for _, mode := range []string{"mid-epoch", "torn-write"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			runUntilKilled(t, dir, mode)

			seed6 := RunDir(dir, "kill", id, 6)
			seed7 := RunDir(dir, "kill", id, 7)
			done6, err := os.ReadFile(filepath.Join(seed6, recordFile))
			if err != nil {
				t.Fatalf("the finished seed's record is missing: %v", err)
			}
			killed, err := ReadRecord(seed7)
			if err != nil || killed.Status != StatusRunning {
				t.Fatalf("killed run's record: %v %+v", err, killed)
			}
			wantStep := 20 // the last published checkpoint before the kill
			if killed.Step != wantStep {
				t.Errorf("killed run's record is at step %d, want %d (its last checkpoint)", killed.Step, wantStep)
			}
			if mode == "torn-write" {
				// Tear the unpublished write further, as a kill inside the write would.
				tmps, _ := filepath.Glob(filepath.Join(seed7, ckptDirName, tmpPrefix+"*"))
				if len(tmps) != 1 {
					t.Fatalf("want one unpublished checkpoint dir, got %v", tmps)
				}
				jsons, _ := filepath.Glob(filepath.Join(tmps[0], "checkpoint-*.json"))
				if len(jsons) != 1 {
					t.Fatalf("unpublished checkpoint files: %v", jsons)
				}
				if err := os.WriteFile(jsons[0], []byte(`{"Params": [`), 0o644); err != nil {
					t.Fatal(err)
				}
			}

			var events []Event
			sum, err := e.Repeat(context.Background(), cfg, []int64{6, 7}, Options{Dir: dir, Backend: b,
				Progress: func(ev Event) {
					if ev.Kind != EventStep {
						events = append(events, ev)
					}
				}})
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if events[0].Kind != EventSkip || events[0].Seed != 6 {
				t.Errorf("seed 6 should be skipped as done, first event %+v", events[0])
			}
			if events[1].Kind != EventResume || events[1].Seed != 7 || events[1].Step != wantStep {
				t.Errorf("seed 7 should resume at step %d, got %+v", wantStep, events[1])
			}
			after6, _ := os.ReadFile(filepath.Join(seed6, recordFile))
			if !bytes.Equal(done6, after6) {
				t.Errorf("the finished run's record changed")
			}
			rec7 := sum.Records[1]
			if len(rec7.Sessions) != 2 || !rec7.Sessions[1].Resumed || rec7.Sessions[1].FromStep != wantStep {
				t.Errorf("sessions %+v", rec7.Sessions)
			}
			assertSameResults(t, rec7, ref)
			if left, _ := filepath.Glob(filepath.Join(seed7, "*", tmpPrefix+"*")); len(left) != 0 {
				t.Errorf("leftovers of the killed write remain: %v", left)
			}
		})
	}
}

// runUntilKilled starts the child, waits for its ready line and kills it with SIGKILL.
func runUntilKilled(t *testing.T, dir, mode string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), killEnvDir+"="+dir, killEnvMode+"="+mode)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	ready := make(chan bool, 1)
	var lines []string
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if sc.Text() == killReady {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	// The bound only keeps a broken child from hanging the suite; the kill point itself is
	// chosen by the child, not by a clock.
	select {
	case ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("child ended before reaching the kill point:\n%s\n%s", strings.Join(lines, "\n"), stderr.String())
		}
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("child did not reach the kill point")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
		t.Fatalf("kill child: %v", err)
	}
	_ = cmd.Wait()
	if cmd.ProcessState.String() != "signal: killed" {
		t.Fatalf("child state %q, want killed by SIGKILL", cmd.ProcessState)
	}
}
