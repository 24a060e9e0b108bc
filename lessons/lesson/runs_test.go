package lesson

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/internal/checkout"
	"github.com/gostudy/gostudy/pkg/ablation"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// tinyConfig is a linear classifier of a few MNIST images: a run config built the way lessons
// build theirs.
type tinyConfig struct {
	experiment.Train
	Hidden int `json:"hidden" help:"hidden units (0: linear)"`
	MNIST
}

// Logits is the tiny network: a linear layer on the pixels, with a hidden ReLU layer when
// Hidden > 0.
func (cfg tinyConfig) Logits(scope *model.Scope, x *graph.Node) *graph.Node {
	x = graph.Reshape(x, x.Shape().Dimensions[0], -1)
	if cfg.Hidden > 0 {
		x = nn.ReLU(nn.Linear(scope.In("fc1"), x, cfg.Hidden, true))
	}
	return nn.Linear(scope.In("fc"), x, 10, true)
}

var tiny = Classifier("lesson-kit-tiny", "", func() tinyConfig {
	return tinyConfig{Train: experiment.Train{Epochs: 1, BatchSize: 32, LearningRate: 1e-2, LogEvery: 1},
		MNIST: MNIST{TrainSize: 256, ValSize: 250, TestSize: 250}}
}, LogitsModel[tinyConfig]())

// TestClassifier checks what Classifier fills in: the config's data in batches of its own
// batch size, and the config's logits as the model's one output.
func TestClassifier(t *testing.T) {
	cfg := tiny.Defaults()
	cfg.BatchSize = 16
	d, err := tiny.Data(cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d.StepsPerEpoch != 256/16 {
		t.Errorf("%d batches per epoch of 256 images, want %d (the config's batches of 16)", d.StepsPerEpoch, 256/16)
	}
	if tiny.Select != BestAccuracy || tiny.Loss == nil || len(tiny.Metrics(cfg)) != 1 {
		t.Errorf("selection %+v, loss set %v, %d metrics", tiny.Select, tiny.Loss != nil, len(tiny.Metrics(cfg)))
	}
}

func TestRunsDir(t *testing.T) {
	t.Setenv(EnvRuns, "/somewhere/runs")
	if got := RunsDir(); got != "/somewhere/runs" {
		t.Errorf("RunsDir with %s set = %q", EnvRuns, got)
	}
	t.Setenv(EnvRuns, "")
	root, err := checkout.Root()
	if err != nil {
		t.Fatal(err)
	}
	// The same folder from the checkout's root and from notebooks/.
	for _, wd := range []string{root, filepath.Join(root, "notebooks")} {
		t.Chdir(wd)
		if got := RunsDir(); got != filepath.Join(root, "runs") {
			t.Errorf("RunsDir from %s = %q", wd, got)
		}
	}
}

// TestTrainLoadCompareSweep trains the tiny classifier: Train runs and loads, Load finds the
// finished run, Compare reuses it as seed 0 of its arm, Sweep labels its runs by value.
func TestTrainLoadCompareSweep(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	cfg := tiny.DefaultConfig()
	var labels []string
	opts := Options{Dir: dir, Progress: func(label string, ev experiment.Event) {
		if ev.Kind == experiment.EventStart || ev.Kind == experiment.EventSkip {
			labels = append(labels, label+":"+string(ev.Kind))
		}
	}}
	tr, err := Train(ctx, tiny, cfg, 0, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if acc := tr.Accuracy(); acc < 0.5 {
		t.Errorf("8 steps of a linear classifier: test accuracy %.3f", acc)
	}
	if _, err := os.Stat(filepath.Join(tr.Dir, "record.json")); err != nil {
		t.Errorf("Trained.Dir %s is not the run folder: %v", tr.Dir, err)
	}
	if tr.Store == nil {
		t.Fatal("no store")
	}
	tr.Close()
	tr.Close() // twice is fine
	again, err := Load(tiny, cfg, 0, dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Dir != tr.Dir || again.Accuracy() != tr.Accuracy() {
		t.Errorf("Load found %s (%.4f), Train made %s (%.4f)", again.Dir, again.Accuracy(), tr.Dir, tr.Accuracy())
	}
	again.Close()
	if _, err := Load(tiny, cfg, 1, dir); err == nil {
		t.Error("Load of a seed never trained succeeded")
	}

	wide := cfg
	wide.Hidden = 16
	res, table, err := Compare(ctx, tiny, []Arm[tinyConfig]{{"linear", cfg}, {"hidden 16", wide}}, 2, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Acc().N() != 2 || len(res[1].Dirs) != 2 || res[0].Dirs[0] != tr.Dir {
		t.Fatalf("compare: %d arms, %d seeds, dirs %v (want %s first)", len(res), res[0].Acc().N(), res[0].Dirs, tr.Dir)
	}
	if res[0].Acc().Values[0] != tr.Accuracy() {
		t.Errorf("seed 0 of the linear arm was not the run trained before: %v vs %.4f", res[0].Acc().Values, tr.Accuracy())
	}
	md := table.Markdown()
	if !strings.Contains(md, "hidden 16") || !strings.Contains(md, ArmAxis) {
		t.Errorf("table:\n%s", md)
	}
	want := []string{"lesson-kit-tiny:start", "linear:skip", "linear:start", "hidden 16:start", "hidden 16:start"}
	if strings.Join(labels, " ") != strings.Join(want, " ") {
		t.Errorf("progress labels %v, want %v", labels, want)
	}
	if _, _, err := Compare(ctx, tiny, []Arm[tinyConfig]{{"a", cfg}, {"a", wide}}, 1, opts, nil); err == nil {
		t.Error("repeated arm names accepted")
	}

	// A live view of the same comparison, all done before: drawn from the records, one curve
	// per arm (seed 0), the bar full.
	t.Setenv("GOSTUDY_OUT", t.TempDir())
	live := NewLive("compare", 4*cfg.Steps(cfg.BatchSize, cfg.Epochs))
	if _, _, err := Compare(ctx, tiny, []Arm[tinyConfig]{{"linear", cfg}, {"hidden 16", wide}}, 2,
		Options{Dir: dir, Progress: live.Progress}, nil); err != nil {
		t.Fatal(err)
	}
	live.Done()
	curves := live.Curves.Curves()
	if len(curves.Series) != 2 || curves.Series[0].Name != "linear" || len(curves.Series[1].X) != cfg.Steps(cfg.BatchSize, cfg.Epochs) {
		t.Errorf("live curves: %d series %+v", len(curves.Series), curves.Series)
	}
	if n := live.bar.Count(); n != 4*cfg.Steps(cfg.BatchSize, cfg.Epochs) {
		t.Errorf("the bar counts %d steps of the four runs done before, want %d", n, 4*cfg.Steps(cfg.BatchSize, cfg.Epochs))
	}
	if !strings.Contains(curves.Title, "training loss") {
		t.Errorf("live title %q does not say what it plots", curves.Title)
	}

	labels = nil
	sweep, err := Sweep(ctx, tiny, cfg, ablation.Axis{Key: "hidden", Values: []string{"0", "16"}}, 1, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sweep.Rows) != 2 || sweep.Rows[1].Summary.Final["acc"].Values[0] != res[1].Acc().Values[0] {
		t.Errorf("sweep did not reuse the comparison's runs: %+v", sweep.Rows)
	}
	if strings.Join(labels, " ") != "hidden=0:skip hidden=16:skip" {
		t.Errorf("sweep labels %v", labels)
	}
}

func TestVersus(t *testing.T) {
	st := func(v ...float64) experiment.Stat { return experiment.NewStat(v) }
	d := Versus(st(0.99, 0.98, 0.99), st(0.95, 0.96, 0.95))
	if d.Verdict != Higher || math.Abs(d.Points-3.333) > 0.01 || d.StdErr <= 0 {
		t.Errorf("clear gain: %+v", d)
	}
	if d := Versus(st(0.95, 0.96, 0.95), st(0.99, 0.98, 0.99)); d.Verdict != Lower {
		t.Errorf("clear loss: %+v", d)
	}
	if d := Versus(st(0.97, 0.95), st(0.96, 0.97)); d.Verdict != WithinNoise {
		t.Errorf("noise: %+v", d)
	}
	if d := Versus(st(0.99), st(0.5, 0.6)); d.Verdict != OneSeed || d.StdErr != 0 {
		t.Errorf("one seed: %+v", d)
	}
	if s := Versus(st(0.99, 0.98), st(0.95, 0.96)).String(); !strings.Contains(s, "+3.00 points (standard error") {
		t.Errorf("String: %s", s)
	}
}
