package compiler

import "testing"

func TestIsComplete(t *testing.T) {
	cases := map[string]string{
		"x := 1":                         "complete",
		"func f() int { return 1 }":      "complete",
		"fmt.Println(1)\nx := 2":         "complete",
		"func f() {}\nf()":               "complete",
		"%help":                          "complete",
		"!ls -l":                         "complete",
		"":                               "complete",
		"func f() {":                     "incomplete",
		"x := []int{1,\n2,":              "incomplete",
		"for i := 0; i < 3; i++ {":       "incomplete",
		"s := `multi":                    "incomplete",
		"x := (1 +":                      "incomplete",
		"x := )":                         "invalid",
		"func 1f() {}":                   "invalid",
		"x := 1 2":                       "invalid",
		"}":                              "invalid",
		"type t struct {\n\ta int\n}\n}": "invalid",
		"%%writefile f.go\nfunc f() {":   "complete",
		"%%time\nfunc f() {":             "incomplete",
	}
	sx := Syntax{CellMagic: func(name string) CellBody {
		return map[string]CellBody{"writefile": TextBody, "time": GoBody}[name]
	}}
	for code, want := range cases {
		if got := sx.IsComplete(code); got != want {
			t.Errorf("IsComplete(%q) = %q, want %q", code, got, want)
		}
	}
}
