package compiler

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"go/types"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/semver"
)

// ModulePath is the gostudy module's path: cells import its packages, and the runner and
// every cell link its cell runtime.
const ModulePath = "github.com/gostudy/gostudy"

// CellRuntimePath is the import path of the runtime every compiled cell links against.
const CellRuntimePath = ModulePath + "/kernel/cellrt"

// Decl is a declaration a cell made (func, method, type or const group) that later cells
// see again: its source is emitted into every later cell's package.
type Decl struct {
	Names []string // declared names; methods as "Type.Method"
	Tok   token.Token
	File  string // "In[n]"
	Line  int
	Col   int
	Text  string
	Cell  int

	idents map[string]bool // identifiers in Text, computed once (see reachable)
}

// Import is a package a cell imported; later cells get it again when they use its name.
type Import struct {
	Name  string // local name: the alias, or the package's own name
	Path  string
	Alias bool // written with an explicit alias (including "." and "_")
}

// Var is a variable that lives in the runner across cells.
type Var struct {
	Name string
	// Type is the variable's type as Go source where package qualifiers are written as
	// \x01<import path>\x02, so each cell can render it with its own import aliases.
	Type string
	// CellTypes maps each type declared by cells that the variable's type depends on to the
	// text of its declaration when the variable was published; if a later cell changes one of
	// them, the value's layout may differ and the variable is dropped.
	CellTypes map[string]string
	Cell      int
}

// Session holds what a notebook has declared so far and compiles its cells.
type Session struct {
	tc      *Toolchain
	syntax  Syntax
	dir     string // session module directory
	modPath string
	fset    *token.FileSet
	imp     *exportImporter
	// known maps a package name to an import path for adding missing imports.
	known map[string]string

	mu      sync.Mutex
	decls   []*Decl
	imports []Import
	vars    map[string]*Var
	seq     int
	notes   []string // notes of the cell being compiled from outside the generator

	// FetchModules, when set, adds the modules that provide the import paths to the session
	// (`go get`) and returns notes for the user; a cell importing a package of a module the
	// session lacks then compiles instead of failing.
	FetchModules func(ctx context.Context, paths []string) ([]string, error)
}

// NewSession returns a session that compiles cells in the module directory dir (whose
// module path is modPath) with the toolchain tc. known maps package names to import paths
// for packages that cells may use without importing them; sx is the cell syntax (for code
// intelligence on cells with magics).
func NewSession(tc *Toolchain, sx Syntax, dir, modPath string, known map[string]string) *Session {
	fset := token.NewFileSet()
	return &Session{
		tc: tc, syntax: sx, dir: dir, modPath: modPath, fset: fset,
		imp:   newExportImporter(fset, tc),
		known: known,
		vars:  map[string]*Var{},
	}
}

// Program is a compiled cell, ready for the runner.
type Program struct {
	Cell      int
	Plugin    string // path of the .so file
	PkgPath   string
	HasResult bool
	// Notes are messages for the user about state the compilation changed, such as
	// variables dropped because their type was redefined.
	Notes []string
	// Dropped are variables the runner must forget before running the program.
	Dropped []string
	// newVars are the variables the program may publish, committed by Published.
	newVars map[string]*Var
	// GoSource is the generated Go file, for debugging.
	GoSource string
	// Timings of the compilation phases, for the kernel log and %time.
	Timings Timings
}

// Timings are how long each phase of compiling a cell took.
type Timings struct {
	Packages time.Duration // finding/building imported packages (go list)
	Check    time.Duration // parsing, type-checking and rewriting
	Build    time.Duration // compile + link
	Compile  time.Duration // of which go tool compile
	Link     time.Duration // of which go tool link
}

// Reset forgets every declaration, import and variable.
func (s *Session) Reset() (decls, vars int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	decls, vars = len(s.decls), len(s.vars)
	s.decls, s.imports, s.vars = nil, nil, map[string]*Var{}
	return decls, vars
}

// ForgetVars forgets all variables (the runner restarted); declarations stay.
func (s *Session) ForgetVars() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := slices.Sorted(maps.Keys(s.vars))
	s.vars = map[string]*Var{}
	return names
}

// Remove forgets the named declarations and variables; it returns the names it found.
func (s *Session) Remove(names ...string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []string
	for _, n := range names {
		if _, ok := s.vars[n]; ok {
			delete(s.vars, n)
			found = append(found, n)
		}
		for i := 0; i < len(s.decls); i++ {
			if slices.Contains(s.decls[i].Names, n) {
				s.decls = slices.Delete(s.decls, i, i+1)
				found = append(found, n)
				i--
			}
		}
	}
	return found
}

// VarNames lists the live variables.
func (s *Session) VarNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.vars))
}

// Published records which variables a program actually published when it ran (a cell
// that panicked may have published only some of them).
func (s *Session) Published(p *Program, names []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		v, ok := p.newVars[n]
		if !ok {
			continue
		}
		s.vars[n] = v
		// A variable replaces a remembered declaration of the same name: Go allows only one
		// package-level object per name.
		for i := 0; i < len(s.decls); i++ {
			if slices.Contains(s.decls[i].Names, n) {
				s.decls = slices.Delete(s.decls, i, i+1)
				i--
			}
		}
	}
}

// cellCode is a cell's Go code after splitting and parsing.
type cellCode struct {
	imports  []Import
	blank    []Import // blank imports, kept only in the cell that wrote them
	decls    []*Decl
	varDecls []Segment // package-level var declarations
	body     []Segment
	names    map[string]bool // package-level names the cell declares
	initBody []Segment       // bodies of func init(), run once when this cell loads
}

// Compile compiles cell number n. Declarations are remembered only when it succeeds.
func (s *Session) Compile(ctx context.Context, n int, p Parsed) (*Program, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	file := CellFile(n)
	code, err := s.splitCell(file, n, p)
	if err != nil {
		return nil, err
	}
	prog := &Program{Cell: n}
	s.notes = nil
	if err := s.nameImports(ctx, n, code); err != nil {
		return nil, err
	}
	prog.Notes = append(prog.Notes, s.notes...)

	// Declarations visible to this cell: earlier ones not redefined here, then this cell's.
	var decls []*Decl
	for _, d := range s.decls {
		if !slices.ContainsFunc(d.Names, func(name string) bool { return code.names[name] }) {
			decls = append(decls, d)
		}
	}
	decls = append(decls, code.decls...)
	declText := map[string]string{}
	declNames := map[string]bool{}
	for _, d := range decls {
		for _, name := range d.Names {
			declText[name] = d.Text
			declNames[name] = true
		}
	}

	// Variables from earlier cells, unless this cell redeclares them at package level or
	// changed a type they depend on.
	var prelude []*Var
	for _, name := range slices.Sorted(maps.Keys(s.vars)) {
		v := s.vars[name]
		if code.names[name] {
			continue // redeclared at package level by this cell: the new one wins
		}
		if declNames[name] {
			prog.Dropped = append(prog.Dropped, name)
			prog.Notes = append(prog.Notes, fmt.Sprintf("variable %s was dropped: a declaration named %s replaces it", name, name))
			continue
		}
		changed := ""
		for tname, text := range v.CellTypes {
			if declText[tname] != text {
				changed = tname
				break
			}
		}
		if changed != "" {
			prog.Dropped = append(prog.Dropped, name)
			prog.Notes = append(prog.Notes, fmt.Sprintf("variable %s was dropped: its type depends on %s, which was redefined (re-run the cell that creates %s)", name, changed, name))
			continue
		}
		prelude = append(prelude, v)
	}
	// Only what this cell can reach is compiled; all of decls is remembered.
	visible, prelude := reachable(code, decls, prelude)

	// Imports: this cell's, then earlier ones whose names the code uses.
	imports := mergeImports(s.imports, code.imports)
	used := usedQualifiers(visible, code)
	var fileImports []Import
	for _, im := range imports {
		if im.Name == "." || used[im.Name] {
			fileImports = append(fileImports, im)
		}
	}
	fileImports = append(fileImports, code.blank...)

	var result *attemptResult
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		result, lastErr = s.compileAttempt(ctx, n, code, visible, prelude, fileImports, prog)
		var fix *importFix
		if errors.As(lastErr, &fix) {
			fileImports = fix.imports
			continue
		}
		break
	}
	if lastErr != nil {
		return nil, pointIntoCell(lastErr, n, p)
	}
	// Success: remember the cell's declarations and imports.
	s.decls = decls
	s.imports = mergeImports(imports, result.usedImports)
	for _, name := range prog.Dropped {
		delete(s.vars, name)
	}
	for name := range code.names {
		if _, ok := s.vars[name]; ok {
			delete(s.vars, name)
			prog.Dropped = append(prog.Dropped, name)
		}
	}
	return result.Program, nil
}

// pointIntoCell moves diagnostics that lie in generated code to the end of cell n's code:
// the generator places every piece of cell code behind a //line directive, so such an error
// is one the user's code caused at a place no directive covers (say, a cell that ends in
// the middle of a statement), and it must still name a line of the cell.
func pointIntoCell(err error, n int, p Parsed) error {
	var ce *CompileError
	if !errors.As(err, &ce) {
		return err
	}
	lines := strings.Split(p.Go, "\n")
	last := len(lines)
	for last > 1 && strings.TrimSpace(lines[last-1]) == "" {
		last--
	}
	col := len(strings.TrimRight(lines[last-1], " \t\r")) + 1
	for i, d := range ce.Diagnostics {
		// Also past the end of the cell's code: an error at the end of the generated file
		// ("expected '}', found 'EOF'") belongs at the end of the cell's code.
		past := d.Line > last || d.Line == last && d.Col > col
		if d.Line > 0 && (d.Cell() == 0 || d.Cell() == n && past) {
			ce.Diagnostics[i] = Diagnostic{File: CellFile(n), Line: last, Col: col, Message: d.Message}
		}
	}
	return ce
}

// nameImports builds the packages this cell imports and fills in the names of imports
// written without an alias (a package's name need not match its path).
func (s *Session) nameImports(ctx context.Context, n int, code *cellCode) error {
	all := append(slices.Clone(code.imports), code.blank...)
	if len(all) == 0 {
		return nil
	}
	var paths []string
	for _, im := range all {
		if im.Path == "C" {
			return &CompileError{Diagnostics: []Diagnostic{{File: CellFile(n), Message: `import "C" (cgo) is not supported in cells: put the C code in a package of its own and import that package`}}}
		}
		paths = append(paths, im.Path)
	}
	failed, err := s.tc.Ensure(ctx, paths)
	if err != nil {
		return err
	}
	if missing := missingModules(failed); len(missing) > 0 && s.FetchModules != nil {
		notes, err := s.FetchModules(ctx, missing)
		s.notes = append(s.notes, notes...)
		if err != nil {
			return &CompileError{Diagnostics: []Diagnostic{{File: CellFile(n), Message: err.Error()}}}
		}
		if failed, err = s.tc.Ensure(ctx, paths); err != nil {
			return err
		}
	}
	var ds []Diagnostic
	for _, p := range paths {
		if e := failed[p]; e != nil {
			ds = append(ds, Diagnostic{File: CellFile(n), Message: fmt.Sprintf("cannot import %q: %v%s", p, e, importHint(e))})
		}
	}
	if len(ds) > 0 {
		return &CompileError{Diagnostics: ds}
	}
	for i, im := range code.imports {
		if !im.Alias {
			if lp, ok := s.tc.Package(im.Path); ok {
				code.imports[i].Name = lp.Name
			}
		}
	}
	return nil
}

// splitCell parses the cell's segments into imports, declarations and body.
func (s *Session) splitCell(file string, n int, p Parsed) (*cellCode, error) {
	code := &cellCode{names: map[string]bool{}}
	var diags []Diagnostic
	addErr := func(err error) {
		var list scanner.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				diags = append(diags, Diagnostic{File: e.Pos.Filename, Line: e.Pos.Line, Col: e.Pos.Column, Message: e.Msg})
			}
			return
		}
		diags = append(diags, Diagnostic{File: file, Message: err.Error()})
	}
	for _, seg := range Split(p) {
		switch seg.Kind {
		case StmtSeg:
			code.body = append(code.body, seg)
		case ImportSeg:
			f, err := parser.ParseFile(s.fset, file, "package p"+lineDirective(file, seg.Line, seg.Col)+seg.Text, parser.ImportsOnly)
			if err != nil {
				addErr(err)
				continue
			}
			for _, spec := range f.Imports {
				path, _ := strconv.Unquote(spec.Path.Value)
				im := Import{Path: path}
				if spec.Name != nil {
					im.Name, im.Alias = spec.Name.Name, true
				}
				if im.Name == "_" {
					code.blank = append(code.blank, im)
				} else {
					code.imports = append(code.imports, im)
				}
			}
		case DeclSeg:
			src := "package p" + lineDirective(file, seg.Line, seg.Col) + seg.Text
			f, err := parser.ParseFile(s.fset, file, src, parser.ParseComments|parser.SkipObjectResolution)
			if err != nil {
				addErr(err)
				continue
			}
			if seg.Tok == token.VAR {
				code.varDecls = append(code.varDecls, seg)
				for _, d := range f.Decls {
					if g, ok := d.(*ast.GenDecl); ok {
						for _, spec := range g.Specs {
							for _, id := range spec.(*ast.ValueSpec).Names {
								if id.Name != "_" {
									code.names[id.Name] = true
								}
							}
						}
					}
				}
				continue
			}
			for _, d := range f.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && (fd.Name.Name == "main" || fd.Name.Name == "init") {
					if fd.Body == nil {
						continue
					}
					pos := s.fset.Position(fd.Body.Lbrace)
					off := s.fset.File(fd.Body.Lbrace).Offset(fd.Body.Lbrace) + 1
					end := s.fset.File(fd.Body.Rbrace).Offset(fd.Body.Rbrace)
					inner := Segment{Kind: StmtSeg, Line: pos.Line, Col: pos.Column + 1, Text: src[off:end]}
					if fd.Name.Name == "main" {
						code.body = append(code.body, inner)
					} else {
						code.initBody = append(code.initBody, inner)
					}
					continue
				}
				decl := &Decl{File: file, Cell: n}
				switch d := d.(type) {
				case *ast.FuncDecl:
					decl.Tok = token.FUNC
					name := d.Name.Name
					if d.Recv != nil && len(d.Recv.List) > 0 {
						name = recvTypeName(d.Recv.List[0].Type) + "." + name
					}
					decl.Names = []string{name}
				case *ast.GenDecl:
					decl.Tok = d.Tok
					for _, spec := range d.Specs {
						switch spec := spec.(type) {
						case *ast.TypeSpec:
							decl.Names = append(decl.Names, spec.Name.Name)
						case *ast.ValueSpec:
							for _, id := range spec.Names {
								if id.Name != "_" {
									decl.Names = append(decl.Names, id.Name)
								}
							}
						}
					}
				}
				start := s.fset.File(d.Pos()).Offset(d.Pos())
				if c := docOf(d); c != nil {
					start = s.fset.File(c.Pos()).Offset(c.Pos())
				}
				end := s.fset.File(d.End()).Offset(d.End())
				pos := s.fset.Position(s.fset.File(d.Pos()).Pos(start))
				decl.Line, decl.Col, decl.Text = pos.Line, pos.Column, src[start:end]
				for _, name := range decl.Names {
					code.names[name] = true
				}
				code.decls = append(code.decls, decl)
			}
		}
	}
	if len(diags) > 0 {
		return nil, &CompileError{Diagnostics: diags}
	}
	return code, nil
}

func docOf(d ast.Decl) *ast.CommentGroup {
	switch d := d.(type) {
	case *ast.FuncDecl:
		return d.Doc
	case *ast.GenDecl:
		return d.Doc
	}
	return nil
}

// recvTypeName returns "T" for receivers T, *T, T[K], *T[K].
func recvTypeName(e ast.Expr) string {
	for {
		switch t := e.(type) {
		case *ast.StarExpr:
			e = t.X
		case *ast.IndexExpr:
			e = t.X
		case *ast.IndexListExpr:
			e = t.X
		case *ast.ParenExpr:
			e = t.X
		case *ast.Ident:
			return t.Name
		default:
			return "?"
		}
	}
}

// mergeImports adds newer imports to older ones; a newer import of the same name wins.
func mergeImports(old, newer []Import) []Import {
	out := slices.Clone(old)
	for _, im := range newer {
		if im.Name == "" {
			continue
		}
		i := slices.IndexFunc(out, func(o Import) bool {
			return o.Name == im.Name && (im.Name != "." || o.Path == im.Path)
		})
		if i >= 0 {
			out[i] = im
		} else {
			out = append(out, im)
		}
	}
	return out
}

// usedQualifiers returns the identifiers that appear right before a "." in the code: the
// candidates for package names. Over-counting is harmless (an unused import is dropped and
// the file re-checked); under-counting cannot happen.
func usedQualifiers(decls []*Decl, code *cellCode) map[string]bool {
	var b strings.Builder
	for _, d := range decls {
		b.WriteString(d.Text)
		b.WriteString("\n")
	}
	for _, segs := range [][]Segment{code.varDecls, code.body, code.initBody} {
		for _, seg := range segs {
			b.WriteString(seg.Text)
			b.WriteString("\n")
		}
	}
	return qualifiersIn(b.String())
}

// importFix asks Compile to retry with a corrected import list.
type importFix struct{ imports []Import }

func (e *importFix) Error() string { return "imports changed" }

// attemptResult is a successful compile attempt.
type attemptResult struct {
	*Program
	usedImports []Import
}

var (
	unusedImportRE = regexp.MustCompile(`^"([^"]+)" imported(?: as (\S+))? and not used`)
	undefinedRE    = regexp.MustCompile(`^undefined: (\w+)$`)
)

// compileAttempt generates the cell's package, type-checks it, rewrites it and builds it.
func (s *Session) compileAttempt(ctx context.Context, n int, code *cellCode, decls []*Decl, prelude []*Var, imports []Import, prog *Program) (*attemptResult, error) {
	// Make sure export data exists for every package the file will import.
	paths := []string{CellRuntimePath}
	for _, im := range imports {
		paths = append(paths, im.Path)
	}
	for _, v := range prelude {
		paths = append(paths, typePackages(v.Type)...)
	}
	t0 := time.Now()
	failed, err := s.tc.Ensure(ctx, paths)
	prog.Timings.Packages += time.Since(t0)
	if err != nil {
		return nil, err
	}
	if len(failed) > 0 {
		var ds []Diagnostic
		for _, im := range imports {
			if e := failed[im.Path]; e != nil {
				ds = append(ds, Diagnostic{File: CellFile(n), Message: fmt.Sprintf("cannot import %q: %v%s", im.Path, e, importHint(e))})
			}
		}
		if len(ds) == 0 {
			for p, e := range failed {
				ds = append(ds, Diagnostic{File: CellFile(n), Message: fmt.Sprintf("cannot load %q: %v", p, e)})
			}
		}
		return nil, &CompileError{Diagnostics: ds}
	}

	t1 := time.Now()
	g := newGenerator(s, n, code, decls, prelude, imports)
	src := g.checkSource()
	file, err := parser.ParseFile(s.fset, "cell.go", src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, syntaxError(err)
	}
	g.file = file
	g.tfile = s.fset.File(file.Pos())
	info := &types.Info{
		Types:  map[ast.Expr]types.TypeAndValue{},
		Defs:   map[*ast.Ident]types.Object{},
		Uses:   map[*ast.Ident]types.Object{},
		Scopes: map[ast.Node]*types.Scope{},
	}
	var terrs []types.Error
	conf := types.Config{
		Importer:  s.imp,
		GoVersion: "go1.26",
		Error: func(err error) {
			if te, ok := err.(types.Error); ok {
				terrs = append(terrs, te)
			}
		},
	}
	pkgPath := fmt.Sprintf("%s/cells/c%04d", s.modPath, s.nextSeq())
	pkg, _ := conf.Check(pkgPath, s.fset, []*ast.File{file}, info)
	g.pkg, g.info = pkg, info
	g.analyze()

	// Fix imports first: drop unused ones, add missing ones, and try again.
	var unused []string
	var undefined []string
	for _, te := range terrs {
		if m := unusedImportRE.FindStringSubmatch(te.Msg); m != nil {
			unused = append(unused, m[1])
		}
		if m := undefinedRE.FindStringSubmatch(te.Msg); m != nil && g.isQualifier(te.Pos) {
			undefined = append(undefined, m[1])
		}
	}
	if len(unused) > 0 || len(undefined) > 0 {
		next := slices.DeleteFunc(slices.Clone(imports), func(im Import) bool { return slices.Contains(unused, im.Path) })
		added := s.resolve(undefined, g.selectorUses(undefined))
		next = mergeImports(next, added)
		if len(unused) > 0 || len(added) > 0 {
			return nil, &importFix{imports: next}
		}
	}

	var ds []Diagnostic
	for _, te := range terrs {
		if g.ignorable(te) {
			continue
		}
		pos := s.fset.Position(te.Pos)
		ds = append(ds, Diagnostic{File: pos.Filename, Line: pos.Line, Col: pos.Column, Message: te.Msg})
	}
	if len(ds) > 0 {
		return nil, &CompileError{Diagnostics: dedupe(ds)}
	}

	final, finalImports, err := g.finalSource()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, "cells", filepath.Base(pkgPath))
	soPath := filepath.Join(dir, "cell.so")
	prog.Timings.Check += time.Since(t1)
	t2 := time.Now()
	if _, err := s.tc.Ensure(ctx, finalImports); err != nil {
		return nil, err
	}
	prog.Timings.Packages += time.Since(t2)
	t3 := time.Now()
	defer func() { prog.Timings.Build += time.Since(t3) }()
	if err := s.tc.Build(ctx, dir, pkgPath, []byte(final), finalImports, soPath, &prog.Timings); err != nil {
		var te *ToolError
		if errors.As(err, &te) {
			if ds := te.Diagnostics(); len(ds) > 0 {
				return nil, &CompileError{Diagnostics: dedupe(ds)}
			}
		}
		return nil, err
	}
	prog.Plugin, prog.PkgPath, prog.GoSource = soPath, pkgPath, final
	prog.HasResult = g.resultExpr != nil && !g.suppressResult
	prog.newVars = g.newVars
	prog.Notes = append(prog.Notes, g.notes...)
	return &attemptResult{Program: prog, usedImports: imports}, nil
}

func (s *Session) nextSeq() int {
	s.seq++
	return s.seq
}

// missingModules returns the import paths that failed only because no module of the
// session provides them (the go command's "no required module provides package").
func missingModules(failed map[string]error) []string {
	var out []string
	for p, err := range failed {
		if strings.Contains(err.Error(), "no required module provides package") {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// importHint tells the user how to add a module the session does not have yet.
func importHint(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "no required module provides package") || strings.Contains(msg, "cannot find module") {
		return "\n(add its module with a line `!*go get <module>@<version>` in a cell)"
	}
	return ""
}

func syntaxError(err error) error {
	var list scanner.ErrorList
	if errors.As(err, &list) {
		ds := make([]Diagnostic, 0, len(list))
		for _, e := range list {
			ds = append(ds, Diagnostic{File: e.Pos.Filename, Line: e.Pos.Line, Col: e.Pos.Column, Message: e.Msg})
		}
		return &CompileError{Diagnostics: ds}
	}
	return err
}

func dedupe(ds []Diagnostic) []Diagnostic {
	seen := map[string]bool{}
	out := ds[:0]
	for _, d := range ds {
		k := d.String()
		if !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

// resolve finds import paths for package names used without an import: first the names
// this session imported before, then the project's and GoMLX's packages, then the standard
// library (through goimports).
func (s *Session) resolve(names []string, uses map[string][]string) []Import {
	var out []Import
	var rest []string
	for _, name := range slices.Compact(slices.Sorted(slices.Values(names))) {
		if i := slices.IndexFunc(s.imports, func(im Import) bool { return im.Name == name }); i >= 0 {
			out = append(out, s.imports[i])
			continue
		}
		if path, ok := s.known[name]; ok {
			out = append(out, Import{Name: name, Path: path})
			continue
		}
		rest = append(rest, name)
	}
	if len(rest) > 0 {
		out = append(out, goimportsResolve(s.dir, rest, uses)...)
	}
	return out
}

// LocalModule is a module the session uses from a folder on disk (a replace directive).
type LocalModule struct {
	Path string // module path
	Dir  string // absolute folder
}

// ModuleSpec describes the session module.
type ModuleSpec struct {
	Path      string        // the session module's path
	GoVersion string        // its go directive
	Local     []LocalModule // required at v0.0.0 and replaced by their folders
	Requires  []string      // "path version" requirements (the highest version of a path wins)
	Replaces  []string      // extra replace directives, "old => new" with absolute folders
	SumFiles  []string      // go.sum files whose lines the session's go.sum gets
}

// WriteModule writes the session module's go.mod and go.sum: it requires the local modules
// (the gostudy checkout, and the module the notebook lives in, if any) and everything they
// require, so cells can import any package those modules can.
func WriteModule(dir string, spec ModuleSpec) error {
	var b strings.Builder
	fmt.Fprintf(&b, "module %s\n\ngo %s\n", spec.Path, spec.GoVersion)
	for _, m := range spec.Local {
		fmt.Fprintf(&b, "\nrequire %s v0.0.0\n\nreplace %s => %s\n", m.Path, m.Path, m.Dir)
	}
	best := map[string]string{}
	var order []string
	for _, r := range spec.Requires {
		path, version, ok := strings.Cut(r, " ")
		if !ok || slices.ContainsFunc(spec.Local, func(m LocalModule) bool { return m.Path == path }) {
			continue
		}
		old, seen := best[path]
		if !seen {
			order = append(order, path)
		}
		if !seen || semver.Compare(version, old) > 0 {
			best[path] = version
		}
	}
	if len(order) > 0 {
		b.WriteString("\nrequire (\n")
		for _, p := range order {
			fmt.Fprintf(&b, "\t%s %s\n", p, best[p])
		}
		b.WriteString(")\n")
	}
	for _, r := range spec.Replaces {
		fmt.Fprintf(&b, "\nreplace %s\n", r)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write session go.mod: %w", err)
	}
	var sum []string
	seen := map[string]bool{}
	for _, f := range spec.SumFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // a module without dependencies has no go.sum
			}
			return fmt.Errorf("read %s: %w", f, err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" && !seen[line] {
				seen[line] = true
				sum = append(sum, line)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), []byte(strings.Join(sum, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("write session go.sum: %w", err)
	}
	return nil
}

// reachable keeps, of the earlier cells' declarations and variables, those this cell can
// reach: named in its code, or in a kept declaration, or in the type of a kept variable,
// and so on; a type brings its methods. A later cell's cost then follows what it uses, not
// everything declared before it: after a cell of 10,000 functions, a cell that calls none
// of them compiles as if they did not exist. Names are matched as identifiers, which can
// only over-approximate (a local variable named like an earlier function keeps it).
func reachable(code *cellCode, decls []*Decl, prelude []*Var) ([]*Decl, []*Var) {
	needed := map[string]bool{}
	var pending []string
	need := func(idents map[string]bool) {
		for id := range idents {
			if !needed[id] {
				needed[id] = true
				pending = append(pending, id)
			}
		}
	}
	for _, segs := range [][]Segment{code.body, code.varDecls, code.initBody} {
		for _, seg := range segs {
			need(identifiers(seg.Text))
		}
	}
	// Declarations by name ("T" for a type and "T" for each of its methods "T.M").
	byName := map[string][]int{}
	keep := make([]bool, len(decls))
	for i, d := range decls {
		if d.idents == nil {
			d.idents = identifiers(d.Text)
		}
		if slices.Contains(code.decls, d) {
			keep[i] = true
			need(d.idents)
			continue
		}
		for _, name := range d.Names {
			if recv, _, ok := strings.Cut(name, "."); ok {
				name = recv
			}
			byName[name] = append(byName[name], i)
		}
	}
	vars := map[string]*Var{}
	for _, v := range prelude {
		vars[v.Name] = v
	}
	keptVars := map[string]bool{}
	for len(pending) > 0 {
		id := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		for _, i := range byName[id] {
			if !keep[i] {
				keep[i] = true
				need(decls[i].idents)
			}
		}
		if v, ok := vars[id]; ok && !keptVars[id] {
			keptVars[id] = true
			for t := range v.CellTypes {
				need(map[string]bool{t: true})
			}
		}
	}
	var outDecls []*Decl
	for i, d := range decls {
		if keep[i] {
			outDecls = append(outDecls, d)
		}
	}
	var outVars []*Var
	for _, v := range prelude {
		if keptVars[v.Name] {
			outVars = append(outVars, v)
		}
	}
	return outDecls, outVars
}

// identifiers returns the identifiers in Go source (keywords and literals left out).
func identifiers(src string) map[string]bool {
	ids := map[string]bool{}
	var sc scanner.Scanner
	fset := token.NewFileSet()
	sc.Init(fset.AddFile("", -1, len(src)), []byte(src), nil, 0)
	for {
		_, tok, lit := sc.Scan()
		if tok == token.EOF {
			return ids
		}
		if tok == token.IDENT {
			ids[lit] = true
		}
	}
}
