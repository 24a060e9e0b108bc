package lesson

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/internal/checkout"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// EnvRuns names the environment variable that overrides where runs are stored.
const EnvRuns = "GOSTUDY_RUNS"

// RunsDir is where lessons keep their runs: $GOSTUDY_RUNS when set, else the runs/ folder
// (git-ignored) of the gostudy checkout, else "runs". Notebooks (which run in notebooks/) and
// `gostudy ablate` (from anywhere in the checkout) share it, so a notebook run again after a
// kernel restart, or a grid run from a terminal, reuses every run already finished and resumes
// a cut one.
func RunsDir() string {
	if d := strings.TrimSpace(os.Getenv(EnvRuns)); d != "" {
		return d
	}
	if root, err := checkout.Root(); err == nil {
		return filepath.Join(root, "runs")
	}
	return "runs"
}

// Options are the settings of the kit's training calls ([Train], [Compare], [Sweep]) that are
// not part of a run's config.
type Options struct {
	// Dir is the runs root; "" means [RunsDir].
	Dir string
	// Backend runs the graphs; nil means the default (xla:cuda, xla:cpu or go).
	Backend compute.Backend
	// Progress, when set, receives every run's events with the label of what is trained (an
	// arm's name, a sweep's "key=value"). It is called on the training goroutine.
	Progress func(label string, ev experiment.Event)
}

func (o Options) dir() string {
	if o.Dir == "" {
		return RunsDir()
	}
	return o.Dir
}

// run is the experiment.Options of one run of seed, reporting under label.
func (o Options) run(label string, seed int64) experiment.Options {
	r := experiment.Options{Dir: o.dir(), Backend: o.Backend, Seed: seed}
	if o.Progress != nil {
		r.Progress = func(ev experiment.Event) { o.Progress(label, ev) }
	}
	return r
}

// Trained is a finished run loaded for inspection: its config, record, folder (what
// `gostudy export` takes) and best checkpoint. Close releases the checkpoint's variables.
type Trained[C any] struct {
	Config C
	Record *experiment.Record
	Dir    string
	// Store holds the best checkpoint; variables load as a graph asks for them.
	Store *model.Store
}

// Accuracy is the run's final metric "acc": its best checkpoint's test accuracy.
func (t *Trained[C]) Accuracy() float64 { return t.Record.Final["acc"] }

// Close releases the variables; a closed or nil Trained may be closed again.
func (t *Trained[C]) Close() {
	if t != nil && t.Store != nil {
		t.Store.Finalize()
		t.Store = nil
	}
}

// Train runs cfg with seed (train, keep the best checkpoint, test it: experiment.Run; a run
// already done under the runs folder is not trained again, a cut one resumes) and loads its best
// checkpoint. When ctx is cancelled the run stops after the current step with a checkpoint and
// Train returns the error; calling it again resumes.
func Train[C any](ctx context.Context, e *experiment.Experiment[C], cfg C, seed int64, opts Options) (*Trained[C], error) {
	rec, err := e.Run(ctx, cfg, opts.run(e.Name, seed))
	if err != nil {
		return nil, err
	}
	return open(e, cfg, rec, experiment.RunDir(opts.dir(), e.Name, rec.ConfigID, rec.Seed))
}

// Load opens the finished run of cfg and seed under dir ("" means [RunsDir]) without training.
func Load[C any](e *experiment.Experiment[C], cfg C, seed int64, dir string) (*Trained[C], error) {
	if dir == "" {
		dir = RunsDir()
	}
	id, err := experiment.ConfigID(cfg)
	if err != nil {
		return nil, err
	}
	runDir := experiment.RunDir(dir, e.Name, id, seed)
	rec, err := experiment.ReadRecord(runDir)
	if err != nil {
		return nil, fmt.Errorf("load %s run: %w", e.Name, err)
	}
	if rec.Status != experiment.StatusDone {
		return nil, fmt.Errorf("load %s run %s: status %q, not done", e.Name, runDir, rec.Status)
	}
	return open(e, cfg, rec, runDir)
}

func open[C any](e *experiment.Experiment[C], cfg C, rec *experiment.Record, runDir string) (*Trained[C], error) {
	if rec.Best == nil {
		return nil, fmt.Errorf("%s run %s has no best checkpoint", e.Name, runDir)
	}
	run := &experiment.FinishedRun{Dir: runDir, Record: rec, Experiment: e}
	store, err := run.LoadBest()
	if err != nil {
		return nil, fmt.Errorf("load %s run %s: %w", e.Name, runDir, err)
	}
	return &Trained[C]{Config: cfg, Record: rec, Dir: runDir, Store: store}, nil
}
