package repvgg

import (
	"fmt"
	"slices"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/nn"
)

// countingBackend is the kit's pure-Go backend, for graphs that are only built and counted.
var countingBackend = lesson.CountingBackend

// Measure is nn.Measure of fn on one input of the given dimensions, on the pure-Go backend.
func Measure(fn nn.ModelFn, dims ...int) (nn.Cost, error) {
	b, err := countingBackend()
	if err != nil {
		return nn.Cost{}, fmt.Errorf("counting backend: %w", err)
	}
	return nn.Measure(b, fn, shapes.Make(dtypes.Float32, dims...))
}

// FormCost is one form of a network: what it stores and computes per image.
type FormCost struct {
	Form string `display:"form"`
	// Params are the trainable parameters, Buffers BatchNorm's running statistics.
	Params  int64 `display:"parameters"`
	Buffers int64 `display:"BN buffers"`
	// MMACs is the multiply-accumulates of the convolutions and the head per image, in millions.
	MMACs float64 `display:"MACs;unit=M;format=%.3f"`
	// Branches is the number of parallel branches over all layers: a 3×3 conv, a 1×1 conv or
	// an identity BN each; one per layer once fused.
	Branches int     `display:"branches"`
	Cost     nn.Cost `display:"-"`
}

// Costs counts a repvgg or plain network as trained (branches) and as deployed (fused), on one
// size×size one-channel image with the given classes.
func Costs(net Net, classes, size int) ([]FormCost, error) {
	if net.Arch == ArchResNet {
		return nil, fmt.Errorf("costs of the fused form: %s has no fused form", net.Label())
	}
	var out []FormCost
	for _, fused := range []bool{false, true} {
		cfg := net.RepVGGConfig(classes, fused)
		c, err := Measure(nn.RepVGGNet(cfg), 1, size, size, 1)
		if err != nil {
			return nil, err
		}
		branches := 0
		_, ins, cfgs := cfg.Blocks()
		for i, b := range cfgs {
			switch {
			case fused || b.Plain:
				branches++
			case b.Stride == 1 && ins[i] == b.Out:
				branches += 3 // 3×3, 1×1 and the identity BN (a per-channel affine map)
			default:
				branches += 2
			}
		}
		form := "trained: " + net.Arch + " branches"
		if fused {
			form = "deployed: fused, one 3×3 conv per layer"
		}
		out = append(out, FormCost{Form: form, Params: c.Params, Buffers: c.Buffers, MMACs: float64(c.MACs) / 1e6, Branches: branches, Cost: c})
	}
	return out, nil
}

// Timing is the inference time of the two forms of a network, measured in one run.
type Timing struct {
	Batch, Rounds int
	// UnfusedMS and FusedMS are the median wall times of one batch, in milliseconds.
	UnfusedMS, FusedMS float64
	// Speedup is UnfusedMS / FusedMS.
	Speedup float64
}

// TimeInference times the trained (branches) and fused forms of a network whose blocks have
// been fused in store (FuseAndCompare), on backend, with images as the batch: both are compiled
// and run once, then rounds alternate the two (which goes first alternates too, so neither
// always meets a warmer cache), each call waiting for its logits. The median of each form's
// rounds is compared. It is a benchmark in the same run, on whatever else the machine is doing:
// the lesson prints the load average beside it.
func TimeInference(backend compute.Backend, store *model.Store, net Net, images *tensors.Tensor, rounds int) (Timing, error) {
	return lesson.Catch("time inference", func() (Timing, error) {
		if rounds < 1 {
			return Timing{}, fmt.Errorf("rounds %d: want at least 1", rounds)
		}
		classes := 10
		var execs [2]*model.Exec
		for i, fused := range []bool{false, true} {
			fn := nn.RepVGGNet(net.RepVGGConfig(classes, fused))
			e, err := model.NewExec(backend, store, func(scope *model.Scope, x *Node) *Node { return fn(scope, x) })
			if err != nil {
				return Timing{}, err
			}
			defer e.Finalize()
			execs[i] = e
		}
		call := func(e *model.Exec) (time.Duration, error) {
			t0 := time.Now()
			out, err := e.Call1(images)
			if err != nil {
				return 0, err
			}
			// Reading the logits waits for the computation.
			if _, err := tensors.CopyFlatData[float32](out); err != nil {
				return 0, err
			}
			d := time.Since(t0)
			out.FinalizeAll()
			return d, nil
		}
		for _, e := range execs { // compile and warm up
			if _, err := call(e); err != nil {
				return Timing{}, err
			}
		}
		var times [2][]time.Duration
		for r := range rounds {
			for k := range 2 {
				i := (r + k) % 2
				d, err := call(execs[i])
				if err != nil {
					return Timing{}, err
				}
				times[i] = append(times[i], d)
			}
		}
		med := func(d []time.Duration) float64 {
			slices.Sort(d)
			return float64(d[len(d)/2]) / 1e6
		}
		t := Timing{Batch: images.Shape().Dimensions[0], Rounds: rounds, UnfusedMS: med(times[0]), FusedMS: med(times[1])}
		t.Speedup = t.UnfusedMS / t.FusedMS
		return t, nil
	})
}
