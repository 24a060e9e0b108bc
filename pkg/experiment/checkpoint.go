package experiment

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"
	"github.com/gomlx/gomlx/ml/train/metric"
)

// Checkpoints are GoMLX checkpoints (ml/model/checkpoint: a JSON file with the Store's params
// and variable index, and a binary file with the values), one per directory:
//
//	<run>/ckpt/step-000000120-<nanos>/checkpoint-n0000000-...{.json,.bin} + record.json
//	<run>/best/step-000000096-<nanos>/checkpoint-n0000000-...{.json,.bin}
//
// GoMLX writes its two files in place, so a process killed mid-write would leave a torn
// checkpoint that the next start would try to load. Here each checkpoint is written into a
// fresh ".tmp-*" directory, synced, and renamed into place: rename(2) of a directory is atomic,
// so a directory named step-* is always complete, and leftovers of a killed write are ".tmp-*"
// directories that nothing reads and the next save removes. The run record is saved inside
// the same directory, so the record a run resumes with always matches its variables.
const (
	ckptDirName     = "ckpt"
	bestDirName     = "best"
	ckptPrefix      = "step-"
	tmpPrefix       = ".tmp-"
	configFileName  = "config.json"
	lockFile        = ".lock"
	metricsScopeDir = "/" + metric.Scope + "/"
)

// checkpointWrittenHook, when set (by tests), runs after a checkpoint's files are written and
// synced but before the rename that publishes them: a test blocks there and kills the process
// to prove that a torn write is never loaded.
var checkpointWrittenHook func(tmpDir string)

// saveCheckpoint writes the Store (all variables except metric accumulators, which are
// per-evaluation scratch space named with a random UUID) and rec (when not nil) as a new
// checkpoint directory under parent, and returns the directory's name.
func saveCheckpoint(store *model.Store, parent string, step int, rec *Record) (string, error) {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("create checkpoint dir: %w", err)
	}
	name := fmt.Sprintf("%s%09d-%019d", ckptPrefix, step, time.Now().UnixNano())
	tmp, err := os.MkdirTemp(parent, tmpPrefix+name+"-")
	if err != nil {
		return "", fmt.Errorf("create temporary checkpoint dir: %w", err)
	}
	if err := writeCheckpointFiles(store, tmp, rec); err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	if checkpointWrittenHook != nil {
		checkpointWrittenHook(tmp)
	}
	final := filepath.Join(parent, name)
	if err := os.Rename(tmp, final); err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("publish checkpoint %s: %w", final, err)
	}
	if err := syncDir(parent); err != nil {
		return "", err
	}
	return name, nil
}

func writeCheckpointFiles(store *model.Store, dir string, rec *Record) error {
	// Variables that a resumed run loaded lazily but has not used yet are still only in the
	// loading Handler: bring them into the Store so this checkpoint does not drop them.
	pullLoaded(store)
	var exclude []*model.Variable
	for v := range store.IterVariables() {
		if strings.HasPrefix(v.Path(), metricsScopeDir) {
			exclude = append(exclude, v)
		}
	}
	// A checkpoint.Handler attaches itself to the Store as its variable loader; this one only
	// saves, so the previous loader is put back afterwards.
	prevLoader := store.Loader()
	h, err := checkpoint.Build(store).Dir(dir).Keep(-1).ExcludeVars(exclude...).Done()
	store.SetLoader(prevLoader)
	if err != nil {
		return fmt.Errorf("prepare checkpoint in %s: %w", dir, err)
	}
	if err := h.Save(); err != nil {
		return fmt.Errorf("save checkpoint in %s: %w", dir, err)
	}
	if rec != nil {
		if err := writeJSONAtomic(filepath.Join(dir, recordFile), rec); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list checkpoint dir: %w", err)
	}
	for _, e := range entries {
		if err := syncFile(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return syncDir(dir)
}

// pullLoaded creates in store every variable its checkpoint loader still holds (sorted by
// path, for a stable order), except metric accumulators.
func pullLoaded(store *model.Store) {
	h, ok := store.Loader().(*checkpoint.Handler)
	if !ok {
		return
	}
	var pending []string
	for key := range h.LoadedVariables() {
		path := strings.TrimPrefix(key, "var:")
		if !strings.HasPrefix(path, metricsScopeDir) {
			pending = append(pending, path)
		}
	}
	sort.Strings(pending)
	for _, p := range pending {
		_ = store.GetVariable(p)
	}
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open %s for sync: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// listCheckpoints returns the complete checkpoint directories under parent, oldest first.
func listCheckpoints(parent string) ([]string, error) {
	entries, err := os.ReadDir(parent)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), ckptPrefix) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// pruneCheckpoints removes every entry of parent except the checkpoint directories in keep,
// including ".tmp-*" leftovers of writes that were killed.
func pruneCheckpoints(parent string, keep ...string) error {
	entries, err := os.ReadDir(parent)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list checkpoints: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		kept := false
		for _, k := range keep {
			kept = kept || name == k
		}
		if kept || !(strings.HasPrefix(name, ckptPrefix) || strings.HasPrefix(name, tmpPrefix)) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(parent, name)); err != nil {
			return fmt.Errorf("remove old checkpoint: %w", err)
		}
	}
	return nil
}

// loadCheckpoint attaches the checkpoint in dir to store. Values load lazily, as the model
// asks for its variables, so they are created in the order the model creates them, the same
// order as in a fresh run (the optimizer walks variables in that order).
func loadCheckpoint(store *model.Store, dir string) (*checkpoint.Handler, error) {
	h, err := checkpoint.Load(store).Dir(dir).Done()
	if err != nil {
		return nil, fmt.Errorf("load checkpoint %s: %w", dir, err)
	}
	// A lazily loaded variable comes back marked trainable; the RNG state is an integer
	// counter that must never get a gradient.
	if v := store.GetVariable("/" + model.RNGStateVariableName); v != nil {
		v.SetTrainable(false)
	}
	return h, nil
}
