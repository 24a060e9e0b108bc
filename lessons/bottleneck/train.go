package bottleneck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/pkg/ablation"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// TrainOptions are the per-call settings of the lesson's training functions.
type TrainOptions struct {
	// Dir is the runs root ("" means "runs"). Finished runs under it are reused, not retrained.
	Dir string
	// Backend runs the graphs; nil means the default (xla:cuda, xla:cpu or go).
	Backend compute.Backend
	// Progress receives every run's events with the label of the network being trained (for
	// live curves and progress bars). It is called on the training goroutine.
	Progress func(label string, ev experiment.Event)
}

// progressFor adapts opts.Progress to one network's runs.
func (o TrainOptions) progressFor(label string) experiment.Progress {
	if o.Progress == nil {
		return nil
	}
	return func(ev experiment.Event) { o.Progress(label, ev) }
}

// Result is one trained network: what it costs and what it reached.
type Result struct {
	Label string
	Net   Net
	Seed  int64
	// Cost is per image (batch 1): parameters, multiply-accumulates, FLOPs.
	Cost nn.Cost
	// TestAcc is the best checkpoint's accuracy on the test images; ValAcc the best
	// validation accuracy that selected it.
	TestAcc, ValAcc float64
	// StepTime is the median wall time of a training step after the first two (which
	// compile the graph), measured while training.
	StepTime time.Duration
	// Steps is the number of training steps; Wall the run's wall time, compilation and
	// evaluation included.
	Steps int
	Wall  time.Duration
	// RunDir is the run's directory (record.json, best checkpoint).
	RunDir string
}

// stepTimeFile keeps a run's measured step time next to its record, so a run reused from
// disk (a later cell, an ablation sharing the run) reports it too.
const stepTimeFile = "step_time.json"

// Train trains (or reuses, when already done under opts.Dir) one network with one seed.
// ctx cancels it cleanly: the run stops after the current step and saves a checkpoint.
func Train(ctx context.Context, cfg LessonConfig, net Net, seed int64, opts TrainOptions) (*Result, error) {
	cost, err := CostOf(net)
	if err != nil {
		return nil, err
	}
	var stamps []time.Time
	var runDir string
	progress := func(ev experiment.Event) {
		runDir = ev.RunDir
		if ev.Kind == experiment.EventStep {
			stamps = append(stamps, time.Now())
		}
		if p := opts.progressFor(net.Label()); p != nil {
			p(ev)
		}
	}
	rec, err := Experiment.Run(ctx, cfg.RunConfig(net), experiment.Options{Dir: opts.Dir, Seed: seed,
		Backend: opts.Backend, Progress: progress})
	if err != nil {
		return nil, fmt.Errorf("train %s (seed %d): %w", net.Label(), seed, err)
	}
	res := &Result{Label: net.Label(), Net: net, Seed: seed, Cost: cost, TestAcc: rec.Final["acc"],
		Steps: rec.Step, Wall: time.Duration(rec.WallSeconds * float64(time.Second)), RunDir: runDir}
	if rec.Best != nil {
		res.ValAcc = rec.Best.Value
	}
	file := filepath.Join(runDir, stepTimeFile)
	if len(stamps) > 3 {
		res.StepTime = medianStep(stamps[2:])
		b, _ := json.Marshal(map[string]float64{"step_seconds": res.StepTime.Seconds()})
		if err := os.WriteFile(file, b, 0o644); err != nil {
			return nil, fmt.Errorf("save step time: %w", err)
		}
	} else if b, err := os.ReadFile(file); err == nil {
		var m map[string]float64
		if json.Unmarshal(b, &m) == nil {
			res.StepTime = time.Duration(m["step_seconds"] * float64(time.Second))
		}
	}
	return res, nil
}

// medianStep is the median gap between consecutive step events. Epoch ends (validation,
// checkpoints) make a few gaps long; the median ignores them.
func medianStep(stamps []time.Time) time.Duration {
	gaps := make([]time.Duration, len(stamps)-1)
	for i := range gaps {
		gaps[i] = stamps[i+1].Sub(stamps[i])
	}
	slices.Sort(gaps)
	return gaps[len(gaps)/2]
}

// TrainTable trains the comparison table's networks (TableNets) with seed 0, one after the
// other, calling onRow after each so a notebook can redraw the table.
func TrainTable(ctx context.Context, cfg LessonConfig, opts TrainOptions, onRow func(i int, r *Result)) ([]*Result, error) {
	var out []*Result
	for i, net := range cfg.TableNets() {
		r, err := Train(ctx, cfg, net, 0, opts)
		if err != nil {
			return out, err
		}
		out = append(out, r)
		if onRow != nil {
			onRow(i, r)
		}
	}
	return out, nil
}

// CardinalityAblation runs the cardinality ablation with pkg/ablation: the plain bottleneck
// network with its 3×3 split into each of cfg.Cardinalities paths at equal parameters, with
// cfg.Seeds seeds. Seed 0 of each point is the same run as the table's row, so it is reused.
func CardinalityAblation(ctx context.Context, cfg LessonConfig, opts TrainOptions,
	onRow func(i int, t *ablation.Table)) (*ablation.Table, error) {
	base := cfg.RunConfig(ResNeXt(cfg.Base.Net, 1, 1))
	values := make([]string, len(cfg.Cardinalities))
	for i, c := range cfg.Cardinalities {
		values[i] = fmt.Sprint(c)
	}
	// Runs are told apart by their config id (the parent of the seed directory).
	labels := map[string]string{}
	for _, c := range cfg.Cardinalities {
		rc := base
		rc.Cardinality = c
		id, err := experiment.ConfigID(rc)
		if err != nil {
			return nil, err
		}
		labels[id] = rc.Net.Label()
	}
	var progress experiment.Progress
	if opts.Progress != nil {
		progress = func(ev experiment.Event) {
			opts.Progress(labels[filepath.Base(filepath.Dir(ev.RunDir))], ev)
		}
	}
	return ablation.Run(ctx, ablation.Spec{
		Runnable: Experiment,
		Base:     &base,
		Grid:     []ablation.Axis{{Key: "cardinality", Values: values}},
		Seeds:    cfg.Seeds,
		Dir:      opts.Dir,
		Backend:  opts.Backend,
		Progress: progress,
		OnRow:    onRow,
	})
}

// Repeated is one network trained with several seeds.
type Repeated struct {
	Label string
	Net   Net
	Cost  nn.Cost
	// TestAcc is the test accuracy over the seeds (mean ± sample std).
	TestAcc experiment.Stat
}

// ComplexityComparison trains each of cfg.Complexity with cfg.Seeds seeds (the paper's
// Table 4 question: deeper, wider or more paths at about twice the cost?).
func ComplexityComparison(ctx context.Context, cfg LessonConfig, opts TrainOptions,
	onRow func(i int, r Repeated)) ([]Repeated, error) {
	var out []Repeated
	for i, net := range cfg.Complexity {
		cost, err := CostOf(net)
		if err != nil {
			return out, err
		}
		sum, err := Experiment.Repeat(ctx, cfg.RunConfig(net), experiment.Seeds(cfg.Seeds, 0),
			experiment.Options{Dir: opts.Dir, Backend: opts.Backend, Progress: opts.progressFor(net.Label())})
		if err != nil {
			return out, fmt.Errorf("complexity %s: %w", net.Label(), err)
		}
		r := Repeated{Label: net.Label(), Net: net, Cost: cost, TestAcc: sum.Final["acc"]}
		out = append(out, r)
		if onRow != nil {
			onRow(i, r)
		}
	}
	return out, nil
}

// FeatureMaps runs one image through the network trained in runDir (its best checkpoint)
// and returns the feature maps after the stem and after each stage, each [1, H, W, C].
func FeatureMaps(runDir string, net Net, image *tensors.Tensor, backend compute.Backend) ([]*tensors.Tensor, error) {
	run, err := experiment.OpenRun(runDir)
	if err != nil {
		return nil, err
	}
	store, err := run.LoadBest()
	if err != nil {
		return nil, err
	}
	defer store.Finalize()
	if backend == nil {
		if backend, err = experiment.DefaultBackend(); err != nil {
			return nil, err
		}
	}
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
		return net.Features(scope, x)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	return exec.Call(image)
}

// Digits returns n consecutive images of the MNIST test split starting at first,
// standardized as in training, as a [n, 28, 28, 1] tensor, with their labels.
func Digits(first, n int) (*tensors.Tensor, []int, error) {
	test, err := mnist.Load(mnist.Test)
	if err != nil {
		return nil, nil, err
	}
	if first < 0 || n <= 0 || first+n > test.Len() {
		return nil, nil, fmt.Errorf("digits [%d, %d) outside [0, %d)", first, first+n, test.Len())
	}
	idx := make([]int, n)
	labels := make([]int, n)
	for i := range idx {
		idx[i] = first + i
		labels[i] = test.Label(first + i)
	}
	src := &mnist.Source{Set: test}
	x, _, err := src.Tensors(idx, nil)
	return x, labels, err
}

// imageShape is one MNIST image: the shape costs are measured for.
var imageShape = shapes.Make(dtypes.Float32, 1, mnist.Height, mnist.Width, 1)

// errNoBackend is returned when no backend can build graphs for counting.
var errNoBackend = errors.New("no backend to build the graph on")
