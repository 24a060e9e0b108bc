package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	_ "github.com/gomlx/gomlx/backends/default"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gostudy/gostudy/pkg/backend/backendtest"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/experiment/digits"
	"github.com/gostudy/gostudy/pkg/export/exporttest"
	"github.com/gostudy/gostudy/pkg/nn"
	"github.com/gostudy/gostudy/pkg/safetensors"
)

// trainDigits trains a quick digits run (one epoch on 128 images, pure-Go backend) with the
// given arch and returns it opened as a finished run.
func trainDigits(t *testing.T, arch string) *experiment.FinishedRun {
	t.Helper()
	cfg := digits.Defaults()
	cfg.Arch, cfg.Hidden, cfg.Epochs = arch, 32, 1
	cfg.TrainSize, cfg.ValSize, cfg.TestSize = 128, 64, 64
	dir := t.TempDir()
	rec, err := digits.Experiment.Run(context.Background(), cfg, experiment.Options{Dir: dir, Seed: 4, Backend: backendtest.Go(t)})
	if err != nil {
		t.Fatalf("train %s: %v", arch, err)
	}
	run, err := experiment.OpenRun(experiment.RunDir(dir, digits.Name, rec.ConfigID, 4))
	if err != nil {
		t.Fatalf("open run: %v", err)
	}
	return run
}

// firstInputs returns the first n validation images of the run, [n, 16, 16, 1].
func firstInputs(t *testing.T, run *experiment.FinishedRun, n int) *tensors.Tensor {
	t.Helper()
	cfg := *run.Config.(*digits.Config)
	set := digits.Set("val", n, cfg.Noise, cfg.Jitter, 1)
	return tensors.FromFlatDataAndDimensions(set.X, n, digits.Size, digits.Size, 1)
}

func flatF32(t *testing.T, x *tensors.Tensor) []float32 {
	t.Helper()
	var out []float32
	x.MustConstFlatData(func(flat any) { out = append(out, flat.([]float32)...) })
	return out
}

func TestSafetensorsNamesMatchTimm(t *testing.T) {
	run := trainDigits(t, "vit")
	path := filepath.Join(t.TempDir(), "vit.safetensors")
	res, err := File(run, FormatSafetensors, path, 1)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	var fixture struct {
		Name      string         `json:"name"`
		Kwargs    map[string]any `json:"kwargs"`
		StateDict map[string]struct {
			Shape []int  `json:"shape"`
			DType string `json:"dtype"`
		} `json:"state_dict"`
	}
	data, err := os.ReadFile("testdata/timm_vit_digits.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &fixture); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	var want []string
	for k := range fixture.StateDict {
		want = append(want, k)
	}
	sort.Strings(want)
	if !reflect.DeepEqual(res.Keys, want) {
		t.Fatalf("exported keys differ from timm's state_dict:\n got %v\nwant %v", res.Keys, want)
	}
	for k, spec := range fixture.StateDict {
		got := f.Tensors[k]
		if got == nil || !reflect.DeepEqual(got.Shape().Dimensions, spec.Shape) || spec.DType != "float32" {
			t.Errorf("%s: exported %v, timm has %v %s", k, got.Shape(), spec.Shape, spec.DType)
		}
	}
	// The metadata tells Python which timm model to build, with the fixture's arguments.
	var tm experiment.TimmModel
	if err := json.Unmarshal([]byte(f.Metadata[MetaTimmModel]), &tm); err != nil || tm.Name != fixture.Name {
		t.Fatalf("timm metadata %q: %v", f.Metadata[MetaTimmModel], err)
	}
	fixKw, _ := json.Marshal(fixture.Kwargs)
	gotKw, _ := json.Marshal(tm.Kwargs)
	if string(fixKw) != string(gotKw) {
		t.Errorf("timm kwargs %s, fixture %s", gotKw, fixKw)
	}
	if f.Metadata[MetaExperiment] != digits.Name || f.Metadata[MetaInputLayout] != "NHWC" {
		t.Errorf("metadata %v", f.Metadata)
	}
	// The values are the best checkpoint's, tensor for tensor.
	_, store, err := LoadModel(run, []shapes.Shape{shapes.Make(dtypes.Float32, 1, digits.Size, digits.Size, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Finalize()
	for _, k := range res.Keys {
		v := store.GetVariable(nn.KeyToPath(k))
		if v == nil {
			t.Errorf("%s: no such variable in the checkpoint", k)
			continue
		}
		if d := exporttest.MaxAbsDiff(flatF32(t, f.Tensors[k]), flatF32(t, v.MustValue())); d != 0 {
			t.Errorf("%s differs from the checkpoint by %g", k, d)
		}
	}
}

// TestSafetensorsLoadsIntoTimm loads the export of a trained ViT into timm.create_model with a
// strict load_state_dict and compares timm's logits with GoMLX's.
func TestSafetensorsLoadsIntoTimm(t *testing.T) {
	py := os.Getenv("GOSTUDY_REF_PYTHON")
	if py == "" {
		t.Skip("set GOSTUDY_REF_PYTHON to a Python with torch, timm and safetensors (e.g. .venv-ref/bin/python) " +
			"to check the export loads into timm.create_model and gives the same logits")
	}
	run := trainDigits(t, "vit")
	path := filepath.Join(t.TempDir(), "vit.safetensors")
	if _, err := File(run, FormatSafetensors, path, 1); err != nil {
		t.Fatalf("export: %v", err)
	}
	in := firstInputs(t, run, 4)
	want4, err := Predict(run, backendtest.Go(t), in)
	if err != nil {
		t.Fatal(err)
	}
	// With the reference venv (PyTorch + timm), load the file into timm and compare logits.
	dir := t.TempDir()
	if err := exporttest.WriteFloat32s(filepath.Join(dir, "x.bin"), flatF32(t, in)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", timmScript, path, filepath.Join(dir, "x.bin"), "[4,16,16,1]", filepath.Join(dir, "y.bin"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("timm load: %v\n%s", err, out)
	}
	got, err := exporttest.ReadFloat32s(filepath.Join(dir, "y.bin"))
	if err != nil {
		t.Fatal(err)
	}
	d := exporttest.MaxAbsDiff(got, flatF32(t, want4[0]))
	t.Logf("timm vs GoMLX logits: max |diff| = %.3g (%s)", d, strings.TrimSpace(string(out)))
	if d > 1e-4 {
		t.Errorf("timm logits differ from GoMLX's by %g > 1e-4", d)
	}
}

// timmScript builds the timm model named in the file's metadata, loads the file strictly and
// writes the logits for an NHWC float32 input.
const timmScript = `
import json, sys
import numpy as np, torch, timm
from safetensors import safe_open
from safetensors.torch import load_file
path, xin, shape, yout = sys.argv[1:5]
with safe_open(path, "pt") as f:
    tm = json.loads(f.metadata()["timm_model"])
m = timm.create_model(tm["name"], pretrained=False, **tm.get("kwargs", {}))
m.load_state_dict(load_file(path), strict=True)
m.eval()
x = torch.from_numpy(np.fromfile(xin, dtype=np.float32).reshape(json.loads(shape))).permute(0, 3, 1, 2)
with torch.no_grad():
    y = m(x).numpy()
y.astype(np.float32).tofile(yout)
print("timm", timm.__version__, tm["name"], "loaded strictly")
`

func TestExportErrors(t *testing.T) {
	if _, err := File(nil, "tflite", "x", 1); err == nil || !strings.Contains(err.Error(), "tflite") {
		t.Errorf("unknown format: %v", err)
	}
	if _, err := experiment.OpenRun(t.TempDir()); err == nil {
		t.Errorf("opening a directory without a record must fail")
	}
	var u *UnsupportedOpError
	err := fmt.Errorf("wrapped: %w", &UnsupportedOpError{Op: "Foo", Err: compute.ErrNotImplemented})
	if !errors.As(err, &u) || !errors.Is(err, compute.ErrNotImplemented) || !strings.Contains(err.Error(), "Foo") {
		t.Errorf("UnsupportedOpError: %v", err)
	}
}
