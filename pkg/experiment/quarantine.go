package experiment

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"github.com/gomlx/gomlx/ml/model"
)

// A run's state on disk can be damaged in ways the atomic writes cannot prevent (a disk that
// filled up or failed, a file edited or copied by hand). Damaged state must neither stop a
// grid on every rerun nor vanish: the lock holder moves it aside under a name that says what
// it is, reports it (EventCorrupt and Record.Notes), and goes on from the newest state that
// loads, or from the start.

// quarantineMark is in the name of every file or directory moved aside as corrupt.
const quarantineMark = ".corrupt-"

// corruptError is state on disk that was read but cannot be decoded or trusted.
type corruptError struct {
	what string // "decode run record /path/record.json"
	err  error
}

func (e *corruptError) Error() string { return e.what + ": " + e.err.Error() }
func (e *corruptError) Unwrap() error { return e.err }

// quarantine renames path to <run dir>/<base>.corrupt-<UTC time><ext> and returns the new
// path. Two quarantines in the same second get -2, -3, ... suffixes.
func quarantine(runDir, path, base, ext string) (string, error) {
	stamp := time.Now().UTC().Format("20060102T150405Z")
	for i := 1; ; i++ {
		name := base + quarantineMark + stamp
		if i > 1 {
			name += fmt.Sprintf("-%d", i)
		}
		dst := filepath.Join(runDir, name+ext)
		if _, err := os.Lstat(dst); err == nil {
			continue
		}
		if err := os.Rename(path, dst); err != nil {
			return "", fmt.Errorf("move corrupt %s aside: %w", path, err)
		}
		return dst, nil
	}
}

// checkRecord reports a record that decodes but cannot belong to this run, or that says
// done without what a done run has.
func (r *runner[C]) checkRecord(rec *Record) error {
	switch {
	case rec.Experiment != r.e.Name || rec.ConfigID != r.cfgID || rec.Seed != r.opts.Seed:
		return fmt.Errorf("it describes %s/%s seed %d, not this run (%s/%s seed %d)",
			rec.Experiment, rec.ConfigID, rec.Seed, r.e.Name, r.cfgID, r.opts.Seed)
	case rec.Status == StatusDone && (rec.Best == nil || len(rec.Final) == 0):
		return errors.New("it says done but has no best checkpoint or final metrics")
	}
	return nil
}

// readOwnRecord reads the run's record.json (nil when there is none). A corrupt one is moved
// aside; the returned note says so.
func (r *runner[C]) readOwnRecord() (*Record, []string, error) {
	path := filepath.Join(r.dir, recordFile)
	rec, err := readRecordFile(path)
	var bad error
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, nil
	case err == nil:
		if bad = r.checkRecord(rec); bad == nil {
			return rec, nil, nil
		}
	case isCorrupt(err):
		bad = err
	default:
		return nil, nil, err
	}
	kept, err := quarantine(r.dir, path, "record", ".json")
	if err != nil {
		return nil, nil, err
	}
	return nil, []string{fmt.Sprintf("run record %s is corrupt (%v): kept as %s", path, bad, kept)}, nil
}

func isCorrupt(err error) bool {
	var c *corruptError
	return errors.As(err, &c)
}

// openState returns a Store for the run: loaded from the newest resumable checkpoint that
// loads and agrees with its record (resumedFrom names it, r.rec is its record), else fresh
// (resumedFrom is ""). Checkpoints that fail are moved aside, one note each.
func (r *runner[C]) openState() (store *model.Store, resumedFrom string, notes []string, err error) {
	parent := filepath.Join(r.dir, ckptDirName)
	ckpts, err := listCheckpoints(parent)
	if err != nil {
		return nil, "", nil, err
	}
	for i := len(ckpts) - 1; i >= 0; i-- {
		path := filepath.Join(parent, ckpts[i])
		store := r.newStore()
		rec, lerr := r.loadState(store, path)
		if lerr == nil {
			r.rec = rec
			return store, path, notes, nil
		}
		store.Finalize()
		// A checkpoint this process may not read is not corrupt: say so, touch nothing.
		if errors.Is(lerr, fs.ErrPermission) {
			return nil, "", nil, lerr
		}
		kept, qerr := quarantine(r.dir, path, "checkpoint", "")
		if qerr != nil {
			return nil, "", nil, errors.Join(lerr, qerr)
		}
		notes = append(notes, fmt.Sprintf("checkpoint %s is corrupt (%v): kept as %s", path, lerr, kept))
	}
	return r.newStore(), "", notes, nil
}

func (r *runner[C]) newStore() *model.Store {
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, r.opts.Seed)
	return store
}

// loadState attaches the checkpoint in dir to store and returns the record saved with it,
// checked against the run.
func (r *runner[C]) loadState(store *model.Store, dir string) (*Record, error) {
	if _, err := loadCheckpoint(store, dir); err != nil {
		return nil, err
	}
	rec, err := readRecordFile(filepath.Join(dir, recordFile))
	if err != nil {
		return nil, err
	}
	if err := r.checkRecord(rec); err != nil {
		return nil, fmt.Errorf("its record: %w", err)
	}
	if rec.Best != nil {
		if _, err := os.Stat(filepath.Join(r.dir, rec.Best.Checkpoint)); err != nil {
			return nil, fmt.Errorf("the best checkpoint its record names: %w", err)
		}
	}
	return rec, nil
}

// ResetRun discards the state of the run in dir (record, resumable and best checkpoints) so
// that the next [Experiment.Run] trains it from the start; files moved aside as corrupt are
// kept. It takes the run's lock, so it fails while the run is being trained. A directory that
// does not exist is left alone.
func ResetRun(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	lock := flock.New(filepath.Join(dir, lockFile))
	locked, err := lock.TryLock()
	if err != nil {
		return fmt.Errorf("lock run %s: %w", dir, err)
	}
	if !locked {
		return fmt.Errorf("run %s is being trained by another process or goroutine", dir)
	}
	defer lock.Unlock()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reset run %s: %w", dir, err)
	}
	for _, e := range entries {
		if e.Name() == lockFile || strings.Contains(e.Name(), quarantineMark) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("reset run %s: %w", dir, err)
		}
	}
	return nil
}
