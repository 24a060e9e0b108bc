package compiler

import (
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/scanner"
	"go/token"
	"maps"
	"slices"
	"strings"
)

// CompletionFile returns a Go file for code intelligence (gopls) on a cell being edited,
// and the byte offset in it that corresponds to byte offset cursor in the cell. The file has
// the session's imports, variables and declarations, then the cell's declarations at package
// level and its statements in a function body. It does not need the cell to be valid Go.
func (s *Session) CompletionFile(code string, cursor int) (content string, offset int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cursor = min(max(cursor, 0), len(code))
	p := s.syntax.Parse(code)
	segs := Split(p)
	var b strings.Builder
	b.WriteString("package main\n\n")
	g := &generator{aliases: map[string]string{}}
	var vars strings.Builder
	for _, name := range slices.Sorted(maps.Keys(s.vars)) {
		fmt.Fprintf(&vars, "var %s %s\n", name, g.render(s.vars[name].Type))
	}
	// Packages the cell names without importing them are imported here, as compiling the
	// cell would, so gopls can resolve them for hover and member completion.
	imports := slices.Clone(s.imports)
	have := map[string]bool{}
	for _, im := range imports {
		have[im.Name] = true
	}
	for _, d := range s.decls {
		for _, n := range d.Names {
			have[n] = true
		}
	}
	for n := range s.vars {
		have[n] = true
	}
	std := s.tc.StdPackages(context.Background())
	for q := range qualifiersIn(code) {
		if have[q] {
			continue
		}
		if path, ok := s.known[q]; ok {
			imports = append(imports, Import{Name: q, Path: path})
		} else if path, ok := std[q]; ok {
			imports = append(imports, Import{Name: q, Path: path})
		}
	}
	b.WriteString("import (\n")
	for _, im := range imports {
		if im.Alias {
			fmt.Fprintf(&b, "\t%s %q\n", im.Name, im.Path)
		} else {
			fmt.Fprintf(&b, "\t%q\n", im.Path)
		}
	}
	fmt.Fprintf(&b, "\t%s %q\n", rtAlias, CellRuntimePath)
	for _, path := range slices.Sorted(maps.Keys(g.aliases)) {
		fmt.Fprintf(&b, "\t%s %q\n", g.aliases[path], path)
	}
	b.WriteString(")\n\n")
	b.WriteString(vars.String())
	fmt.Fprintf(&b, "var ctx = %s.Context()\n\n", rtAlias)
	redefined := map[string]bool{}
	for _, seg := range segs {
		if seg.Kind == DeclSeg {
			for _, w := range strings.Fields(seg.Text) {
				redefined[strings.TrimRight(w, "([{")] = true
			}
		}
	}
	for _, d := range s.decls {
		if slices.ContainsFunc(d.Names, func(n string) bool { return redefined[n] }) {
			continue
		}
		b.WriteString(d.Text)
		b.WriteString("\n\n")
	}
	offset = -1
	place := func(seg Segment) {
		if offset < 0 && cursor >= seg.Off && cursor <= seg.Off+len(seg.Text) {
			offset = b.Len() + cursor - seg.Off
		}
		b.WriteString(seg.Text)
		b.WriteString("\n")
	}
	for _, seg := range segs {
		if seg.Kind != StmtSeg {
			place(seg)
		}
	}
	b.WriteString("\nfunc _() {\n")
	for _, seg := range segs {
		if seg.Kind == StmtSeg {
			place(seg)
		}
	}
	if offset < 0 {
		// The cursor is in blank space between segments: complete what is on its line.
		ls := strings.LastIndexByte(code[:cursor], '\n') + 1
		b.WriteString(code[ls:cursor])
		offset = b.Len()
		b.WriteString("\n")
	}
	b.WriteString("}\n")
	return b.String(), offset
}

// IsComplete tells a front end whether a cell can run as typed ("complete"), needs more lines
// ("incomplete": an open brace, parenthesis or string), or cannot be fixed by adding lines
// ("invalid"). Command lines (magics, shell) and whole-cell magics that take text are
// always complete.
func (sx Syntax) IsComplete(code string) string {
	p := sx.Parse(code)
	if strings.TrimSpace(p.Go) == "" {
		return "complete"
	}
	fset := token.NewFileSet()
	asBody := "package p\nfunc _() {\n" + p.Go + "\n}\n"
	_, errBody := parser.ParseFile(fset, "", asBody, parser.SkipObjectResolution)
	if errBody == nil {
		return "complete"
	}
	asFile := "package p\n" + p.Go + "\n"
	_, errFile := parser.ParseFile(fset, "", asFile, parser.SkipObjectResolution)
	if errFile == nil {
		return "complete"
	}
	// Mixed cells (funcs and statements) are split the way the compiler splits them.
	mixedOK := true
	for _, seg := range Split(p) {
		var src string
		if seg.Kind == StmtSeg {
			src = "package p\nfunc _() {\n" + seg.Text + "\n}\n"
		} else {
			src = "package p\n" + seg.Text + "\n"
		}
		if _, err := parser.ParseFile(fset, "", src, parser.SkipObjectResolution); err != nil {
			mixedOK = false
			break
		}
	}
	if mixedOK {
		return "complete"
	}
	// Not valid as it stands. It is incomplete when the parser only fails because the input
	// ends: parsed as a function body left open, or as a file, the first error is at EOF.
	bodyOpen := "package p\nfunc _() {\n" + p.Go + "\n"
	_, errOpen := parser.ParseFile(fset, "", bodyOpen, parser.SkipObjectResolution)
	if atEOF(errOpen, len(bodyOpen)) || atEOF(errFile, len(asFile)) {
		return "incomplete"
	}
	return "invalid"
}

// atEOF reports whether a parse error is about the input ending too early: the first
// error is at the end of the source, or is an unterminated literal or comment.
func atEOF(err error, size int) bool {
	var list scanner.ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		return false
	}
	e := list[0]
	return e.Pos.Offset >= size-1 || strings.Contains(e.Msg, "not terminated")
}
