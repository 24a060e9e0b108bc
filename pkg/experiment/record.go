package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
)

// Status of a run in its [Record].
const (
	StatusRunning     = "running"     // started, or killed before it could say otherwise
	StatusInterrupted = "interrupted" // its context was cancelled; the next start resumes it
	StatusFailed      = "failed"      // an error stopped it; the next start resumes it
	StatusDone        = "done"        // finished: final metrics are in; the next start skips it
)

// Record is what a run leaves behind in record.json: enough to know what was run, where, on
// which code, and what came out. It is rewritten atomically at every checkpoint, so after a
// crash it describes exactly the state the run resumes from.
type Record struct {
	// Experiment is the registered name of the experiment.
	Experiment string `json:"experiment"`
	// ConfigID is [ConfigID] of Config; with Seed it names the run directory.
	ConfigID string `json:"config_id"`
	// Config is the full config of the run.
	Config json.RawMessage `json:"config"`
	// Seed seeds variable initialisation, dropout and the data shuffle.
	Seed int64 `json:"seed"`
	// Backend is the GoMLX backend name ("xla", "go", ...) and BackendDescription its details.
	Backend            string `json:"backend"`
	BackendDescription string `json:"backend_description"`
	// Device describes device 0 of the backend.
	Device string `json:"device"`
	// GitCommit is the commit of the working tree the run was started from ("+dirty" when it
	// had uncommitted changes), or "unknown".
	GitCommit string `json:"git_commit"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"go_version"`

	// Status is one of the Status* constants.
	Status string `json:"status"`
	// Error holds the error that stopped a failed or interrupted run.
	Error string `json:"error,omitempty"`
	// Started is when the run was first started; Finished when it reached StatusDone.
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished,omitempty"`
	// WallSeconds is the wall time of the work this record reflects, summed over sessions
	// (work done after the last checkpoint of a killed session is redone and counted once).
	WallSeconds float64 `json:"wall_seconds"`
	// Sessions lists each start of the run: the first and every resume.
	Sessions []Session `json:"sessions"`
	// Notes are what the runner had to repair: a corrupt record or checkpoint it moved aside
	// (and where it kept it) before going on.
	Notes []string `json:"notes,omitempty"`

	// Step is the number of training steps done (the optimizer's global step).
	Step int `json:"step"`
	// Epoch is the current epoch (epochs completed), EpochStep the batches done within it.
	Epoch     int `json:"epoch"`
	EpochStep int `json:"epoch_step"`
	// EpochLossSum accumulates the batch losses of the current epoch, for its mean.
	EpochLossSum float64 `json:"epoch_loss_sum"`

	// Steps holds the training loss every Train.LogEvery steps.
	Steps []StepPoint `json:"steps"`
	// Epochs holds one point per finished epoch.
	Epochs []EpochPoint `json:"epochs"`
	// Best is the best validation result so far and the checkpoint that holds it.
	Best *Best `json:"best,omitempty"`
	// Final holds the metrics of the best checkpoint on FinalSplit ("test", or "val" when the
	// experiment has no test set).
	Final      map[string]float64 `json:"final,omitempty"`
	FinalSplit string             `json:"final_split,omitempty"`
}

// Session is one process's (or one call's) share of a run.
type Session struct {
	Started  time.Time `json:"started"`
	FromStep int       `json:"from_step"`
	Resumed  bool      `json:"resumed"`
}

// StepPoint is the training loss after a step.
type StepPoint struct {
	Step  int     `json:"step"`
	Epoch int     `json:"epoch"`
	Loss  float64 `json:"loss"`
}

// EpochPoint is the summary of a finished epoch.
type EpochPoint struct {
	Epoch     int                `json:"epoch"`
	Step      int                `json:"step"`
	TrainLoss float64            `json:"train_loss"`
	Val       map[string]float64 `json:"val"`
	// Seconds is the run's wall time when the epoch finished.
	Seconds float64 `json:"seconds"`
}

// Best names the best validation result of a run.
type Best struct {
	Epoch  int     `json:"epoch"`
	Step   int     `json:"step"`
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	// Checkpoint is the checkpoint directory, relative to the run directory.
	Checkpoint string `json:"checkpoint"`
}

// ReadRecord reads the record.json of a run directory.
func ReadRecord(runDir string) (*Record, error) {
	return readRecordFile(filepath.Join(runDir, recordFile))
}

func readRecordFile(path string) (*Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read run record: %w", err)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, &corruptError{what: "decode run record " + path, err: err}
	}
	return &r, nil
}

const recordFile = "record.json"

// writeJSONAtomic writes v as indented JSON to path through a temporary file in the same
// directory, synced and renamed over path: a reader (or a process restarted after a kill)
// sees either the old file or the new one, never a torn one.
func writeJSONAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return writeFileAtomic(path, append(data, '\n'))
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	cleanup := func() { _ = os.Remove(tmp) }
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		cleanup()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		_ = f.Close()
		cleanup()
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		cleanup()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		cleanup()
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		cleanup()
		return fmt.Errorf("rename %s to %s: %w", tmp, path, err)
	}
	return syncDir(dir)
}

// syncDir makes a rename or create in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// GitCommit is [GitCommitIn] of the current directory: what a run's record names as its code.
// It is computed at every call (two git commands, milliseconds), not once per process: the
// notebook kernel's runner lives for a whole session, and a record made after the user
// committed or edited files must say so.
func GitCommit() string { return GitCommitIn("") }

// GitCommitIn returns the commit checked out in the repository that holds dir ("" means the
// current directory), with "+dirty" when tracked files differ from it. Outside a repository it
// falls back, for the current directory only, to the VCS stamp Go embeds in binaries, and then
// to "unknown".
func GitCommitIn(dir string) string {
	git := func(args ...string) ([]byte, error) {
		if dir != "" {
			args = append([]string{"-C", dir}, args...)
		}
		return exec.Command("git", args...).Output()
	}
	if out, err := git("rev-parse", "HEAD"); err == nil {
		commit := strings.TrimSpace(string(out))
		if st, err := git("status", "--porcelain", "--untracked-files=no"); err == nil &&
			len(strings.TrimSpace(string(st))) > 0 {
			commit += "+dirty"
		}
		return commit
	}
	if dir != "" {
		return "unknown"
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		var rev string
		var dirty bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			if dirty {
				rev += "+dirty"
			}
			return rev
		}
	}
	return "unknown"
}
