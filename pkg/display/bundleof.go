package display

import (
	"bytes"
	"fmt"
	"html"
	"image"
	"reflect"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
)

// Limits of the rich forms [BundleOf] builds.
const (
	// TableMaxSide is the largest number of rows or columns of a 2-D tensor shown as an HTML
	// table.
	TableMaxSide = 32
	// TableMaxRows is the largest slice of structs shown as an HTML table.
	TableMaxRows = 200
)

// BundleOf returns the rich representation of any value, for a cell's execute_result:
//
//   - nil → nil (nothing to show);
//   - a [Bundler] → its bundle;
//   - an image.Image → PNG (see [ImageBundle]);
//   - []byte holding a PNG or JPEG file → that image;
//   - an error → text/plain with its message;
//   - a *tensors.Tensor → text/plain (its summary), plus an HTML table when it is 2-D and at
//     most [TableMaxSide] on each side;
//   - a slice of structs → text/plain plus an HTML table, one row per element (at most
//     [TableMaxRows]) and one column per exported field: result tables read best that way;
//   - a string → text/plain with the string itself;
//   - anything else → text/plain from [Pretty].
//
// It never panics: a value whose methods panic is shown as a text describing the panic.
func BundleOf(v any) (b Bundle, md map[string]any) {
	if v == nil {
		return nil, nil
	}
	defer func() {
		if r := recover(); r != nil {
			b, md = TextBundle(fmt.Sprintf("<%T: display failed: %v>", v, r)), nil
		}
	}()
	switch x := v.(type) {
	case Bundler:
		return x.MIMEBundle()
	case image.Image:
		ib, imd, err := ImageBundle(x)
		if err != nil {
			return TextBundle(err.Error()), nil
		}
		return ib, imd
	case []byte:
		if bytes.HasPrefix(x, pngMagic) {
			if ib, imd, err := PNGBundle(x); err == nil {
				return ib, imd
			}
		}
		if bytes.HasPrefix(x, jpegMagic) {
			if ib, imd, err := JPEGBundle(x); err == nil {
				return ib, imd
			}
		}
	case error:
		return TextBundle(x.Error()), nil
	case *tensors.Tensor:
		return tensorBundle(x), nil
	case string:
		return TextBundle(x), nil
	}
	b = TextBundle(Pretty(v))
	if t, ok := structTable(reflect.ValueOf(v)); ok {
		b[MIMEHTML] = t
	}
	return b, nil
}

func tensorBundle(t *tensors.Tensor) Bundle {
	if t == nil {
		return TextBundle("<nil tensor>")
	}
	if err := t.CheckValid(); err != nil {
		return TextBundle(fmt.Sprintf("<invalid tensor: %v>", err))
	}
	b := TextBundle(t.String())
	shape := t.Shape()
	if shape.Rank() == 2 && shape.Dim(0) <= TableMaxSide && shape.Dim(1) <= TableMaxSide && shape.Size() > 0 {
		if h, err := tensorTable(t); err == nil {
			b[MIMEHTML] = h
		}
	}
	return b
}

// tensorTable renders a small 2-D tensor as an HTML table with row and column indices.
func tensorTable(t *tensors.Tensor) (string, error) {
	rows, cols := t.Shape().Dim(0), t.Shape().Dim(1)
	var cells []string
	err := t.ConstFlatData(func(flat any) {
		fv := reflect.ValueOf(flat)
		if fv.Kind() != reflect.Slice || fv.Len() < rows*cols {
			return
		}
		cells = make([]string, rows*cols)
		for i := range cells {
			cells[i] = formatCell(fv.Index(i))
		}
	})
	if err != nil {
		return "", fmt.Errorf("read tensor: %w", err)
	}
	if cells == nil {
		return "", fmt.Errorf("unexpected flat data for %s", t.Shape())
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, `<div class="gostudy-table" style="%s"><table class="gostudy-tensor"><caption>%s</caption><thead><tr><th></th>`,
		tableBoxStyle, html.EscapeString(t.Shape().String()))
	for c := range cols {
		fmt.Fprintf(&sb, "<th>%d</th>", c)
	}
	sb.WriteString("</tr></thead><tbody>")
	for r := range rows {
		fmt.Fprintf(&sb, "<tr><th>%d</th>", r)
		for c := range cols {
			fmt.Fprintf(&sb, `<td style="text-align:right">%s</td>`, html.EscapeString(cells[r*cols+c]))
		}
		sb.WriteString("</tr>")
	}
	sb.WriteString("</tbody></table></div>")
	return sb.String(), nil
}

// formatCell formats one table cell: floats with 4 significant digits, the rest as fmt does.
func formatCell(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		return fmt.Sprintf("%.4g", v.Float())
	}
	if v.CanInterface() {
		if f, ok := v.Interface().(interface{ Float32() float32 }); ok {
			return fmt.Sprintf("%.4g", f.Float32()) // float16, bfloat16
		}
	}
	return oneLine(v, 0)
}

// structTable renders a slice of structs (or of pointers to structs) as an HTML table (see
// [TableOf]), rows named by their index so that a reader can pick one out.
func structTable(v reflect.Value) (string, bool) {
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		return "", false
	}
	if v.Len() == 0 || v.Len() > TableMaxRows {
		return "", false
	}
	t, err := TableOf(v.Interface())
	if err != nil || len(t.Columns) == 0 {
		return "", false
	}
	for i := range v.Len() {
		t.RowNames = append(t.RowNames, strconv.Itoa(i))
	}
	return t.HTML(), true
}
