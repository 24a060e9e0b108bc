package experiment

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"sync"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// Runnable is an [Experiment] with its config type erased, so that tools that only know an
// experiment by name (the ablate and export commands, a notebook cell) can configure it, run
// it and rebuild its model. *Experiment[C] implements it; configs travel as pointers to C.
type Runnable interface {
	// ExperimentName is the registered name.
	ExperimentName() string
	// About is the experiment's one-line description.
	About() string
	// NewConfig returns a pointer to a fresh default config.
	NewConfig() any
	// RunConfig is [Experiment.Run] with cfgPtr a pointer to the config type.
	RunConfig(ctx context.Context, cfgPtr any, opts Options) (*Record, error)
	// InferenceModel returns the model function bound to the config, for export.
	InferenceModel(cfgPtr any) (func(scope *model.Scope, inputs []*graph.Node) []*graph.Node, error)
	// InputShapes returns the shapes of one batch of inputs (from the validation data), with
	// the batch axis set to batch.
	InputShapes(cfgPtr any, seed int64, batch int) ([]shapes.Shape, error)
	// TimmModel is the timm model the variables follow, or nil.
	TimmModel(cfgPtr any) *TimmModel
}

var _ Runnable = (*Experiment[Train])(nil)

// ExperimentName implements [Runnable].
func (e *Experiment[C]) ExperimentName() string { return e.Name }

// About implements [Runnable].
func (e *Experiment[C]) About() string { return e.Description }

// NewConfig implements [Runnable].
func (e *Experiment[C]) NewConfig() any {
	c := e.DefaultConfig()
	return &c
}

func (e *Experiment[C]) config(cfgPtr any) (C, error) {
	p, ok := cfgPtr.(*C)
	if !ok || p == nil {
		var zero C
		return zero, fmt.Errorf("experiment %s takes a *%T config, got %T", e.Name, zero, cfgPtr)
	}
	return *p, nil
}

// RunConfig implements [Runnable].
func (e *Experiment[C]) RunConfig(ctx context.Context, cfgPtr any, opts Options) (*Record, error) {
	cfg, err := e.config(cfgPtr)
	if err != nil {
		return nil, err
	}
	return e.Run(ctx, cfg, opts)
}

// InferenceModel implements [Runnable].
func (e *Experiment[C]) InferenceModel(cfgPtr any) (func(scope *model.Scope, inputs []*graph.Node) []*graph.Node, error) {
	cfg, err := e.config(cfgPtr)
	if err != nil {
		return nil, err
	}
	if err := e.check(); err != nil {
		return nil, err
	}
	return func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
		return e.Model(scope, cfg, inputs)
	}, nil
}

// InputShapes implements [Runnable].
func (e *Experiment[C]) InputShapes(cfgPtr any, seed int64, batch int) ([]shapes.Shape, error) {
	cfg, err := e.config(cfgPtr)
	if err != nil {
		return nil, err
	}
	data, err := e.Data(cfg, seed)
	if err != nil {
		return nil, fmt.Errorf("experiment %s: build data: %w", e.Name, err)
	}
	if data == nil || data.Val == nil {
		return nil, fmt.Errorf("experiment %s: no validation data to take input shapes from", e.Name)
	}
	return exampleInputShapes(data.Val, batch)
}

// TimmModel implements [Runnable].
func (e *Experiment[C]) TimmModel(cfgPtr any) *TimmModel {
	cfg, err := e.config(cfgPtr)
	if err != nil || e.Timm == nil {
		return nil
	}
	return e.Timm(cfg)
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Runnable{}
)

// Register makes an experiment findable by name (by `gostudy ablate`, `gostudy export` and
// [Lookup]). A lesson registers its experiments from an init function:
//
//	func init() { experiment.MustRegister(&Exp) }
func Register(r Runnable) error {
	if r == nil {
		return fmt.Errorf("register a nil experiment")
	}
	name := r.ExperimentName()
	if name == "" {
		return fmt.Errorf("register an experiment without a name")
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		return fmt.Errorf("experiment %q registered twice", name)
	}
	registry[name] = r
	return nil
}

// MustRegister is Register for init functions: it panics on a nil, unnamed or duplicate
// experiment, a programming error to be caught the first time the binary starts.
func MustRegister(r Runnable) {
	if err := Register(r); err != nil {
		panic(err)
	}
}

// Lookup returns the experiment registered under name.
func Lookup(name string) (Runnable, error) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	r, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("no experiment named %q (registered: %v)", name, namesLocked())
	}
	return r, nil
}

// Names lists the registered experiments, sorted.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return namesLocked()
}

func namesLocked() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// FinishedRun is a done run opened from its directory: its record, its experiment (from the
// registry) and its config, ready to rebuild the model from the best checkpoint.
type FinishedRun struct {
	Dir        string
	Record     *Record
	Experiment Runnable
	// Config is a pointer to the experiment's config type, decoded from the record.
	Config any
}

// OpenRun opens the run in dir (a directory with a record.json whose status is done). The
// experiment must be registered in this binary.
func OpenRun(dir string) (*FinishedRun, error) {
	rec, err := ReadRecord(dir)
	if err != nil {
		return nil, err
	}
	if rec.Status != StatusDone {
		return nil, fmt.Errorf("run %s is %s, not done", dir, rec.Status)
	}
	if rec.Best == nil {
		return nil, fmt.Errorf("run %s has no best checkpoint", dir)
	}
	exp, err := Lookup(rec.Experiment)
	if err != nil {
		return nil, fmt.Errorf("open run %s: %w", dir, err)
	}
	cfg := exp.NewConfig()
	if err := json.Unmarshal(rec.Config, cfg); err != nil {
		return nil, fmt.Errorf("decode config of run %s: %w", dir, err)
	}
	return &FinishedRun{Dir: dir, Record: rec, Experiment: exp, Config: cfg}, nil
}

// BestCheckpoint is the directory of the run's best checkpoint.
func (f *FinishedRun) BestCheckpoint() string {
	return filepath.Join(f.Dir, f.Record.Best.Checkpoint)
}

// LoadBest returns a new Store with the best checkpoint attached (variables load as the model
// asks for them). The caller finalizes it.
func (f *FinishedRun) LoadBest() (*model.Store, error) {
	store := model.NewStore()
	if _, err := loadCheckpoint(store, f.BestCheckpoint()); err != nil {
		store.Finalize()
		return nil, err
	}
	return store, nil
}

// LoadAllVariables brings every variable of a lazily loaded Store (see [FinishedRun.LoadBest])
// into it, for exporters that walk all variables rather than build a graph. Metric
// accumulators are left out.
func LoadAllVariables(store *model.Store) {
	pullLoaded(store)
}
