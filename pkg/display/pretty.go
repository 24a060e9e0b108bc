package display

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Pretty-printing limits.
const (
	// PrettyWidth is the line length under which a value is printed on one line.
	PrettyWidth = 80
	// PrettyMaxElems is the number of slice, array or map elements printed before the rest is
	// elided (the head and the tail are shown, with the total length).
	PrettyMaxElems = 24
	prettyTail     = 4
	prettyMaxDepth = 6
)

// Pretty formats v for reading: like fmt's %+v on one line when that fits in [PrettyWidth]
// characters, otherwise one field or element per line, indented; long slices and maps show
// their first and last elements and their length; strings inside values are quoted. A value
// with a String or Error method is printed by it. A top-level string is returned unchanged.
func Pretty(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return multiLine(reflect.ValueOf(v), "", 0)
}

// usesMethod reports whether fmt would print v through a String or Error method.
func usesMethod(v reflect.Value) bool {
	if !v.IsValid() || !v.CanInterface() {
		return false
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
		if v.IsNil() {
			return false
		}
	}
	switch v.Interface().(type) {
	case error, fmt.Stringer:
		return true
	}
	return false
}

// elide returns the indices of a collection of length n to print, with -1 marking the gap.
func elide(n int) []int {
	idx := make([]int, 0, min(n, PrettyMaxElems+1))
	if n <= PrettyMaxElems {
		for i := range n {
			idx = append(idx, i)
		}
		return idx
	}
	head := PrettyMaxElems - prettyTail
	for i := range head {
		idx = append(idx, i)
	}
	idx = append(idx, -1)
	for i := n - prettyTail; i < n; i++ {
		idx = append(idx, i)
	}
	return idx
}

func typeName(t reflect.Type) string {
	if t.Name() != "" {
		return t.Name()
	}
	return t.String()
}

func sortedKeys(v reflect.Value) []reflect.Value {
	keys := v.MapKeys()
	sort.Slice(keys, func(i, j int) bool {
		return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j])
	})
	return keys
}

// oneLine formats v compactly on one line.
func oneLine(v reflect.Value, depth int) string {
	if !v.IsValid() {
		return "<nil>"
	}
	if depth > prettyMaxDepth {
		return "…"
	}
	if usesMethod(v) {
		return fmt.Sprint(v.Interface())
	}
	switch v.Kind() {
	case reflect.String:
		if depth == 0 {
			return v.String()
		}
		return fmt.Sprintf("%q", v.String())
	case reflect.Interface:
		if v.IsNil() {
			return "<nil>"
		}
		return oneLine(v.Elem(), depth)
	case reflect.Pointer:
		if v.IsNil() {
			return "nil"
		}
		if v.Elem().Kind() == reflect.Struct {
			return "&" + oneLine(v.Elem(), depth)
		}
		return fmt.Sprint(v)
	case reflect.Struct:
		parts := make([]string, v.NumField())
		for i := range v.NumField() {
			parts[i] = v.Type().Field(i).Name + ": " + oneLine(v.Field(i), depth+1)
		}
		return typeName(v.Type()) + "{" + strings.Join(parts, ", ") + "}"
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return "[]"
		}
		var parts []string
		for _, i := range elide(v.Len()) {
			if i < 0 {
				parts = append(parts, "…")
				continue
			}
			parts = append(parts, oneLine(v.Index(i), depth+1))
		}
		s := "[" + strings.Join(parts, " ") + "]"
		if v.Len() > PrettyMaxElems {
			s += fmt.Sprintf(" (len %d)", v.Len())
		}
		return s
	case reflect.Map:
		if v.IsNil() {
			return "map[]"
		}
		keys := sortedKeys(v)
		var parts []string
		for _, i := range elide(len(keys)) {
			if i < 0 {
				parts = append(parts, "…")
				continue
			}
			parts = append(parts, oneLine(keys[i], depth+1)+":"+oneLine(v.MapIndex(keys[i]), depth+1))
		}
		s := "map[" + strings.Join(parts, " ") + "]"
		if len(keys) > PrettyMaxElems {
			s += fmt.Sprintf(" (len %d)", len(keys))
		}
		return s
	}
	return fmt.Sprint(v)
}

// multiLine formats v on one line if that fits, else one field or element per line.
func multiLine(v reflect.Value, indent string, depth int) string {
	line := oneLine(v, depth)
	if len(indent)+len(line) <= PrettyWidth || !strings.ContainsAny(line, "{[") || depth > prettyMaxDepth || usesMethod(v) {
		return line
	}
	inner := indent + "  "
	var sb strings.Builder
	switch v.Kind() {
	case reflect.Interface:
		return multiLine(v.Elem(), indent, depth)
	case reflect.Pointer:
		if v.Elem().Kind() != reflect.Struct {
			return line
		}
		return "&" + multiLine(v.Elem(), indent, depth)
	case reflect.Struct:
		sb.WriteString(typeName(v.Type()) + "{\n")
		for i := range v.NumField() {
			fmt.Fprintf(&sb, "%s%s: %s,\n", inner, v.Type().Field(i).Name, multiLine(v.Field(i), inner, depth+1))
		}
		sb.WriteString(indent + "}")
	case reflect.Slice, reflect.Array:
		if simpleElems(v.Type().Elem()) {
			return line // a long row of numbers reads better wrapped by the viewer than one per line
		}
		sb.WriteString("[\n")
		for _, i := range elide(v.Len()) {
			if i < 0 {
				fmt.Fprintf(&sb, "%s…\n", inner)
				continue
			}
			fmt.Fprintf(&sb, "%s%s,\n", inner, multiLine(v.Index(i), inner, depth+1))
		}
		sb.WriteString(indent + "]")
		if v.Len() > PrettyMaxElems {
			fmt.Fprintf(&sb, " (len %d)", v.Len())
		}
	case reflect.Map:
		keys := sortedKeys(v)
		sb.WriteString("map[\n")
		for _, i := range elide(len(keys)) {
			if i < 0 {
				fmt.Fprintf(&sb, "%s…\n", inner)
				continue
			}
			fmt.Fprintf(&sb, "%s%s: %s,\n", inner, oneLine(keys[i], depth+1), multiLine(v.MapIndex(keys[i]), inner, depth+1))
		}
		sb.WriteString(indent + "]")
		if len(keys) > PrettyMaxElems {
			fmt.Fprintf(&sb, " (len %d)", len(keys))
		}
	default:
		return line
	}
	return sb.String()
}

func simpleElems(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		return true
	}
	return false
}
