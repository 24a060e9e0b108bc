package experiment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/metric"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gostudy/gostudy/pkg/backend"
)

// ModelFn builds a model's graph for a config: it maps the inputs of a batch to predictions.
// Variables are created through scope, named the way the lesson wants them exported (timm's
// state_dict names for models timm has).
type ModelFn[C any] func(scope *model.Scope, cfg C, inputs []*graph.Node) []*graph.Node

// Selection says which validation metric picks the best checkpoint.
type Selection struct {
	// Metric is a validation metric name: "loss" or the ShortName of one of the experiment's
	// metrics. Empty means "loss".
	Metric string
	// Maximize is true for metrics where larger is better (accuracy), false for losses.
	Maximize bool
}

func (s Selection) metric() string {
	if s.Metric == "" {
		return "loss"
	}
	return s.Metric
}

func (s Selection) better(v, than float64) bool {
	if s.Maximize {
		return v > than
	}
	return v < than
}

// Experiment is a lesson's trainable setup, generic over its config type C (a struct that
// embeds [Train]). A run is Experiment + a config value + a seed + a backend: [Experiment.Run]
// trains, keeps the best checkpoint by the validation metric in Select, evaluates that
// checkpoint on the test set, and records everything, resuming where a killed run stopped.
type Experiment[C any] struct {
	// Name identifies the experiment in the registry, in run directories and records.
	Name string
	// Description is one line for listings.
	Description string
	// Defaults returns the default config.
	Defaults func() C
	// Model builds the model graph.
	Model ModelFn[C]
	// Loss compares labels and predictions (GoMLX's loss functions fit).
	Loss loss.LossFn
	// Metrics returns fresh evaluation metrics (they hold per-instance state, so a new set per
	// call). The validation and final metrics are "loss" plus each one's ShortName.
	Metrics func(cfg C) []metric.Interface
	// Optimizer returns the optimizer; nil means Adam with Train.LearningRate.
	Optimizer func(cfg C) optimizer.Interface
	// Data builds the data for a config and seed.
	Data func(cfg C, seed int64) (*Data, error)
	// Select picks the best checkpoint.
	Select Selection
	// Timm returns the timm model whose state_dict the model's variables follow for cfg, or
	// nil when timm has no such model. Safetensors export records it so that Python can
	// rebuild the model with timm.create_model(Name, **Kwargs) and load the file.
	Timm func(cfg C) *TimmModel
}

// TimmModel names a timm architecture: timm.create_model(Name, pretrained=False, **Kwargs)
// builds a model whose state_dict has the same keys and shapes as the experiment's variables.
type TimmModel struct {
	Name   string         `json:"name"`
	Kwargs map[string]any `json:"kwargs,omitempty"`
}

// EventKind says what an [Event] reports.
type EventKind string

// Event kinds, in the order a run emits them.
const (
	EventSkip       EventKind = "skip"       // the run was already done; nothing was trained
	EventCorrupt    EventKind = "corrupt"    // a corrupt checkpoint or record was moved aside (Detail says which, and where)
	EventStart      EventKind = "start"      // a fresh run starts
	EventResume     EventKind = "resume"     // a run resumes from a checkpoint
	EventStep       EventKind = "step"       // a training step finished
	EventCheckpoint EventKind = "checkpoint" // a resumable checkpoint was saved
	EventEpoch      EventKind = "epoch"      // an epoch and its validation finished
	EventBest       EventKind = "best"       // a new best checkpoint was saved
	EventDone       EventKind = "done"       // final metrics are in
)

// Event is a progress report from a run.
type Event struct {
	Kind       EventKind
	Experiment string
	RunDir     string
	Seed       int64
	// Step is the number of steps done; TotalSteps is 0 when the data does not say how many
	// batches an epoch has.
	Step, TotalSteps int
	// Epoch is the current (0-based) epoch, Epochs the total.
	Epoch, Epochs int
	// Loss is the batch loss for EventStep, the epoch's mean training loss for EventEpoch.
	Loss float64
	// Metrics holds validation metrics (EventEpoch, EventBest) or final metrics (EventDone,
	// EventSkip).
	Metrics map[string]float64
	// Detail is a sentence for the user (EventCorrupt: what was corrupt, where it was kept,
	// and what the run does instead; EventSkip: that the run was trained from other code than
	// the checkout's now, see [StaleCode]; empty when there is nothing to say).
	Detail string
}

// Progress receives a run's events. It is called on the training goroutine, so it should be
// quick (a notebook progress bar updates in place and throttles itself).
type Progress func(Event)

// Options are the per-run settings that are not part of the config.
type Options struct {
	// Dir is the root of run directories; "" means "runs".
	Dir string
	// Seed seeds the run.
	Seed int64
	// Backend runs the graphs; nil means [DefaultBackend].
	Backend compute.Backend
	// Progress, when set, receives the run's events.
	Progress Progress
	// Restart discards any state of this run (finished or not) and starts over.
	Restart bool
}

func (o Options) root() string {
	if o.Dir == "" {
		return "runs"
	}
	return o.Dir
}

func (o Options) emit(ev Event) {
	if o.Progress != nil {
		o.Progress(ev)
	}
}

// DefaultBackend returns the backend runs use when Options.Backend is nil: gostudy's choice
// (xla:cuda, xla:cpu or go, GOMLX_BACKEND overriding; see package backend), opened once per
// process.
func DefaultBackend() (compute.Backend, error) {
	b, err := backend.Default()
	if err != nil {
		return nil, fmt.Errorf("open the default backend: %w", err)
	}
	return b, nil
}

// RunDir is the directory of one run: <root>/<experiment>/<config id>/seed-<seed>.
func RunDir(root, experiment, configID string, seed int64) string {
	return filepath.Join(root, experiment, configID, fmt.Sprintf("seed-%d", seed))
}

func (e *Experiment[C]) check() error {
	switch {
	case e.Name == "" || strings.ContainsAny(e.Name, `/\`):
		return fmt.Errorf("experiment name %q must be non-empty and free of path separators", e.Name)
	case e.Model == nil:
		return fmt.Errorf("experiment %s: Model is nil", e.Name)
	case e.Loss == nil:
		return fmt.Errorf("experiment %s: Loss is nil", e.Name)
	case e.Data == nil:
		return fmt.Errorf("experiment %s: Data is nil", e.Name)
	}
	return nil
}

// DefaultConfig returns Defaults(), or the zero config when Defaults is nil.
func (e *Experiment[C]) DefaultConfig() C {
	if e.Defaults == nil {
		var c C
		return c
	}
	return e.Defaults()
}

func (e *Experiment[C]) optimizer(cfg C, ts *Train) optimizer.Interface {
	if e.Optimizer != nil {
		return e.Optimizer(cfg)
	}
	lr := ts.LearningRate
	if lr <= 0 {
		lr = optimizer.AdamDefaultLearningRate
	}
	return optimizer.Adam().LearningRate(lr).Done()
}

func (e *Experiment[C]) metrics(cfg C) []metric.Interface {
	if e.Metrics == nil {
		return nil
	}
	return e.Metrics(cfg)
}

func (e *Experiment[C]) trainModelFn(cfg C) func(scope *model.Scope, spec any, inputs []*graph.Node) []*graph.Node {
	return func(scope *model.Scope, _ any, inputs []*graph.Node) []*graph.Node {
		return e.Model(scope, cfg, inputs)
	}
}

// Run trains and evaluates one run of the experiment (see [Experiment]). A run already done
// (same experiment, config and seed under opts.Dir) is not trained again: its record is
// returned. A run that was killed or interrupted resumes from its last checkpoint. When ctx is
// cancelled the run stops after the current step (or evaluation batch), saves a checkpoint and
// returns an error wrapping ctx.Err() together with the record so far.
func (e *Experiment[C]) Run(ctx context.Context, cfg C, opts Options) (rec *Record, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("experiment %s: panic: %v", e.Name, r)
		}
	}()
	r, err := e.newRunner(cfg, opts)
	if err != nil {
		return nil, err
	}
	return r.run(ctx)
}

// runner holds the state of one Run call.
type runner[C any] struct {
	e       *Experiment[C]
	cfg     C
	ts      *Train
	opts    Options
	cfgJSON []byte
	cfgID   string
	dir     string
	backend compute.Backend

	rec *Record
	// resumable is the record (JSON) as of the last resumable checkpoint or the session's start:
	// what an interrupted run with adaptive data (Data.Adapt) resumes from.
	resumable    []byte
	adaptive     bool
	sessionStart time.Time
	baseWall     float64
	stepsDone    int // steps trained in this session
	totalSteps   int
}

func (e *Experiment[C]) newRunner(cfg C, opts Options) (*runner[C], error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	ts, err := trainSettingsOf(&cfg)
	if err != nil {
		return nil, fmt.Errorf("experiment %s: %w", e.Name, err)
	}
	if v, ok := any(&cfg).(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("experiment %s: invalid config: %w", e.Name, err)
		}
	}
	if ts.Epochs <= 0 {
		return nil, fmt.Errorf("experiment %s: epochs must be positive, got %d", e.Name, ts.Epochs)
	}
	cfgJSON, err := ConfigJSON(cfg)
	if err != nil {
		return nil, err
	}
	id, err := ConfigID(cfg)
	if err != nil {
		return nil, err
	}
	return &runner[C]{
		e: e, cfg: cfg, ts: ts, opts: opts, cfgJSON: cfgJSON, cfgID: id,
		dir: RunDir(opts.root(), e.Name, id, opts.Seed),
	}, nil
}

func (r *runner[C]) event(kind EventKind) Event {
	return Event{
		Kind: kind, Experiment: r.e.Name, RunDir: r.dir, Seed: r.opts.Seed,
		Step: r.rec.Step, TotalSteps: r.totalSteps, Epoch: r.rec.Epoch, Epochs: r.ts.Epochs,
	}
}

func (r *runner[C]) wall() float64 { return r.baseWall + time.Since(r.sessionStart).Seconds() }

func (r *runner[C]) run(ctx context.Context) (rec *Record, err error) {
	// GoMLX reports graph-building errors by panicking; a run that panics is a failed run.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
			if r.rec != nil {
				err = r.fail(err)
			}
			rec = r.rec
		}
	}()
	e := r.e
	if r.opts.Restart {
		if err := ResetRun(r.dir); err != nil {
			return nil, fmt.Errorf("restart %s: %w", r.dir, err)
		}
	}
	if prev, err := ReadRecord(r.dir); err == nil && prev.Status == StatusDone && r.checkRecord(prev) == nil {
		return r.skip(prev), nil
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create run dir: %w", err)
	}
	// One process (one goroutine) trains a run at a time. The kernel drops an flock when its
	// holder dies, SIGKILL included, so a killed run never leaves a stale lock behind.
	lock := flock.New(filepath.Join(r.dir, lockFile))
	locked, err := lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock run %s: %w", r.dir, err)
	}
	if !locked {
		return nil, fmt.Errorf("run %s is being trained by another process or goroutine", r.dir)
	}
	defer lock.Unlock()
	// Re-read under the lock: whoever held it before us may have finished the run, and only
	// the lock holder may move a corrupt record aside.
	prev, notes, err := r.readOwnRecord()
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.Status == StatusDone {
		return r.skip(prev), nil
	}
	if err := writeFileAtomic(filepath.Join(filepath.Dir(r.dir), configFileName), indentJSON(r.cfgJSON)); err != nil {
		return nil, err
	}
	backend := r.opts.Backend
	if backend == nil {
		var err error
		if backend, err = DefaultBackend(); err != nil {
			return nil, err
		}
	}
	r.backend = backend

	data, err := e.Data(r.cfg, r.opts.Seed)
	if err != nil {
		return nil, fmt.Errorf("experiment %s: build data: %w", e.Name, err)
	}
	if data == nil || data.Train == nil || data.Val == nil {
		return nil, fmt.Errorf("experiment %s: data must have Train and Val", e.Name)
	}
	if data.StepsPerEpoch > 0 {
		r.totalSteps = data.StepsPerEpoch * r.ts.Epochs
	}
	r.adaptive = data.Adapt != nil
	if r.adaptive && r.ts.CheckpointEvery > 0 {
		return nil, fmt.Errorf("experiment %s: data that adapts to the model resumes from epoch ends only: "+
			"checkpoint_every must be 0, got %d", e.Name, r.ts.CheckpointEvery)
	}

	store, resumedFrom, ckptNotes, err := r.openState()
	if err != nil {
		return nil, err
	}
	defer store.Finalize()
	notes = append(notes, ckptNotes...)
	resumed := resumedFrom != ""
	if !resumed {
		r.rec = &Record{
			Experiment: e.Name, ConfigID: r.cfgID, Config: r.cfgJSON, Seed: r.opts.Seed,
			Started: time.Now().UTC(),
		}
	}
	for _, n := range notes {
		action := "training the run from the start"
		if resumed {
			action = "resuming from " + resumedFrom
		}
		ev := r.event(EventCorrupt)
		ev.Detail = n + "; " + action
		r.opts.emit(ev)
		r.rec.Notes = append(r.rec.Notes, ev.Detail)
	}
	rec = r.rec
	rec.Backend = backend.Name()
	rec.BackendDescription = backend.Description()
	rec.Device = backend.DeviceDescription(0)
	rec.GitCommit = GitCommit()
	rec.GoVersion = runtime.Version()
	rec.Status = StatusRunning
	rec.Error = ""
	rec.Sessions = append(rec.Sessions, Session{Started: time.Now().UTC(), FromStep: rec.Step, Resumed: resumed})
	r.sessionStart = time.Now()
	r.baseWall = rec.WallSeconds
	if err := r.writeRecord(); err != nil {
		return nil, err
	}
	if r.adaptive && rec.EpochStep > 0 {
		return rec, r.fail(fmt.Errorf("resumed at step %d of epoch %d, but data that adapts to the model resumes "+
			"from epoch ends only", rec.EpochStep, rec.Epoch))
	}
	if err := r.markResumable(); err != nil {
		return nil, err
	}
	if resumed {
		r.opts.emit(r.event(EventResume))
	} else {
		r.opts.emit(r.event(EventStart))
	}

	trainer := train.NewTrainer(backend, store, e.trainModelFn(r.cfg), e.Loss,
		e.optimizer(r.cfg, r.ts), nil, e.metrics(r.cfg))
	defer trainer.ResetComputationGraphs()
	loop := train.NewLoop(trainer)
	if loop.LoopStep != rec.Step {
		return rec, r.fail(fmt.Errorf("checkpoint global step %d does not match its record's step %d",
			loop.LoopStep, rec.Step))
	}
	logEvery := r.ts.LogEvery
	if logEvery <= 0 {
		logEvery = 10
	}
	loop.OnStep("experiment", 0, func(_ *train.Loop, metrics []*tensors.Tensor) error {
		batchLoss := scalar(metrics[0])
		rec.Step++
		rec.EpochStep++
		rec.EpochLossSum += batchLoss
		r.stepsDone++
		if rec.Step%logEvery == 0 {
			rec.Steps = append(rec.Steps, StepPoint{Step: rec.Step, Epoch: rec.Epoch, Loss: batchLoss})
		}
		ev := r.event(EventStep)
		ev.Loss = batchLoss
		r.opts.emit(ev)
		if ce := r.ts.CheckpointEvery; ce > 0 && rec.Step%ce == 0 && rec.EpochStep != data.StepsPerEpoch {
			if err := r.saveLatest(store); err != nil {
				return err
			}
		}
		// Checked after the bookkeeping, so the step just taken is kept.
		return ctx.Err()
	})

	var predict Predictor
	if r.adaptive {
		exec, err := model.NewExec(backend, store, func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
			return e.Model(scope, r.cfg, inputs)
		})
		if err != nil {
			return rec, r.fail(fmt.Errorf("build the predictor for adaptive data: %w", err))
		}
		defer exec.Finalize()
		predict = func(inputs ...*tensors.Tensor) ([]*tensors.Tensor, error) {
			args := make([]any, len(inputs))
			for i, x := range inputs {
				args[i] = x
			}
			return exec.Call(args...)
		}
	}
	for rec.Epoch < r.ts.Epochs {
		epoch, skip := rec.Epoch, rec.EpochStep
		if r.adaptive {
			if err := data.Adapt(epoch, predict); err != nil {
				return rec, r.stop(ctx, store, fmt.Errorf("adapt the data to epoch %d: %w", epoch, err))
			}
		}
		ds := &ctxDataset{ctx: ctx, name: e.Name + "/train", seq: func() iter.Seq2[train.Batch, error] {
			return skipBatches(data.Train(epoch), skip)
		}}
		if _, err := loop.RunEpochs(ds, 1); err != nil {
			return rec, r.stop(ctx, store, fmt.Errorf("train epoch %d: %w", epoch, err))
		}
		if rec.EpochStep == 0 {
			return rec, r.fail(fmt.Errorf("epoch %d yielded no training batch", epoch))
		}
		val, err := evaluate(trainer, &ctxDataset{ctx: ctx, name: e.Name + "/val", seq: data.Val.Iter})
		if err != nil {
			return rec, r.stop(ctx, store, fmt.Errorf("validate epoch %d: %w", epoch, err))
		}
		sel := e.Select.metric()
		v, ok := val[sel]
		if !ok {
			return rec, r.fail(fmt.Errorf("selection metric %q is not among the validation metrics %v", sel, keys(val)))
		}
		trainLoss := rec.EpochLossSum / float64(rec.EpochStep)
		if rec.Best == nil || e.Select.better(v, rec.Best.Value) {
			name, err := saveCheckpoint(store, filepath.Join(r.dir, bestDirName), rec.Step, nil)
			if err != nil {
				return rec, r.fail(err)
			}
			rec.Best = &Best{Epoch: epoch, Step: rec.Step, Metric: sel, Value: v,
				Checkpoint: filepath.Join(bestDirName, name)}
			ev := r.event(EventBest)
			ev.Metrics = val
			r.opts.emit(ev)
		}
		rec.Epochs = append(rec.Epochs, EpochPoint{Epoch: epoch, Step: rec.Step, TrainLoss: trainLoss,
			Val: val, Seconds: r.wall()})
		rec.Epoch++
		rec.EpochStep = 0
		rec.EpochLossSum = 0
		if err := r.saveLatest(store); err != nil {
			return rec, r.fail(err)
		}
		ev := r.event(EventEpoch)
		ev.Epoch = epoch
		ev.Loss = trainLoss
		ev.Metrics = val
		r.opts.emit(ev)
	}

	// The evaluation loads the best checkpoint named by the record: nothing is copied by hand.
	finalDS, split := data.Test, "test"
	if finalDS == nil {
		finalDS, split = data.Val, "val"
	}
	final, err := EvaluateCheckpoint(ctx, backend, e, r.cfg, filepath.Join(r.dir, rec.Best.Checkpoint), finalDS)
	if err != nil {
		return rec, r.stop(ctx, store, fmt.Errorf("final evaluation: %w", err))
	}
	now := time.Now().UTC()
	rec.Final, rec.FinalSplit = final, split
	rec.Status = StatusDone
	rec.Finished = &now
	rec.WallSeconds = r.wall()
	if err := r.writeRecord(); err != nil {
		return rec, err
	}
	// Done runs are never resumed: the resumable state goes, the best checkpoint stays.
	if err := os.RemoveAll(filepath.Join(r.dir, ckptDirName)); err != nil {
		return rec, fmt.Errorf("remove resumable checkpoints: %w", err)
	}
	ev := r.event(EventDone)
	ev.Metrics = final
	r.opts.emit(ev)
	return rec, nil
}

// skip reports a run found done and returns its record. A run is found by its config and seed
// only, so the event's Detail says when the record was made from other code than the checkout's
// now (or with uncommitted changes): the numbers may not be what this code would give.
func (r *runner[C]) skip(prev *Record) *Record {
	r.rec = prev
	ev := r.event(EventSkip)
	ev.Metrics = prev.Final
	ev.Detail = StaleCode(prev.GitCommit, GitCommit())
	r.opts.emit(ev)
	return prev
}

// StaleCode says, in a sentence, why a record made at commit recorded may not describe the code
// at commit now (both as [GitCommitIn] gives them): "" when both name the same clean commit or
// either is unknown.
func StaleCode(recorded, now string) string {
	switch {
	case recorded == "unknown" || now == "unknown" || recorded == "" || now == "":
		return ""
	case recorded != now:
		return fmt.Sprintf("trained at commit %s, the code is now at %s: its results may not be this code's "+
			"(train it again: Options.Restart, or gostudy ablate -retrain)", shortCommit(recorded), shortCommit(now))
	case strings.HasSuffix(now, "+dirty"):
		return fmt.Sprintf("trained with uncommitted changes on %s, and there are uncommitted changes now: "+
			"nothing says they are the same changes", shortCommit(recorded))
	}
	return ""
}

// shortCommit shortens a commit hash to 12 digits, keeping a "+dirty" suffix.
func shortCommit(c string) string {
	hash, dirty, _ := strings.Cut(c, "+")
	if len(hash) > 12 {
		hash = hash[:12]
	}
	if dirty != "" {
		return hash + "+" + dirty
	}
	return hash
}

// saveLatest saves the resumable checkpoint (with the record inside), then publishes the
// record, then drops older checkpoints and best checkpoints the record no longer names.
func (r *runner[C]) saveLatest(store *model.Store) error {
	r.rec.WallSeconds = r.wall()
	name, err := saveCheckpoint(store, filepath.Join(r.dir, ckptDirName), r.rec.Step, r.rec)
	if err != nil {
		return err
	}
	if err := r.writeRecord(); err != nil {
		return err
	}
	if err := r.markResumable(); err != nil {
		return err
	}
	if err := pruneCheckpoints(filepath.Join(r.dir, ckptDirName), name); err != nil {
		return err
	}
	if r.rec.Best != nil {
		if err := pruneCheckpoints(filepath.Join(r.dir, bestDirName), filepath.Base(r.rec.Best.Checkpoint)); err != nil {
			return err
		}
	}
	ev := r.event(EventCheckpoint)
	r.opts.emit(ev)
	return nil
}

func (r *runner[C]) writeRecord() error {
	return writeJSONAtomic(filepath.Join(r.dir, recordFile), r.rec)
}

// markResumable remembers the record as it is now, the state a run with adaptive data resumes
// from (called at the session's start and at every resumable checkpoint).
func (r *runner[C]) markResumable() error {
	if !r.adaptive {
		return nil
	}
	b, err := json.Marshal(r.rec)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	r.resumable = b
	return nil
}

// rewind returns a copy of the record as of the last resumable state.
func (r *runner[C]) rewind() (*Record, error) {
	var back Record
	if err := json.Unmarshal(r.resumable, &back); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	return &back, nil
}

// stop ends a run early. When ctx was cancelled the steps of this session are saved (so an
// interrupt loses nothing) and the record says interrupted; otherwise the run failed.
func (r *runner[C]) stop(ctx context.Context, store *model.Store, err error) error {
	if ctx.Err() == nil {
		return r.fail(err)
	}
	r.rec.Status = StatusInterrupted
	r.rec.Error = ctx.Err().Error()
	if r.adaptive && r.rec.EpochStep > 0 {
		// Adaptive data cannot resume mid-epoch: the run goes back to its last resumable
		// checkpoint, and the record says so.
		back, rerr := r.rewind()
		if rerr != nil {
			return errors.Join(fmt.Errorf("run %s interrupted: %w", r.dir, ctx.Err()), rerr)
		}
		back.Status, back.Error = StatusInterrupted, ctx.Err().Error()
		r.rec = back
		if werr := r.writeRecord(); werr != nil {
			return errors.Join(fmt.Errorf("run %s interrupted: %w", r.dir, ctx.Err()), werr)
		}
		return fmt.Errorf("run %s interrupted; it resumes at the start of epoch %d: %w", r.dir, r.rec.Epoch+1, ctx.Err())
	}
	// Before the first step of a session the Store has not pulled the loaded variables in
	// yet and nothing changed since the last checkpoint: keep that one.
	if r.stepsDone > 0 {
		if serr := r.saveLatest(store); serr != nil {
			return errors.Join(fmt.Errorf("run %s interrupted: %w", r.dir, ctx.Err()), serr)
		}
	} else if werr := r.writeRecord(); werr != nil {
		return errors.Join(fmt.Errorf("run %s interrupted: %w", r.dir, ctx.Err()), werr)
	}
	return fmt.Errorf("run %s interrupted at step %d: %w", r.dir, r.rec.Step, ctx.Err())
}

func (r *runner[C]) fail(err error) error {
	r.rec.Status = StatusFailed
	r.rec.Error = err.Error()
	r.rec.WallSeconds = r.wall()
	if werr := r.writeRecord(); werr != nil {
		err = errors.Join(err, werr)
	}
	return fmt.Errorf("experiment %s run %s: %w", r.e.Name, r.dir, err)
}

// EvaluateCheckpoint loads the checkpoint in ckptDir into a fresh Store and evaluates the
// experiment's loss and metrics on ds. It is what a run does with its best checkpoint, exposed
// so that a notebook can evaluate any checkpoint on any data.
func EvaluateCheckpoint[C any](ctx context.Context, backend compute.Backend, e *Experiment[C], cfg C,
	ckptDir string, ds train.Dataset) (metrics map[string]float64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("evaluate %s: panic: %v", ckptDir, r)
		}
	}()
	ts, err := trainSettingsOf(&cfg)
	if err != nil {
		return nil, err
	}
	store := model.NewStore()
	defer store.Finalize()
	if _, err := loadCheckpoint(store, ckptDir); err != nil {
		return nil, err
	}
	trainer := train.NewTrainer(backend, store, e.trainModelFn(cfg), e.Loss, e.optimizer(cfg, ts), nil, e.metrics(cfg))
	defer trainer.ResetComputationGraphs()
	return evaluate(trainer, &ctxDataset{ctx: ctx, name: ds.Name(), seq: ds.Iter})
}

// evaluate runs the trainer's evaluation and names the results.
func evaluate(trainer *train.Trainer, ds train.Dataset) (map[string]float64, error) {
	values, err := trainer.Eval(ds)
	if err != nil {
		return nil, fmt.Errorf("evaluate on %s: %w", ds.Name(), err)
	}
	ms := trainer.EvalMetrics()
	out := make(map[string]float64, len(values))
	for i, t := range values {
		out[metricName(ms[i])] = scalar(t)
	}
	return out, nil
}

// metricName is the name a metric has in records: its ShortName without GoMLX's "#"/"~"
// markers, so the evaluation mean loss is "loss".
func metricName(m metric.Interface) string {
	return strings.TrimLeft(m.ShortName(), "#~")
}

func scalar(t *tensors.Tensor) float64 {
	return shapes.ConvertTo[float64](t.Value())
}

// skipBatches drops (and frees) the first n batches of seq: a resumed run replays its epoch
// from the start and skips what it already trained on.
func skipBatches(seq iter.Seq2[train.Batch, error], n int) iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		i := 0
		for b, err := range seq {
			if err == nil && i < n {
				i++
				_ = b.Finalize()
				continue
			}
			if !yield(b, err) || err != nil {
				return
			}
		}
	}
}

func indentJSON(b []byte) []byte {
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return b
	}
	out.WriteByte('\n')
	return out.Bytes()
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
