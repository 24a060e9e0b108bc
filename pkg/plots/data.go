package plots

import (
	"errors"
	"fmt"
	"math"
	"reflect"

	"github.com/gomlx/gomlx/core/tensors"
)

// array is numeric data of any rank, row-major, converted to float64.
type array struct {
	data []float64
	dims []int
}

func (a array) rank() int { return len(a.dims) }

func (a array) String() string { return fmt.Sprint(a.dims) }

// toArray converts a *tensors.Tensor, a (nested) slice or array of a numeric type, or an
// array to float64 values with their dimensions.
func toArray(v any) (array, error) {
	switch x := v.(type) {
	case nil:
		return array{}, errors.New("no data (nil)")
	case array:
		return x, nil
	case *tensors.Tensor:
		return tensorArray(x)
	case []float64:
		return array{data: append([]float64(nil), x...), dims: []int{len(x)}}, nil
	}
	rv := reflect.ValueOf(v)
	var dims []int
	for t := rv.Type(); t.Kind() == reflect.Slice || t.Kind() == reflect.Array; t = t.Elem() {
		dims = append(dims, 0)
	}
	if len(dims) == 0 {
		f, ok := scalar(rv)
		if !ok {
			return array{}, fmt.Errorf("cannot plot a %T", v)
		}
		return array{data: []float64{f}}, nil
	}
	// Dimensions come from the first element at each level; every other element must match.
	cur := rv
	for i := range dims {
		dims[i] = cur.Len()
		if cur.Len() == 0 {
			return array{}, fmt.Errorf("%T has an empty axis %d", v, i)
		}
		cur = cur.Index(0)
	}
	n := 1
	for _, d := range dims {
		n *= d
	}
	out := make([]float64, 0, n)
	var walk func(v reflect.Value, level int) error
	walk = func(v reflect.Value, level int) error {
		if level == len(dims) {
			f, ok := scalar(v)
			if !ok {
				return fmt.Errorf("element of type %s is not a number", v.Type())
			}
			out = append(out, f)
			return nil
		}
		if v.Len() != dims[level] {
			return fmt.Errorf("ragged data: axis %d has lengths %d and %d", level, dims[level], v.Len())
		}
		for i := range v.Len() {
			if err := walk(v.Index(i), level+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(rv, 0); err != nil {
		return array{}, fmt.Errorf("%T: %w", v, err)
	}
	return array{data: out, dims: dims}, nil
}

// scalar converts one numeric value (including GoMLX's float16 and bfloat16) to float64.
func scalar(v reflect.Value) (float64, bool) {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		return v.Float(), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(v.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(v.Uint()), true
	case reflect.Bool:
		if v.Bool() {
			return 1, true
		}
		return 0, true
	}
	if v.CanInterface() {
		if f, ok := v.Interface().(interface{ Float32() float32 }); ok {
			return float64(f.Float32()), true
		}
	}
	return 0, false
}

func tensorArray(t *tensors.Tensor) (array, error) {
	if t == nil {
		return array{}, errors.New("nil tensor")
	}
	return tensorRange(t, 0, t.Size())
}

// tensorRange converts the flat values [start, end) of t; dims is t's shape.
func tensorRange(t *tensors.Tensor, start, end int) (a array, err error) {
	if t == nil {
		return array{}, errors.New("nil tensor")
	}
	if err := t.CheckValid(); err != nil {
		return array{}, fmt.Errorf("tensor: %w", err)
	}
	shape := t.Shape()
	if shape.DType.IsPacked() {
		return array{}, fmt.Errorf("tensor of packed dtype %s: convert it first", shape.DType)
	}
	if start < 0 || end > shape.Size() || start > end {
		return array{}, fmt.Errorf("range [%d, %d) of a tensor of %d values", start, end, shape.Size())
	}
	readErr := t.ConstFlatData(func(flat any) {
		switch x := flat.(type) {
		case []float32:
			a.data = make([]float64, end-start)
			for i, f := range x[start:end] {
				a.data[i] = float64(f)
			}
		case []float64:
			a.data = append([]float64(nil), x[start:end]...)
		default:
			fv := reflect.ValueOf(flat)
			a.data = make([]float64, end-start)
			for i := range a.data {
				f, ok := scalar(fv.Index(start + i))
				if !ok {
					err = fmt.Errorf("tensor dtype %s is not numeric", shape.DType)
					return
				}
				a.data[i] = f
			}
		}
	})
	if readErr != nil {
		return array{}, fmt.Errorf("read tensor: %w", readErr)
	}
	if err != nil {
		return array{}, err
	}
	a.dims = append([]int(nil), shape.Dimensions...)
	return a, nil
}

// finiteRange returns the smallest and largest finite values (NaN, NaN when there are none).
func finiteRange(xs []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	if lo > hi {
		return math.NaN(), math.NaN()
	}
	return lo, hi
}

// widen makes a colour range usable: a constant map gets a range of ±0.5 around its value so
// that it shows one colour instead of failing.
func widen(lo, hi float64) (float64, float64) {
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return 0, 1
	}
	if hi-lo < 1e-12*math.Max(1, math.Abs(hi)) {
		return lo - 0.5, hi + 0.5
	}
	return lo, hi
}

// floats converts a one-dimensional value (slice, array or tensor of any shape, flattened).
func floats(v any) ([]float64, error) {
	a, err := toArray(v)
	if err != nil {
		return nil, err
	}
	return a.data, nil
}
