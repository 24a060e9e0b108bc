package display

import (
	"fmt"
	"html"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Table is a table to show in a notebook: named columns (with units and number formats) and
// rows of values. In a notebook it is an HTML table in a box of its own that scrolls
// sideways when the table is wider than the output area; as text, aligned columns.
//
// Build one directly, or from a slice of structs with [TableOf], whose field tags name the
// columns:
//
//	type row struct {
//		Name   string
//		Params int     `display:"Parameters"`
//		Ratio  float64 `display:"Unit ratio (std/expected);format=%.3f"`
//		Step   float64 `display:"Step time;unit=ms"`
//		Debug  string  `display:"-"` // left out
//	}
type Table struct {
	// Caption is drawn above the table.
	Caption string
	// Columns name the columns; a row's values are matched to them in order.
	Columns []Column
	// Rows are the values, one slice per row. Numbers are formatted as [FormatNumber] does
	// (or by their column's Format), values with a String method by it, others by fmt.
	Rows [][]any
	// RowNames label the rows in a first header column (none when empty).
	RowNames []string
}

// Column is one column of a [Table].
type Column struct {
	// Header names the column.
	Header string
	// Unit, when set, follows the header in parentheses: "Step time (ms)".
	Unit string
	// Format is a fmt verb for the column's numbers ("%.3f", "%.1f%%"); empty means
	// [FormatNumber].
	Format string
	// Field is the Go field the column shows (set by TableOf), kept as the header's tooltip
	// so that a reader knows what to type to get the value.
	Field string
}

// Title is the header text with its unit.
func (c Column) Title() string {
	if c.Unit == "" {
		return c.Header
	}
	return c.Header + " (" + c.Unit + ")"
}

// TableOf builds a Table from a slice (or array) of structs or of pointers to structs: one
// row per element (nil pointers show as empty cells) and one column per exported field,
// named by the field's `display` tag ("Header;unit=ms;format=%.2f", "-" to leave the field
// out) or, untagged, by the field's name.
func TableOf(rows any) (Table, error) {
	v := reflect.ValueOf(rows)
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		return Table{}, fmt.Errorf("display.TableOf: %T is not a slice", rows)
	}
	et := v.Type().Elem()
	ptr := et.Kind() == reflect.Pointer
	if ptr {
		et = et.Elem()
	}
	if et.Kind() != reflect.Struct {
		return Table{}, fmt.Errorf("display.TableOf: %T is not a slice of structs", rows)
	}
	var t Table
	var fields []int
	for i := range et.NumField() {
		f := et.Field(i)
		if !f.IsExported() {
			continue
		}
		col, ok := columnOf(f)
		if !ok {
			continue
		}
		fields = append(fields, i)
		t.Columns = append(t.Columns, col)
	}
	for r := range v.Len() {
		row := v.Index(r)
		cells := make([]any, len(fields))
		if ptr {
			if row.IsNil() {
				t.Rows = append(t.Rows, cells)
				continue
			}
			row = row.Elem()
		}
		for j, i := range fields {
			if fv := row.Field(i); fv.CanInterface() {
				cells[j] = fv.Interface()
			}
		}
		t.Rows = append(t.Rows, cells)
	}
	return t, nil
}

// columnOf reads a field's display tag; ok is false for fields tagged "-".
func columnOf(f reflect.StructField) (Column, bool) {
	col := Column{Header: f.Name, Field: f.Name}
	tag, has := f.Tag.Lookup("display")
	if !has {
		return col, true
	}
	if tag == "-" {
		return col, false
	}
	parts := strings.Split(tag, ";")
	if h := strings.TrimSpace(parts[0]); h != "" {
		col.Header = h
	}
	for _, opt := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(opt), "=")
		switch k {
		case "unit":
			col.Unit = val
		case "format":
			col.Format = val
		}
	}
	return col, true
}

// MIMEBundle implements Bundler: an HTML table in a sideways-scrolling box, and aligned text.
func (t Table) MIMEBundle() (Bundle, map[string]any) {
	return Bundle{MIMEHTML: t.HTML(), MIMEText: t.Text()}, nil
}

// cells formats every value.
func (t Table) cells() [][]string {
	out := make([][]string, len(t.Rows))
	for r, row := range t.Rows {
		out[r] = make([]string, len(t.Columns))
		for c := range t.Columns {
			if c < len(row) {
				out[r][c] = formatValue(row[c], t.Columns[c].Format)
			}
		}
	}
	return out
}

// numeric reports whether column c holds numbers (right-aligned).
func (t Table) numeric(c int) bool {
	seen := false
	for _, row := range t.Rows {
		if c >= len(row) || row[c] == nil {
			continue
		}
		if !isNumber(reflect.ValueOf(row[c])) {
			return false
		}
		seen = true
	}
	return seen
}

// tableBoxStyle keeps a table inside the output area: wider tables scroll in their own box
// rather than widening the notebook. Cells do not wrap (a number broken over two lines
// misreads); headers wrap, between words only. JupyterLab right-aligns cells by default, so
// text cells say left.
const (
	tableBoxStyle = "max-width:100%;overflow-x:auto"
	tableStyle    = "white-space:nowrap;font-variant-numeric:tabular-nums"
	textCellStyle = ` style="text-align:left"`
	numCellStyle  = ` style="text-align:right"`
	headStyle     = ` style="white-space:normal;text-align:%s"`
)

// HTML renders the table.
func (t Table) HTML() string {
	cells := t.cells()
	var sb strings.Builder
	fmt.Fprintf(&sb, `<div class="gostudy-table" style="%s"><table style="%s">`, tableBoxStyle, tableStyle)
	if t.Caption != "" {
		fmt.Fprintf(&sb, "<caption>%s</caption>", html.EscapeString(t.Caption))
	}
	align := make([]string, len(t.Columns))
	for c := range t.Columns {
		align[c] = textCellStyle
		if t.numeric(c) {
			align[c] = numCellStyle
		}
	}
	sb.WriteString("<thead><tr>")
	if len(t.RowNames) > 0 {
		sb.WriteString("<th></th>")
	}
	for c, col := range t.Columns {
		title := ""
		if col.Field != "" && col.Field != col.Header {
			title = fmt.Sprintf(` title="%s"`, html.EscapeString(col.Field))
		}
		headAlign := "left"
		if align[c] == numCellStyle {
			headAlign = "right"
		}
		fmt.Fprintf(&sb, "<th"+headStyle+"%s>%s</th>", headAlign, title, html.EscapeString(col.Title()))
	}
	sb.WriteString("</tr></thead><tbody>")
	for r, row := range cells {
		sb.WriteString("<tr>")
		if len(t.RowNames) > 0 {
			name := ""
			if r < len(t.RowNames) {
				name = t.RowNames[r]
			}
			fmt.Fprintf(&sb, "<th>%s</th>", html.EscapeString(name))
		}
		for c, cell := range row {
			fmt.Fprintf(&sb, "<td%s>%s</td>", align[c], html.EscapeString(cell))
		}
		sb.WriteString("</tr>")
	}
	sb.WriteString("</tbody></table></div>")
	return sb.String()
}

// Text renders the table as aligned columns: numbers right-aligned, text left-aligned.
func (t Table) Text() string {
	cells := t.cells()
	n := len(t.Columns)
	head := make([]string, n)
	width := make([]int, n)
	for c, col := range t.Columns {
		head[c] = col.Title()
		width[c] = utf8.RuneCountInString(head[c])
	}
	for _, row := range cells {
		for c, cell := range row {
			width[c] = max(width[c], utf8.RuneCountInString(cell))
		}
	}
	nameW := 0
	for _, name := range t.RowNames {
		nameW = max(nameW, utf8.RuneCountInString(name))
	}
	var sb strings.Builder
	if t.Caption != "" {
		sb.WriteString(t.Caption + "\n")
	}
	line := func(name string, vals []string) {
		parts := make([]string, 0, n+1)
		if len(t.RowNames) > 0 {
			parts = append(parts, pad(name, nameW, false))
		}
		for c, v := range vals {
			parts = append(parts, pad(v, width[c], t.numeric(c)))
		}
		sb.WriteString(strings.TrimRight(strings.Join(parts, "  "), " ") + "\n")
	}
	line("", head)
	for r, row := range cells {
		name := ""
		if r < len(t.RowNames) {
			name = t.RowNames[r]
		}
		line(name, row)
	}
	return strings.TrimRight(sb.String(), "\n")
}

func pad(s string, w int, right bool) string {
	fill := strings.Repeat(" ", max(0, w-utf8.RuneCountInString(s)))
	if right {
		return fill + s
	}
	return s + fill
}

func isNumber(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return !usesMethod(v) || v.Type() == reflect.TypeFor[time.Duration]()
	}
	return false
}

// formatValue formats one table value: numbers by format (a fmt verb) or [FormatNumber],
// values with a String method by it, the rest as fmt's %v.
func formatValue(v any, format string) string {
	if v == nil {
		return ""
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return ""
		}
		if !usesMethod(rv) {
			rv = rv.Elem()
			v = rv.Interface()
		}
	}
	if format != "" {
		return fmt.Sprintf(format, v)
	}
	if usesMethod(rv) {
		return fmt.Sprint(v)
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return groupThousands(strconv.FormatInt(rv.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return groupThousands(strconv.FormatUint(rv.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		return FormatNumber(rv.Float())
	}
	return oneLine(rv, 0)
}

// FormatNumber formats a measurement for reading: four significant digits without an
// exponent in the usual range (0.9731, 12.35, 1235, 0.5000), whole numbers with thousands
// separators from 10,000 up (2,003,828,736), an exponent only for tiny values (3.20e-05).
func FormatNumber(x float64) string {
	switch {
	case math.IsNaN(x):
		return "NaN"
	case math.IsInf(x, 1):
		return "∞"
	case math.IsInf(x, -1):
		return "-∞"
	case x == 0:
		return "0"
	}
	a := math.Abs(x)
	switch {
	case a >= 1e4:
		if a >= 1e18 {
			return strconv.FormatFloat(x, 'g', 4, 64)
		}
		return groupThousands(strconv.FormatFloat(math.Round(x), 'f', 0, 64))
	case a < 1e-3:
		return strconv.FormatFloat(x, 'e', 2, 64)
	}
	// Four significant digits, zeros kept: they say how precise the number is, and a
	// column of them lines up.
	dec := max(0, 3-int(math.Floor(math.Log10(a))))
	return strconv.FormatFloat(x, 'f', dec, 64)
}

// groupThousands puts commas between groups of three digits of an integer's decimal form,
// from 10,000 up (four-digit numbers read fine as they are).
func groupThousands(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	if len(s) <= 4 {
		return sign + s
	}
	var sb strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			sb.WriteByte(',')
		}
		sb.WriteRune(r)
	}
	return sign + sb.String()
}
