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
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// Result is one trained network: what it costs, what it reached and how long a step took —
// a row of the comparison table.
type Result struct {
	Label string `display:"network"`
	// Params and MFLOPs are per 28×28 image (FLOPs = 2 × multiply-accumulates).
	Params int64   `display:"parameters"`
	MFLOPs float64 `display:"FLOPs;unit=M;format=%.2f"`
	// TestAcc is the best checkpoint's accuracy on the test images; ValAcc the best
	// validation accuracy that selected it.
	TestAcc float64 `display:"test accuracy;format=%.4f"`
	ValAcc  float64 `display:"-"`
	// StepMS is the median wall time of a training step after the first two (which compile
	// the graph), measured while training, in milliseconds.
	StepMS float64 `display:"time per step;unit=ms;format=%.1f"`
	// Steps is the number of training steps; WallS the run's wall time in seconds,
	// compilation and evaluation included.
	Steps int     `display:"steps"`
	WallS float64 `display:"run time;unit=s;format=%.0f"`
	Net   Net     `display:"-"`
	Seed  int64   `display:"-"`
	Cost  nn.Cost `display:"-"`
	// RunDir is the run's folder (record.json, best checkpoint; `gostudy export` takes it).
	RunDir string `display:"-"`
}

// stepTimeFile keeps a run's measured step time next to its record, so a run reused from
// disk (a later cell, an ablation sharing the run) reports it too.
const stepTimeFile = "step_time.json"

// TrainNet trains (or reuses, when already done under the runs folder) net with the budget's
// run config and one seed, measuring the time per step. ctx cancels it cleanly: the run stops
// after the current step and saves a checkpoint. opts.Progress sees the events labelled with
// the network's label.
func TrainNet(ctx context.Context, cfg Config, net Net, seed int64, opts lesson.Options) (*Result, error) {
	cost, err := CostOf(net)
	if err != nil {
		return nil, err
	}
	var stamps []time.Time
	progress := opts.Progress
	opts.Progress = func(label string, ev experiment.Event) {
		if ev.Kind == experiment.EventStep {
			stamps = append(stamps, time.Now())
		}
		if progress != nil {
			progress(net.Label(), ev)
		}
	}
	tr, err := lesson.Train(ctx, Experiment, cfg.RunOf(net), seed, opts)
	if err != nil {
		return nil, fmt.Errorf("train %s (seed %d): %w", net.Label(), seed, err)
	}
	defer tr.Close()
	res := &Result{Label: net.Label(), Net: net, Seed: seed, Cost: cost, Params: cost.Params, MFLOPs: float64(cost.FLOPs) / 1e6,
		TestAcc: tr.Accuracy(), ValAcc: tr.Record.Best.Value, Steps: tr.Record.Step, WallS: tr.Record.WallSeconds, RunDir: tr.Dir}
	file := filepath.Join(tr.Dir, stepTimeFile)
	if len(stamps) > 3 {
		res.StepMS = medianStep(stamps[2:]).Seconds() * 1e3
		b, err := json.Marshal(map[string]float64{"step_seconds": res.StepMS / 1e3})
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(file, b, 0o644); err != nil {
			return nil, fmt.Errorf("save step time: %w", err)
		}
	} else if b, err := os.ReadFile(file); err == nil {
		var m map[string]float64
		if json.Unmarshal(b, &m) == nil {
			res.StepMS = m["step_seconds"] * 1e3
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

// imageShape is one MNIST image: the shape costs are measured for.
var imageShape = shapes.Make(dtypes.Float32, 1, mnist.Height, mnist.Width, 1)

// errNoBackend is returned when no backend can build graphs for counting.
var errNoBackend = errors.New("no backend to build the graph on")

// FeatureMaps runs images [B, 28, 28, 1] through net with the variables of store (a trained
// run's, from lesson.Load, or a fresh store: the network as initialized) and returns the feature
// maps after the stem and after each stage, each [B, H, W, C]. A nil backend means the default.
func FeatureMaps(store *model.Store, net Net, images *tensors.Tensor, backend compute.Backend) ([]*tensors.Tensor, error) {
	return lesson.Catch("feature maps of "+net.Label(), func() ([]*tensors.Tensor, error) {
		if backend == nil {
			b, err := experiment.DefaultBackend()
			if err != nil {
				return nil, err
			}
			backend = b
		}
		exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
			return net.Features(scope, x)
		})
		if err != nil {
			return nil, err
		}
		defer exec.Finalize()
		return exec.Call(images)
	})
}
