package compiler

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Diagnostic is one compile error, positioned in a cell ("In[3]") when it comes from cell
// code, or in a generated file when it comes from the kernel's own code.
type Diagnostic struct {
	File    string
	Line    int
	Col     int
	Message string
}

// Cell returns the number of the cell a diagnostic points into, or 0.
func (d Diagnostic) Cell() int {
	var n int
	if _, err := fmt.Sscanf(d.File, "In[%d]", &n); err == nil {
		return n
	}
	return 0
}

func (d Diagnostic) String() string {
	if d.Line == 0 {
		return d.Message
	}
	if d.Col == 0 {
		return fmt.Sprintf("%s:%d: %s", d.File, d.Line, d.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s", d.File, d.Line, d.Col, d.Message)
}

var diagRE = regexp.MustCompile(`^(.*?):(\d+)(?::(\d+))?: (.*)$`)

func parseDiagnostic(line string) (Diagnostic, bool) {
	m := diagRE.FindStringSubmatch(strings.TrimSpace(line))
	if m == nil {
		return Diagnostic{}, false
	}
	l, _ := strconv.Atoi(m[2])
	c, _ := strconv.Atoi(m[3])
	return Diagnostic{File: m[1], Line: l, Col: c, Message: m[4]}, true
}

// CompileError is a cell that does not compile: its diagnostics, in order.
type CompileError struct {
	Diagnostics []Diagnostic
}

func (e *CompileError) Error() string {
	lines := make([]string, len(e.Diagnostics))
	for i, d := range e.Diagnostics {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Format renders the diagnostics with the offending cell line under each one (when the
// line belongs to the given cell source), the way a user reads a compiler error.
func (e *CompileError) Format(cellNum int, src string) []string {
	lines := strings.Split(src, "\n")
	var out []string
	for _, d := range e.Diagnostics {
		out = append(out, d.String())
		if d.Cell() == cellNum && d.Line >= 1 && d.Line <= len(lines) {
			code := lines[d.Line-1]
			out = append(out, "    "+code)
			if d.Col >= 1 && d.Col <= len(code)+1 {
				caret := strings.Map(func(r rune) rune {
					if r == '\t' {
						return '\t'
					}
					return ' '
				}, code[:d.Col-1])
				out = append(out, "    "+caret+"^")
			}
		}
	}
	return out
}
