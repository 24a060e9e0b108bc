//go:build !onnx

package export

import (
	"errors"
	"testing"
)

func TestONNXDisabledWithoutTag(t *testing.T) {
	if _, err := ONNX(nil, "x.onnx", 1); !errors.Is(err, ErrONNXDisabled) {
		t.Errorf("ONNX without the onnx tag: %v, want ErrONNXDisabled", err)
	}
	// Not an unsupported op: no silent fallback to safetensors, the user must rebuild.
	if _, err := File(nil, FormatONNX, "x.onnx", 1); !errors.Is(err, ErrONNXDisabled) {
		t.Errorf("File(onnx) without the tag: %v", err)
	}
}
