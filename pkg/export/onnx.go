//go:build onnx

package export

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/gomlx/compute"
	onnxbackend "github.com/gomlx/compute-onnx"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/onnx"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// ONNXEnabled tells whether this binary was built with the "onnx" tag.
const ONNXEnabled = true

// onnxBackend opens ONNX Runtime (CPU) once per process, pointing its Go bindings at the
// shared library FindONNXRuntime finds.
var onnxBackend = sync.OnceValues(func() (compute.Backend, error) {
	lib, err := FindONNXRuntime()
	if err != nil {
		return nil, err
	}
	if err := os.Setenv(EnvONNXRuntime, lib); err != nil {
		return nil, fmt.Errorf("set $%s: %w", EnvONNXRuntime, err)
	}
	b, err := onnxbackend.New("cpu")
	if err != nil {
		return nil, fmt.Errorf("open ONNX Runtime (%s): %w", lib, err)
	}
	return b, nil
})

// ONNX writes the run's best model as an ONNX model to path, atomically, for inputs with
// batch examples (ONNX shapes here are static). The graph is built in inference mode (no
// dropout) with the variables as constants. When the ONNX backend lacks an op the model needs,
// the error is an *UnsupportedOpError naming it.
func ONNX(run *experiment.FinishedRun, path string, batch int) (res *Result, err error) {
	if batch <= 0 {
		batch = 1
	}
	in, err := run.Experiment.InputShapes(run.Config, run.Record.Seed, batch)
	if err != nil {
		return nil, err
	}
	fn, store, err := LoadModel(run, in)
	if err != nil {
		return nil, err
	}
	defer store.Finalize()
	b, err := onnxBackend()
	if err != nil {
		return nil, err
	}
	inputNames := make([]string, len(in))
	for i := range in {
		inputNames[i] = "input"
		if len(in) > 1 {
			inputNames[i] = fmt.Sprintf("input_%d", i)
		}
	}
	outputNames := []string{"output"}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("export %s to ONNX: %v", run.Dir, r)
			if e, ok := r.(error); ok && errors.Is(e, compute.ErrNotImplemented) {
				err = newUnsupportedOpError(e)
			}
		}
	}()
	e, err := model.NewExec(b, store, fn)
	if err != nil {
		return nil, fmt.Errorf("export %s to ONNX: %w", run.Dir, err)
	}
	defer e.Finalize()
	err = atomicWrite(path, func(tmp string) error {
		return onnx.SaveToFile(b, e, tmp, in, inputNames, outputNames)
	})
	if errors.Is(err, compute.ErrNotImplemented) {
		return nil, newUnsupportedOpError(err)
	}
	if err != nil {
		return nil, err
	}
	return &Result{Path: path, Format: FormatONNX, InputShapes: append([]shapes.Shape(nil), in...),
		InputNames: inputNames, OutputNames: outputNames}, nil
}
