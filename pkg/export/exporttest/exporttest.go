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

// script runs an ONNX file with onnxruntime's CPU provider on its inputs (each a raw
// little-endian file with its dtype and shape, in the graph's input order) and writes its first
// output as raw little-endian float32, then prints a JSON summary.
const script = `
import json, sys
import numpy as np, onnxruntime as ort
ort.set_default_logger_severity(3)
model, yout, specs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
s = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
feed = {i.name: np.fromfile(f, dtype=d).reshape(shape) for i, (f, d, shape) in zip(s.get_inputs(), specs)}
y = s.run(None, feed)[0]
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
	return ONNXRuntimeInputs(python, path, x)
}

// ONNXRuntimeInputs runs the ONNX file at path on several inputs, in the graph's input order:
// float32 or int32 tensors (images and, say, rater ids).
func ONNXRuntimeInputs(python, path string, xs ...*tensors.Tensor) (*Result, error) {
	dir, err := os.MkdirTemp("", "gostudy-onnxruntime-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	var specs [][3]any
	for k, x := range xs {
		in := filepath.Join(dir, fmt.Sprintf("x%d.bin", k))
		var werr error
		dtype := ""
		x.MustConstFlatData(func(f any) {
			switch v := f.(type) {
			case []float32:
				dtype, werr = "<f4", WriteFloat32s(in, v)
			case []int32:
				b := make([]byte, 4*len(v))
				for i, n := range v {
					binary.LittleEndian.PutUint32(b[4*i:], uint32(n))
				}
				dtype, werr = "<i4", os.WriteFile(in, b, 0o644)
			}
		})
		if dtype == "" {
			return nil, fmt.Errorf("onnxruntime input %d: %s, want float32 or int32", k, x.Shape())
		}
		if werr != nil {
			return nil, werr
		}
		specs = append(specs, [3]any{in, dtype, x.Shape().Dimensions})
	}
	out := filepath.Join(dir, "y.bin")
	specJSON, err := json.Marshal(specs)
	if err != nil {
		return nil, err
	}
	stdout, err := exec.Command(python, "-c", script, path, out, string(specJSON)).Output()
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
