package nn

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/metric"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// numBatchesTracked is the BatchNorm buffer timm's state_dict carries and gostudy does not
// use (it only matters for momentum=None); it is skipped on load and written as 0 on export.
const numBatchesTracked = "num_batches_tracked"

// isModelVariable tells whether a store path holds a model parameter or buffer, as opposed to
// GoMLX's bookkeeping: the RNG state ("#rngState"), the global step, optimizer moments and
// metric accumulators, none of which belong in a timm state_dict.
func isModelVariable(path string) bool {
	p := strings.TrimPrefix(path, "/")
	first, _, _ := strings.Cut(p, "/")
	if first == optimizer.Scope || first == metric.Scope || p == optimizer.GlobalStepVariableName {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if strings.HasPrefix(part, "#") {
			return false
		}
	}
	return true
}

// PathToKey turns a store path such as "/layer1/0/conv1/weight" into timm's state_dict key
// "layer1.0.conv1.weight".
func PathToKey(path string) string {
	return strings.ReplaceAll(strings.TrimPrefix(path, "/"), "/", ".")
}

// KeyToPath turns a state_dict key such as "layer1.0.conv1.weight" into the store path
// "/layer1/0/conv1/weight".
func KeyToPath(key string) string {
	return "/" + strings.ReplaceAll(key, ".", "/")
}

// StateDict returns the model's parameters and buffers keyed like timm's state_dict, with a
// "num_batches_tracked" int64 scalar 0 added next to every BatchNorm's running statistics so
// that timm's strict load_state_dict accepts it. Tensors are the store's own values (not
// copies); every variable must have a value (run or initialize the model first).
func StateDict(store *model.Store) (map[string]*tensors.Tensor, error) {
	sd := make(map[string]*tensors.Tensor)
	for v := range store.IterVariables() {
		if !isModelVariable(v.Path()) {
			continue
		}
		value, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("state dict: variable %q has no value (initialize or run the model first): %w", v.Path(), err)
		}
		key := PathToKey(v.Path())
		sd[key] = value
		if prefix, ok := strings.CutSuffix(key, ".running_mean"); ok {
			sd[prefix+"."+numBatchesTracked] = tensors.FromScalar(int64(0))
		}
	}
	return sd, nil
}

// LoadStateDict sets the store's variables from a timm-style state_dict.
//
// Values are copied into the store. Keys ending in "num_batches_tracked", and keys starting with "__" (fixture entries such as
// "__input__"), are ignored. Each value must match the variable's shape and dtype exactly; a
// mismatch is an error naming the key and both shapes.
//
// With strict false, keys without a variable create one, so a state_dict can be loaded before
// the model's graph is first built (building then reuses the loaded values), and variables
// without a key keep their values. With strict true the model must have been built (see
// Build): every model variable must get a value and every key must name a variable, and the
// error lists the missing and unexpected keys by name; nothing is changed on error.
func LoadStateDict(store *model.Store, sd map[string]*tensors.Tensor, strict bool) error {
	keys := make([]string, 0, len(sd))
	for k := range sd {
		if strings.HasPrefix(k, "__") || strings.HasSuffix(k, "."+numBatchesTracked) || k == numBatchesTracked {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)

	var problems, unexpected []string
	used := make(map[string]bool, len(keys))
	for _, k := range keys {
		t := sd[k]
		if t == nil {
			problems = append(problems, fmt.Sprintf("%s: nil tensor", k))
			continue
		}
		v := store.GetVariable(KeyToPath(k))
		if v == nil {
			if strict {
				unexpected = append(unexpected, k)
			}
			continue
		}
		used[v.Path()] = true
		if !v.Shape().Equal(t.Shape()) {
			problems = append(problems, fmt.Sprintf("%s: model has %s, state dict has %s", k, v.Shape(), t.Shape()))
		}
	}
	var missing []string
	if strict {
		for v := range store.IterVariables() {
			if isModelVariable(v.Path()) && !used[v.Path()] {
				missing = append(missing, PathToKey(v.Path()))
			}
		}
		sort.Strings(missing)
	}
	if len(problems) > 0 || len(missing) > 0 || len(unexpected) > 0 {
		var parts []string
		if len(problems) > 0 {
			parts = append(parts, "shape mismatch: "+strings.Join(problems, "; "))
		}
		if len(missing) > 0 {
			parts = append(parts, "missing keys: "+strings.Join(missing, ", "))
		}
		if len(unexpected) > 0 {
			parts = append(parts, "unexpected keys: "+strings.Join(unexpected, ", "))
		}
		return fmt.Errorf("load state dict: %s", strings.Join(parts, "; "))
	}

	for _, k := range keys {
		// Copy: the caller keeps its tensor, and a tensor already placed on another backend
		// (or later donated by an executor) cannot be shared.
		t, err := sd[k].LocalClone()
		if err != nil {
			return fmt.Errorf("load state dict: copy %s: %w", k, err)
		}
		path := KeyToPath(k)
		if v := store.GetVariable(path); v != nil {
			if err := v.SetValue(t); err != nil {
				return fmt.Errorf("load state dict: set %s: %w", k, err)
			}
			continue
		}
		if _, err := store.CreateVariable(path, t); err != nil {
			return fmt.Errorf("load state dict: create %s: %w", k, err)
		}
	}
	return nil
}

// ConvertStateDict returns a copy of sd with every floating-point tensor converted to
// float32 (e.g. a float16 or bfloat16 checkpoint) and other tensors kept as they are.
func ConvertStateDict(sd map[string]*tensors.Tensor) (map[string]*tensors.Tensor, error) {
	out := make(map[string]*tensors.Tensor, len(sd))
	for k, t := range sd {
		if !t.DType().IsFloat() || t.DType() == dtypes.Float32 {
			out[k] = t
			continue
		}
		flat := make([]float32, t.Shape().Size())
		var convErr error
		err := t.ConstFlatData(func(data any) {
			switch d := data.(type) {
			case []float64:
				for i, x := range d {
					flat[i] = float32(x)
				}
			default:
				convErr = convertHalf(data, flat)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("convert %s: %w", k, err)
		}
		if convErr != nil {
			return nil, fmt.Errorf("convert %s (%s): %w", k, t.DType(), convErr)
		}
		out[k] = tensors.FromFlatDataAndDimensions(flat, t.Shape().Dimensions...)
	}
	return out, nil
}

// convertHalf converts float16/bfloat16 flat slices, which expose Float32().
func convertHalf(data any, dst []float32) error {
	switch d := data.(type) {
	case []float16.Float16:
		for i, x := range d {
			dst[i] = x.Float32()
		}
	case []bfloat16.BFloat16:
		for i, x := range d {
			dst[i] = x.Float32()
		}
	default:
		return fmt.Errorf("unsupported float type %T", data)
	}
	return nil
}
