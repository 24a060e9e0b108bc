package safetensors

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/gomlx/core/tensors"
)

// TestReadReferenceFile reads a file written by the reference Python library
// (scripts/fixtures/safetensors_dtypes.py) and checks every value.
func TestReadReferenceFile(t *testing.T) {
	f, err := ReadFile(filepath.Join("testdata", "dtypes.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Metadata; !reflect.DeepEqual(got, map[string]string{"format": "pt", "note": "gostudy"}) {
		t.Errorf("metadata = %v", got)
	}
	if len(f.Names) != 9 || len(f.Tensors) != 9 {
		t.Fatalf("got %d names, %d tensors, want 9", len(f.Names), len(f.Tensors))
	}
	check := func(name string, dt dtypes.DType, dims []int, want any) {
		t.Helper()
		tt := f.Tensors[name]
		if tt == nil {
			t.Errorf("missing %q", name)
			return
		}
		if tt.DType() != dt || !reflect.DeepEqual(tt.Shape().Dimensions, dims) && !(len(dims) == 0 && tt.Rank() == 0) {
			t.Errorf("%s: shape %s, want %s%v", name, tt.Shape(), dt, dims)
			return
		}
		var got any
		tt.MustConstFlatData(func(flat any) { got = reflect.ValueOf(flat).Interface() })
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("f32", dtypes.Float32, []int{2, 3}, []float32{-1, -0.5, 0, 0.5, 1, 1.5})
	check("f64", dtypes.Float64, []int{3}, []float64{1.0 / 3, -2.5, 1e300})
	check("i64", dtypes.Int64, []int{2}, []int64{-(1 << 40), 7})
	check("i32", dtypes.Int32, []int{2, 2}, []int32{1, -2, 3, -4})
	check("u8", dtypes.Uint8, []int{3}, []uint8{0, 128, 255})
	check("bool", dtypes.Bool, []int{3}, []bool{true, false, true})
	check("scalar", dtypes.Float32, nil, []float32{42})

	f16 := f.Tensors["f16"]
	if f16.DType() != dtypes.Float16 {
		t.Fatalf("f16 dtype %s", f16.DType())
	}
	tensors.MustConstFlatData(f16, func(flat []float16.Float16) {
		want := []float32{1, -0.5, 65504, 1.0 / (1 << 24)}
		for i, v := range flat {
			if v.Float32() != want[i] {
				t.Errorf("f16[%d] = %g, want %g", i, v.Float32(), want[i])
			}
		}
	})
	bf16 := f.Tensors["bf16"]
	if bf16.DType() != dtypes.BFloat16 {
		t.Fatalf("bf16 dtype %s", bf16.DType())
	}
	tensors.MustConstFlatData(bf16, func(flat []bfloat16.BFloat16) {
		want := []float32{1, -2, 3.140625}
		for i, v := range flat {
			if v.Float32() != want[i] {
				t.Errorf("bf16[%d] = %g, want %g", i, v.Float32(), want[i])
			}
		}
	})
}

// TestRoundTrip writes every tensor of the reference file back out and reads it again.
func TestRoundTrip(t *testing.T) {
	ref, err := ReadFile(filepath.Join("testdata", "dtypes.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rt.safetensors")
	if err := WriteFile(path, ref.Tensors, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Written in sorted name order.
	want := []string{"bf16", "bool", "f16", "f32", "f64", "i32", "i64", "scalar", "u8"}
	if !reflect.DeepEqual(got.Names, want) {
		t.Errorf("names %v, want %v", got.Names, want)
	}
	if got.Metadata["k"] != "v" {
		t.Errorf("metadata %v", got.Metadata)
	}
	for name, tt := range ref.Tensors {
		if !got.Tensors[name].Equal(tt) {
			t.Errorf("%s changed: %v vs %v", name, got.Tensors[name], tt)
		}
	}
}

// TestHeaderAlignment checks the data section starts on an 8-byte boundary.
func TestHeaderAlignment(t *testing.T) {
	var buf bytes.Buffer
	ts := map[string]*tensors.Tensor{"a": tensors.FromValue([]float32{1, 2, 3})}
	if err := Encode(&buf, ts, nil); err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(buf.Bytes()[:8])
	if n%8 != 0 {
		t.Errorf("header length %d not a multiple of 8", n)
	}
	if int(8+n+12) != buf.Len() {
		t.Errorf("file length %d, want %d", buf.Len(), 8+n+12)
	}
}

// TestDecodeRejectsCorruptFiles makes sure bad headers produce errors, not panics or
// silently wrong tensors.
func TestDecodeRejectsCorruptFiles(t *testing.T) {
	mk := func(header string, data []byte) []byte {
		var b bytes.Buffer
		var l [8]byte
		binary.LittleEndian.PutUint64(l[:], uint64(len(header)))
		b.Write(l[:])
		b.WriteString(header)
		b.Write(data)
		return b.Bytes()
	}
	cases := map[string][]byte{
		"short":        {1, 2},
		"huge header":  append([]byte{255, 255, 255, 255, 0, 0, 0, 0}, []byte("{}")...),
		"bad json":     mk("{", nil),
		"bad dtype":    mk(`{"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}`, []byte{0}),
		"size":         mk(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)),
		"out of range": mk(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 2)),
		"gap":          mk(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, make([]byte, 2)),
		"trailing":     mk(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, make([]byte, 2)),
		"bad metadata": mk(`{"__metadata__":{"a":1}}`, nil),
	}
	for name, data := range cases {
		if _, err := Decode(data); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Decode(mk(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, []byte{3, 4})); err != nil {
		t.Errorf("valid file rejected: %v", err)
	}
	if err := Encode(&bytes.Buffer{}, map[string]*tensors.Tensor{"__metadata__": tensors.FromValue([]int32{1})}, nil); err == nil ||
		!strings.Contains(err.Error(), "reserved") {
		t.Errorf("reserved name accepted: %v", err)
	}
}
