// Command gobench measures how many training examples per second GoMLX processes for the
// lesson models on one backend, and prints one JSON line per run. bench/train/torch_bench.py
// measures PyTorch on the same models, batch and optimizer; bench/train/run_cpu.sh and
// bench/gpu.sh run both and print the comparison.
//
// One training step is forward, softmax cross-entropy, backward and an Adam update
// (lr 1e-3), on a fixed random batch kept on the device, as the PyTorch side does. Warm-up
// steps (the first one compiles) are excluded; then several rounds of timed steps each end
// by reading the loss, which waits for all queued work, and the median round is reported.
//
// Usage:
//
//	gobench -model cnn -backend xla:cpu -batch 128 [-warmup 3 -iters 20 -repeats 3 -budget 20s]
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gostudy/gostudy/pkg/backend"
	"github.com/gostudy/gostudy/pkg/nn"
)

// result is the JSON line gobench prints; torch_bench.py prints the same fields.
type result struct {
	Impl          string    `json:"impl"`
	Backend       string    `json:"backend"`
	Model         string    `json:"model"`
	Batch         int       `json:"batch"`
	Params        int64     `json:"params,omitempty"`
	FirstStepS    float64   `json:"first_step_s,omitempty"` // includes compilation
	StepsPerRound int       `json:"steps_per_round,omitempty"`
	Rounds        []float64 `json:"rounds_examples_per_s,omitempty"`
	ExamplesPerS  float64   `json:"examples_per_s,omitempty"` // median round
	CPUPerStepS   float64   `json:"cpu_s_per_step,omitempty"` // process CPU time (user+sys) per timed step
	LossFirst     float64   `json:"loss_first,omitempty"`
	LossLast      float64   `json:"loss_last,omitempty"`
	Device        string    `json:"device,omitempty"`
	Threads       int       `json:"threads,omitempty"`
	Build         string    `json:"build,omitempty"` // Go, GoMLX, go-xla and plugin versions
	Error         string    `json:"error,omitempty"`
}

func main() {
	var (
		modelName = flag.String("model", "cnn", "model: "+modelNames())
		backendNm = flag.String("backend", "", `backend ("go", "xla:cpu", "xla:cuda"); empty: pkg/backend's default`)
		batch     = flag.Int("batch", 0, "batch size (0: the model's CPU or GPU default)")
		warmup    = flag.Int("warmup", 3, "untimed steps first (the first compiles)")
		iters     = flag.Int("iters", 20, "timed steps per round, at most")
		repeats   = flag.Int("repeats", 3, "timed rounds; the median is reported")
		budget    = flag.Duration("budget", 20*time.Second, "time per round: fewer steps (at least 2) when a step is slow")
		seed      = flag.Uint64("seed", 1, "seed of the random batch and the weights")
		list      = flag.Bool("list", false, "print the model names and exit")
	)
	flag.Parse()
	if *list {
		fmt.Println(strings.ReplaceAll(modelNames(), ",", ""))
		return
	}
	res := result{Impl: "gomlx", Model: *modelName, Threads: runtime.NumCPU()}
	err := backend.Recover(func() error {
		return run(&res, *backendNm, *batch, *warmup, *iters, *repeats, *budget, *seed)
	})
	if err != nil {
		res.Error = err.Error()
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if err != nil {
		var un *backend.UnsupportedOpError
		if !errors.As(err, &un) {
			os.Exit(1) // an unsupported op is a result; anything else is a failure
		}
	}
}

func run(res *result, backendName string, batch, warmup, iters, repeats int, budget time.Duration, seed uint64) error {
	m, ok := models[res.Model]
	if !ok {
		return fmt.Errorf("unknown model %q (have %s)", res.Model, modelNames())
	}
	if backendName != "" {
		if err := backend.Use(backendName); err != nil {
			return err
		}
	}
	b, err := backend.Default()
	if err != nil {
		return err
	}
	res.Backend = backend.Active()
	res.Device = b.DeviceDescription(0)
	res.Build = buildInfo(b)
	if batch <= 0 {
		batch = m.CPUBatch
		if res.Backend == backend.CUDA {
			batch = m.GPUBatch
		}
	}
	res.Batch = batch

	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(seed))
	opt := optimizer.Adam().LearningRate(1e-3).Done()
	step, err := model.NewExec(b, store, func(scope *model.Scope, x, labels *graph.Node) *graph.Node {
		g := x.Graph()
		store.SetTraining(g, true)
		logits := m.Fn(scope, x)
		l := loss.SparseCategoricalCrossEntropyLogits([]*graph.Node{labels}, []*graph.Node{logits})
		if !l.Shape().IsScalar() {
			l = graph.ReduceAllMean(l)
		}
		opt.UpdateGraph(scope, g, l)
		return l
	})
	if err != nil {
		return fmt.Errorf("build the train step: %w", err)
	}

	x, y, err := randomBatch(b, batch, m, seed)
	if err != nil {
		return err
	}
	// stepN runs n steps and waits for the last: reading the loss blocks until the
	// device has finished everything queued before it.
	stepN := func(n int) (lossValue float64, err error) {
		var last *tensors.Tensor
		for range n {
			out, err := step.Exec(x, y)
			if err != nil {
				return 0, fmt.Errorf("train step: %w", err)
			}
			if last != nil {
				_ = last.FinalizeAll()
			}
			last = out[0]
		}
		v := tensors.MustCopyFlatData[float32](last)[0]
		_ = last.FinalizeAll()
		return float64(v), nil
	}

	start := time.Now()
	if res.LossFirst, err = stepN(1); err != nil {
		return err
	}
	res.FirstStepS = time.Since(start).Seconds()
	res.Params, _ = nn.CountParams(store)
	stepTime := time.Duration(0)
	for i := 1; i < warmup; i++ {
		t := time.Now()
		if _, err := stepN(1); err != nil {
			return err
		}
		stepTime = time.Since(t)
	}
	n := iters
	if stepTime > 0 && budget > 0 {
		n = min(iters, max(2, int(budget/stepTime)))
	}
	res.StepsPerRound = n
	cpu0 := cpuTime()
	for range repeats {
		t := time.Now()
		if res.LossLast, err = stepN(n); err != nil {
			return err
		}
		res.Rounds = append(res.Rounds, float64(batch*n)/time.Since(t).Seconds())
	}
	res.CPUPerStepS = (cpuTime() - cpu0) / float64(repeats*n)
	res.ExamplesPerS = median(res.Rounds)
	return nil
}

// randomBatch makes a fixed batch of N(0,1) images and uniform labels, placed on device 0
// once so that every step reads it from there (as the PyTorch side does).
func randomBatch(b compute.Backend, batch int, m benchModel, seed uint64) (x, y *tensors.Tensor, err error) {
	rng := rand.New(rand.NewPCG(seed, 2))
	img := make([]float32, batch*m.H*m.W*m.C)
	for i := range img {
		img[i] = float32(rng.NormFloat64())
	}
	lab := make([]int32, batch)
	for i := range lab {
		lab[i] = int32(rng.IntN(m.Classes))
	}
	x = tensors.FromFlatDataAndDimensions(img, batch, m.H, m.W, m.C)
	y = tensors.FromFlatDataAndDimensions(lab, batch, 1)
	for _, t := range []*tensors.Tensor{x, y} {
		if err := t.MaterializeOnDevice(b, false, 0); err != nil {
			return nil, nil, fmt.Errorf("copy the batch to the device: %w", err)
		}
	}
	return x, y, nil
}

// buildInfo names the versions that produced a number: Go, GoMLX, go-xla and, on XLA,
// the plugin's PJRT C API version and the wheel it came from.
func buildInfo(b compute.Backend) string {
	parts := []string{runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/gomlx/gomlx":
				parts = append(parts, "GoMLX "+d.Version)
			case "github.com/gomlx/go-xla":
				parts = append(parts, "go-xla "+d.Version)
			}
		}
	}
	if p := backend.PluginInfo(); p != "" {
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// cpuTime is the CPU time (user + system, all threads) this process has used, in seconds:
// on a shared machine it tells how much of a step's wall time was spent computing.
func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func init() {
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: gobench [flags]\n%s\n", strings.TrimSpace(`
Measures GoMLX training throughput (examples/s) of one model on one backend; prints a JSON line.`))
		flag.PrintDefaults()
	}
}
