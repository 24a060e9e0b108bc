//go:build !onnx

package export

import "github.com/gostudy/gostudy/pkg/experiment"

// ONNXEnabled tells whether this binary was built with the "onnx" tag.
const ONNXEnabled = false

// ONNX returns ErrONNXDisabled: this binary was built without the "onnx" tag (which pulls in
// ONNX Runtime's cgo bindings).
func ONNX(run *experiment.FinishedRun, path string, batch int) (*Result, error) {
	return nil, ErrONNXDisabled
}
