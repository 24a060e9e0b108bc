// Package exporttest runs exported models outside GoMLX, for tests: an ONNX file through
// onnxruntime (PyPI) in a Python that has it, such as the project's .venv. It is to
// pkg/export what net/http/httptest is to net/http.
package exporttest

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
)

// script runs an ONNX file with onnxruntime's CPU provider on one float32 input and writes
// its first output as raw little-endian float32, then prints a JSON summary.
const script = `
import json, sys
import numpy as np, onnxruntime as ort
ort.set_default_logger_severity(3)
model, xin, shape, yout = sys.argv[1:5]
s = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
x = np.fromfile(xin, dtype="<f4").reshape(json.loads(shape))
y = s.run(None, {s.get_inputs()[0].name: x})[0]
y.astype("<f4").tofile(yout)
print(json.dumps({"version": ort.__version__, "inputs": [i.name for i in s.get_inputs()],
                  "outputs": [o.name for o in s.get_outputs()], "shape": list(y.shape)}))
`

// Result is what onnxruntime computed.
type Result struct {
	// Output is the model's first output, flattened.
	Output []float32
	// Shape is its shape.
	Shape []int
	// Version is onnxruntime's version; Inputs and Outputs are the graph's names.
	Version         string
	Inputs, Outputs []string
}

// ONNXRuntime runs the ONNX file at path on x (a float32 tensor) with python's onnxruntime.
func ONNXRuntime(python, path string, x *tensors.Tensor) (*Result, error) {
	var flat []float32
	var ok bool
	x.MustConstFlatData(func(f any) {
		var v []float32
		if v, ok = f.([]float32); ok {
			flat = append(flat, v...)
		}
	})
	if !ok {
		return nil, fmt.Errorf("onnxruntime input: %s, want float32", x.Shape())
	}
	dir, err := os.MkdirTemp("", "gostudy-onnxruntime-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	in, out := filepath.Join(dir, "x.bin"), filepath.Join(dir, "y.bin")
	if err := WriteFloat32s(in, flat); err != nil {
		return nil, err
	}
	shape, _ := json.Marshal(x.Shape().Dimensions)
	stdout, err := exec.Command(python, "-c", script, path, in, string(shape), out).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		return nil, fmt.Errorf("onnxruntime on %s: %w\n%s", path, err, stderr)
	}
	var r Result
	var summary struct {
		Version         string
		Inputs, Outputs []string
		Shape           []int
	}
	lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &summary); err != nil {
		return nil, fmt.Errorf("onnxruntime summary %q: %w", stdout, err)
	}
	r.Version, r.Inputs, r.Outputs, r.Shape = summary.Version, summary.Inputs, summary.Outputs, summary.Shape
	if r.Output, err = ReadFloat32s(out); err != nil {
		return nil, err
	}
	return &r, nil
}

// WriteFloat32s writes v as raw little-endian float32 (numpy's "<f4"), the format the
// Python side of these checks reads with np.fromfile.
func WriteFloat32s(path string, v []float32) error {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return os.WriteFile(path, b, 0o644)
}

// ReadFloat32s reads a file of raw little-endian float32 values.
func ReadFloat32s(path string) ([]float32, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(raw)%4 != 0 {
		return nil, fmt.Errorf("%s: %d bytes is not a whole number of float32s", path, len(raw))
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}

// MaxAbsDiff is the largest |a[i] − b[i]|, or +Inf when the lengths differ.
func MaxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}
