//go:build onnx

package export

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/backend/backendtest"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/experiment/digits"
	"github.com/gostudy/gostudy/pkg/export/exporttest"
	"github.com/gostudy/gostudy/pkg/safetensors"
)

// TestONNXMatchesGoMLX exports trained digits models (MLP, strided CNN, ViT) to ONNX, runs
// the files with onnxruntime in Python and compares the logits with GoMLX's.
func TestONNXMatchesGoMLX(t *testing.T) {
	py := os.Getenv(EnvPython)
	if py == "" {
		t.Skipf("set %s to a Python with onnxruntime and numpy (the project's .venv/bin/python) to run the ONNX export check", EnvPython)
	}
	for _, arch := range []string{"mlp", "cnn", "vit"} {
		t.Run(arch, func(t *testing.T) {
			run := trainDigits(t, arch)
			dir := t.TempDir()
			path := filepath.Join(dir, arch+".onnx")
			const batch = 4
			res, err := File(run, FormatONNX, path, batch)
			if err != nil {
				t.Fatalf("export: %v", err)
			}
			if res.FellBackFrom != nil || res.Format != FormatONNX {
				t.Fatalf("%s fell back to safetensors: %v", arch, res.FellBackFrom)
			}
			in := firstInputs(t, run, batch)
			want, err := Predict(run, backendtest.Go(t), in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := exporttest.ONNXRuntime(py, path, in)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Inputs, []string{"input"}) || !slices.Equal(got.Shape, []int{4, 10}) {
				t.Errorf("unexpected graph signature: inputs %v, output shape %v", got.Inputs, got.Shape)
			}
			d := exporttest.MaxAbsDiff(got.Output, flatF32(t, want[0]))
			t.Logf("%s: onnxruntime %s vs GoMLX max |diff| = %.3g", arch, got.Version, d)
			if d > 1e-4 {
				t.Errorf("onnxruntime output differs from GoMLX's by %g > 1e-4", d)
			}
		})
	}
}

// rsqrtExp is digits with an RMS-style normalisation written with Rsqrt, an op the ONNX
// backend of GoMLX v0.28.2 does not implement.
var rsqrtExp = func() *experiment.Experiment[digits.Config] {
	e := *digits.Experiment
	e.Name = "digits-rsqrt"
	e.Timm = nil
	e.Model = func(scope *model.Scope, cfg digits.Config, inputs []*graph.Node) []*graph.Node {
		x := graph.Reshape(inputs[0], inputs[0].Shape().Dimensions[0], -1)
		x = layers.DenseWithBias(scope.In("fc1"), x, cfg.Hidden)
		x = graph.Mul(x, graph.Rsqrt(graph.AddScalar(graph.ReduceAndKeep(graph.Square(x), graph.ReduceMean, -1), 1e-5)))
		return []*graph.Node{layers.DenseWithBias(scope.In("head"), x, digits.Classes)}
	}
	experiment.MustRegister(&e)
	return &e
}()

func TestONNXFallsBackToSafetensorsOnMissingOp(t *testing.T) {
	if _, err := FindONNXRuntime(); err != nil {
		t.Skipf("no ONNX Runtime library: %v", err)
	}
	cfg := digits.Defaults()
	cfg.Epochs, cfg.TrainSize, cfg.ValSize, cfg.TestSize = 1, 64, 64, 64
	dir := t.TempDir()
	rec, err := rsqrtExp.Run(context.Background(), cfg, experiment.Options{Dir: dir, Backend: backendtest.Go(t)})
	if err != nil {
		t.Fatal(err)
	}
	run, err := experiment.OpenRun(experiment.RunDir(dir, rsqrtExp.Name, rec.ConfigID, 0))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.onnx")
	res, err := File(run, FormatONNX, path, 2)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	var u *UnsupportedOpError
	if res.Format != FormatSafetensors || !errors.As(res.FellBackFrom, &u) || u.Op != "Rsqrt" {
		t.Fatalf("want a safetensors fallback naming Rsqrt, got format %s, reason %v", res.Format, res.FellBackFrom)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("no (partial) ONNX file may be left at %s: %v", path, err)
	}
	f, err := safetensors.ReadFile(strings.TrimSuffix(path, ".onnx") + ".safetensors")
	if err != nil || f.Tensors["fc1.dense.weights"] == nil {
		t.Fatalf("fallback file: %v", err)
	}
	t.Logf("fallback reason: %v", res.FellBackFrom)
}
