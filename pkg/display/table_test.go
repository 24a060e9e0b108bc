package display

import (
	"math"
	"strings"
	"testing"
	"time"
)

type scalingRow struct {
	P                    float64
	Params               int     `display:"Parameters"`
	UnitRatioStdExpected float64 `display:"Unit ratio (std/expected);format=%.3f"`
	StepMS               float64 `display:"Step time;unit=ms"`
	Wall                 time.Duration
	Debug                string `display:"-"`
	hidden               int
}

func TestTableOfUsesTagsForHeadersUnitsAndFormats(t *testing.T) {
	rows := []scalingRow{
		{P: 0.5, Params: 2003828736, UnitRatioStdExpected: 1.0234, StepMS: 12.3456, Wall: 1500 * time.Millisecond, Debug: "x"},
		{P: 0.1, Params: 512, UnitRatioStdExpected: 0.98, StepMS: 0.000012, Wall: time.Second},
	}
	tab, err := TableOf(rows)
	if err != nil {
		t.Fatal(err)
	}
	var heads []string
	for _, c := range tab.Columns {
		heads = append(heads, c.Title())
	}
	if got := strings.Join(heads, "|"); got != "P|Parameters|Unit ratio (std/expected)|Step time (ms)|Wall" {
		t.Errorf("headers %q", got)
	}
	h := tab.HTML()
	cells := tableCells(h)
	want := [][]string{
		{"P", "Parameters", "Unit ratio (std/expected)", "Step time (ms)", "Wall"},
		{"0.5000", "2,003,828,736", "1.023", "12.35", "1.5s"},
		{"0.1000", "512", "0.980", "1.20e-05", "1s"},
	}
	for r := range want {
		if strings.Join(cells[r], "|") != strings.Join(want[r], "|") {
			t.Errorf("row %d: %q, want %q", r, cells[r], want[r])
		}
	}
	// The Go field stays findable: the header's tooltip names it.
	if !strings.Contains(h, `title="UnitRatioStdExpected"`) || strings.Contains(h, `title="P"`) {
		t.Errorf("header tooltips wrong: %s", h)
	}
	// Wide tables scroll inside their own box; numbers are right-aligned and never wrap.
	for _, s := range []string{`class="gostudy-table" style="max-width:100%;overflow-x:auto"`, "white-space:nowrap", `<td style="text-align:right">2,003,828,736</td>`} {
		if !strings.Contains(h, s) {
			t.Errorf("HTML lacks %q: %s", s, h)
		}
	}
	txt := tab.Text()
	lines := strings.Split(txt, "\n")
	if len(lines) != 3 {
		t.Fatalf("text table %q", txt)
	}
	// Numbers right-aligned: every row of the Parameters column ends at the same place.
	end := strings.Index(lines[0], "Parameters") + len("Parameters")
	for _, l := range lines[1:] {
		if l[end-1] == ' ' || (end < len(l) && l[end] != ' ') {
			t.Errorf("Parameters column not right-aligned at %d:\n%s", end, txt)
		}
	}
}

func TestTableOfRejectsNonStructs(t *testing.T) {
	if _, err := TableOf([]int{1}); err == nil {
		t.Error("TableOf([]int) did not fail")
	}
	if _, err := TableOf(3); err == nil {
		t.Error("TableOf(3) did not fail")
	}
}

func TestFormatNumber(t *testing.T) {
	for _, c := range []struct {
		x    float64
		want string
	}{
		{0, "0"}, {0.97314, "0.9731"}, {0.5, "0.5000"}, {12.3456, "12.35"}, {1234.56, "1235"},
		{12345.6, "12,346"}, {2003828736, "2,003,828,736"}, {-45678.9, "-45,679"}, {0.00012345, "1.23e-04"},
		{-0.25, "-0.2500"}, {math.NaN(), "NaN"}, {math.Inf(1), "∞"}, {1e20, "1e+20"},
	} {
		if got := FormatNumber(c.x); got != c.want {
			t.Errorf("FormatNumber(%v) = %q, want %q", c.x, got, c.want)
		}
	}
	if got := formatValue(int64(-1234567), ""); got != "-1,234,567" {
		t.Errorf("int with separators: %q", got)
	}
	if got := formatValue(1234, ""); got != "1234" {
		t.Errorf("four-digit int: %q", got)
	}
}
