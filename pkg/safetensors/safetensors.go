// Package safetensors reads and writes the .safetensors format used by Hugging Face and timm
// for model weights, holding GoMLX tensors.
//
// The format is an 8-byte little-endian header length, a JSON header mapping each tensor name
// to its dtype, shape and byte range, and then the raw little-endian tensor bytes. It is small
// enough to implement here; the one Go library the module proxy offers only reads, and works
// with its own tensor type, whereas gostudy needs to write files that timm's load_state_dict
// accepts and to move bytes straight into [tensors.Tensor] values.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
)

// maxHeaderSize bounds the JSON header so that a corrupt length field cannot make the reader
// allocate gigabytes; the reference implementation uses the same 100 MB limit.
const maxHeaderSize = 100_000_000

// metadataKey is the reserved header entry holding free-form string metadata.
const metadataKey = "__metadata__"

// File is the decoded content of a .safetensors file.
type File struct {
	// Names lists the tensor names in the order their bytes appear in the file.
	Names []string
	// Tensors maps each name to its tensor, in the file's dtype and shape.
	Tensors map[string]*tensors.Tensor
	// Metadata is the header's "__metadata__" map (empty when the file has none).
	Metadata map[string]string
}

// headerEntry is one tensor's description in the JSON header.
type headerEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// dtypeNames maps safetensors dtype codes to GoMLX dtypes. Both directions are supported for
// every entry.
var dtypeNames = map[string]dtypes.DType{
	"F64":  dtypes.Float64,
	"F32":  dtypes.Float32,
	"F16":  dtypes.Float16,
	"BF16": dtypes.BFloat16,
	"I64":  dtypes.Int64,
	"I32":  dtypes.Int32,
	"I16":  dtypes.Int16,
	"I8":   dtypes.Int8,
	"U64":  dtypes.Uint64,
	"U32":  dtypes.Uint32,
	"U16":  dtypes.Uint16,
	"U8":   dtypes.Uint8,
	"BOOL": dtypes.Bool,
}

// dtypeCode returns the safetensors code for a GoMLX dtype.
func dtypeCode(dt dtypes.DType) (string, bool) {
	for code, d := range dtypeNames {
		if d == dt {
			return code, true
		}
	}
	return "", false
}

// hostIsLittleEndian tells whether tensor memory can be copied to and from the file as is.
var hostIsLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// swapBytes reverses the byte order of each elemSize-wide element in place; it is only
// needed on big-endian hosts, since the file is always little-endian.
func swapBytes(data []byte, elemSize int) {
	if elemSize <= 1 || hostIsLittleEndian {
		return
	}
	for i := 0; i+elemSize <= len(data); i += elemSize {
		slices.Reverse(data[i : i+elemSize])
	}
}

// ReadFile reads and decodes a .safetensors file.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: read %s: %w", path, err)
	}
	f, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors: decode %s: %w", path, err)
	}
	return f, nil
}

// Decode parses the bytes of a whole .safetensors file. Tensors are copied out of data.
func Decode(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("file is %d bytes, shorter than the 8-byte header length", len(data))
	}
	headerLen := binary.LittleEndian.Uint64(data[:8])
	if headerLen > maxHeaderSize || headerLen > uint64(len(data)-8) {
		return nil, fmt.Errorf("header length %d is invalid for a file of %d bytes", headerLen, len(data))
	}
	headerBytes := data[8 : 8+headerLen]
	buffer := data[8+headerLen:]

	var raw map[string]json.RawMessage
	if err := json.Unmarshal(headerBytes, &raw); err != nil {
		return nil, fmt.Errorf("parse JSON header: %w", err)
	}
	f := &File{Tensors: make(map[string]*tensors.Tensor, len(raw)), Metadata: map[string]string{}}
	type located struct {
		name  string
		entry headerEntry
	}
	entries := make([]located, 0, len(raw))
	for name, msg := range raw {
		if name == metadataKey {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("parse %s (must map strings to strings): %w", metadataKey, err)
			}
			continue
		}
		var e headerEntry
		dec := json.NewDecoder(bytes.NewReader(msg))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("parse header entry %q: %w", name, err)
		}
		entries = append(entries, located{name, e})
	}
	sort.Slice(entries, func(i, j int) bool {
		return entries[i].entry.DataOffsets[0] < entries[j].entry.DataOffsets[0]
	})

	// The format requires the tensors to tile the byte buffer exactly, without gaps or overlaps.
	var expectedStart int64
	for _, le := range entries {
		name, e := le.name, le.entry
		dt, ok := dtypeNames[e.DType]
		if !ok {
			return nil, fmt.Errorf("tensor %q has unsupported dtype %q", name, e.DType)
		}
		numElements := int64(1)
		for _, d := range e.Shape {
			if d < 0 {
				return nil, fmt.Errorf("tensor %q has negative dimension in shape %v", name, e.Shape)
			}
			if d > 0 && numElements > math.MaxInt64/int64(d) {
				return nil, fmt.Errorf("tensor %q shape %v overflows", name, e.Shape)
			}
			numElements *= int64(d)
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		if begin != expectedStart || end < begin || end > int64(len(buffer)) {
			return nil, fmt.Errorf("tensor %q has byte range [%d, %d), expected it to start at %d within %d bytes",
				name, begin, end, expectedStart, len(buffer))
		}
		if want := numElements * int64(dt.Size()); end-begin != want {
			return nil, fmt.Errorf("tensor %q (%s %v) needs %d bytes, header gives %d", name, e.DType, e.Shape, want, end-begin)
		}
		expectedStart = end
		t := tensors.FromShape(shapes.Make(dt, e.Shape...))
		src := buffer[begin:end]
		if err := t.MutableBytes(func(dst []byte) {
			copy(dst, src)
			swapBytes(dst, dt.Size())
		}); err != nil {
			return nil, fmt.Errorf("fill tensor %q: %w", name, err)
		}
		f.Names = append(f.Names, name)
		f.Tensors[name] = t
	}
	if expectedStart != int64(len(buffer)) {
		return nil, fmt.Errorf("tensors cover %d bytes but the data section has %d", expectedStart, len(buffer))
	}
	return f, nil
}

// WriteFile encodes the tensors (in sorted name order) and metadata into a .safetensors file
// at path, replacing any file there.
func WriteFile(path string, ts map[string]*tensors.Tensor, metadata map[string]string) error {
	var buf bytes.Buffer
	if err := Encode(&buf, ts, metadata); err != nil {
		return fmt.Errorf("safetensors: encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	return nil
}

// Encode writes the tensors (in sorted name order) and metadata in the .safetensors format to w.
func Encode(w io.Writer, ts map[string]*tensors.Tensor, metadata map[string]string) error {
	names := make([]string, 0, len(ts))
	for name := range ts {
		if name == metadataKey {
			return fmt.Errorf("tensor name %q is reserved", metadataKey)
		}
		names = append(names, name)
	}
	sort.Strings(names)

	header := make(map[string]any, len(ts)+1)
	if len(metadata) > 0 {
		header[metadataKey] = metadata
	}
	var offset int64
	for _, name := range names {
		t := ts[name]
		if t == nil {
			return fmt.Errorf("tensor %q is nil", name)
		}
		code, ok := dtypeCode(t.DType())
		if !ok {
			return fmt.Errorf("tensor %q has dtype %s, which safetensors cannot store", name, t.DType())
		}
		size := int64(t.Shape().Size()) * int64(t.DType().Size())
		dims := t.Shape().Dimensions
		if dims == nil {
			dims = []int{} // A scalar is written as shape [], not null.
		}
		header[name] = headerEntry{DType: code, Shape: dims, DataOffsets: [2]int64{offset, offset + size}}
		offset += size
	}
	headerBytes, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("marshal header: %w", err)
	}
	// Pad the header with spaces so the data section starts 8-byte aligned, as the
	// reference writer does, which lets readers memory-map tensors in place.
	for len(headerBytes)%8 != 0 {
		headerBytes = append(headerBytes, ' ')
	}
	var lenBytes [8]byte
	binary.LittleEndian.PutUint64(lenBytes[:], uint64(len(headerBytes)))
	if _, err := w.Write(lenBytes[:]); err != nil {
		return fmt.Errorf("write header length: %w", err)
	}
	if _, err := w.Write(headerBytes); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	for _, name := range names {
		t := ts[name]
		var werr error
		err := t.ConstBytes(func(data []byte) {
			if hostIsLittleEndian {
				_, werr = w.Write(data)
				return
			}
			tmp := slices.Clone(data)
			swapBytes(tmp, t.DType().Size())
			_, werr = w.Write(tmp)
		})
		if err != nil {
			return fmt.Errorf("read bytes of tensor %q: %w", name, err)
		}
		if werr != nil {
			return fmt.Errorf("write tensor %q: %w", name, werr)
		}
	}
	return nil
}
