package compiler

import (
	"fmt"
	"go/ast"
	"go/scanner"
	"go/token"
	"go/types"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/tools/imports"

	"github.com/gostudy/gostudy/kernel/cellrt"
)

// Names the generated code uses; chosen so they cannot clash with ordinary user code.
const (
	rtAlias     = "gostudy_cellrt"
	bodyFunc    = "gostudyBody"
	prevPrefix  = "gostudyP_" // pointer to a variable of an earlier cell
	newPrefix   = "gostudyN_" // pointer to a variable this cell declares
	localPrefix = "gostudyV_" // temporaries inside generated initializers
	aliasPrefix = "gostudy_i" // import aliases for packages named only by variable types
)

// generator builds the Go file of one cell: first a version to type-check (variables as
// plain package-level variables, so the cell reads like ordinary Go), then the version to
// compile, where every use of a variable that lives across cells goes through a pointer.
type generator struct {
	s       *Session
	n       int
	code    *cellCode
	decls   []*Decl
	prelude []*Var
	imports []Import

	src                      string
	importStart, importEnd   int
	preludeStart, preludeEnd int
	varStart, varEnd         int // this cell's package-level var declarations
	injectCtx                bool
	suppressResult           bool

	aliases map[string]string // import path → alias, for types of variables

	file  *ast.File
	tfile *token.File
	pkg   *types.Package
	info  *types.Info

	body        *ast.FuncDecl
	bodyScope   *types.Scope
	preludeObjs map[types.Object]*Var
	qualifiers  map[token.Pos]bool
	resultExpr  ast.Expr

	newVars map[string]*Var
	notes   []string
}

func newGenerator(s *Session, n int, code *cellCode, decls []*Decl, prelude []*Var, imports []Import) *generator {
	return &generator{s: s, n: n, code: code, decls: decls, prelude: prelude, imports: imports,
		aliases: map[string]string{}, newVars: map[string]*Var{}}
}

// alias returns the import alias used for a package named only in variable types.
func (g *generator) alias(path string) string {
	if a, ok := g.aliases[path]; ok {
		return a
	}
	a := fmt.Sprintf("%s%d", aliasPrefix, len(g.aliases)+1)
	g.aliases[path] = a
	return a
}

var qualRE = regexp.MustCompile("\x01([^\x02]*)\x02")

// render writes a stored variable type with this file's import aliases.
func (g *generator) render(t string) string {
	return qualRE.ReplaceAllStringFunc(t, func(m string) string {
		return g.alias(m[1 : len(m)-1])
	})
}

// typePackages lists the import paths a stored variable type refers to.
func typePackages(t string) []string {
	var out []string
	for _, m := range qualRE.FindAllStringSubmatch(t, -1) {
		out = append(out, m[1])
	}
	return out
}

func (g *generator) writeImports(b *strings.Builder) {
	g.writeImportsUsed(b, nil)
}

// writeImportsUsed writes the import block; with used non-nil, imports of names the file
// no longer mentions are left out (rewriting a variable's type to an alias can leave the
// cell's own import of the same package unused, which Go rejects).
func (g *generator) writeImportsUsed(b *strings.Builder, used map[string]bool) {
	b.WriteString("import (\n")
	for _, im := range g.imports {
		if used != nil && im.Name != "." && im.Name != "_" && !used[im.Name] {
			continue
		}
		if im.Alias {
			fmt.Fprintf(b, "\t%s %q\n", im.Name, im.Path)
		} else {
			fmt.Fprintf(b, "\t%q\n", im.Path)
		}
	}
	fmt.Fprintf(b, "\t%s %q\n", rtAlias, CellRuntimePath)
	paths := slices.Sorted(maps.Keys(g.aliases))
	for _, p := range paths {
		fmt.Fprintf(b, "\t%s %q\n", g.aliases[p], p)
	}
	b.WriteString(")\n")
}

// checkSource writes the file that is type-checked.
func (g *generator) checkSource() string {
	var b strings.Builder
	b.WriteString("package main\n\n")
	// Variable types are rendered first so their aliases are known when imports are written.
	var prelude strings.Builder
	prelude.WriteString("\n//line gostudy-prelude:1\n")
	fmt.Fprintf(&prelude, "var _ = %s.Context\n", rtAlias)
	for _, v := range g.prelude {
		fmt.Fprintf(&prelude, "var %s %s\n", v.Name, g.render(v.Type))
	}
	g.injectCtx = !g.declares("ctx")
	if g.injectCtx {
		fmt.Fprintf(&prelude, "var ctx = %s.Context()\n", rtAlias)
	}
	g.importStart = b.Len()
	g.writeImports(&b)
	g.importEnd = b.Len()
	g.preludeStart = b.Len()
	b.WriteString(prelude.String())
	g.preludeEnd = b.Len()
	for _, d := range g.decls {
		b.WriteString(lineDirective(d.File, d.Line, d.Col))
		b.WriteString(d.Text)
		b.WriteString("\n")
	}
	file := CellFile(g.n)
	g.varStart = b.Len()
	for _, seg := range g.code.varDecls {
		b.WriteString(lineDirective(file, seg.Line, seg.Col))
		b.WriteString(seg.Text)
		b.WriteString("\n")
	}
	g.varEnd = b.Len()
	for _, seg := range g.code.initBody {
		b.WriteString("\n//line gostudy-generated:1\nfunc init() {")
		b.WriteString(lineDirective(file, seg.Line, seg.Col))
		b.WriteString(seg.Text)
		b.WriteString(endDirective(file, seg))
		b.WriteString("}\n")
	}
	fmt.Fprintf(&b, "\n//line gostudy-generated:1\nfunc %s() {", bodyFunc)
	for _, seg := range g.code.body {
		b.WriteString(lineDirective(file, seg.Line, seg.Col))
		b.WriteString(seg.Text)
		b.WriteString("\n")
	}
	if n := len(g.code.body); n > 0 {
		if strings.HasSuffix(g.code.body[n-1].Text, ";") {
			g.suppressResult = true
		}
		b.WriteString(endDirective(file, g.code.body[n-1]))
	} else {
		b.WriteString("\n//line gostudy-generated:2\n")
	}
	b.WriteString("}\n")
	g.src = b.String()
	return g.src
}

// declares reports whether a package-level name is taken by a declaration or variable.
func (g *generator) declares(name string) bool {
	if g.code.names[name] {
		return true
	}
	for _, d := range g.decls {
		if slices.Contains(d.Names, name) {
			return true
		}
	}
	return slices.ContainsFunc(g.prelude, func(v *Var) bool { return v.Name == name })
}

func (g *generator) offset(p token.Pos) int { return g.tfile.Offset(p) }

// analyze finds, after type-checking, the body, the variables of earlier cells, the
// qualifiers (for missing imports) and whether the cell ends in an expression to show.
func (g *generator) analyze() {
	g.preludeObjs = map[types.Object]*Var{}
	g.qualifiers = map[token.Pos]bool{}
	byName := map[string]*Var{}
	for _, v := range g.prelude {
		byName[v.Name] = v
	}
	for id, obj := range g.info.Defs {
		if obj == nil {
			continue
		}
		off := g.offset(id.Pos())
		if off >= g.preludeStart && off < g.preludeEnd {
			if v, ok := byName[id.Name]; ok {
				g.preludeObjs[obj] = v
			}
		}
	}
	ast.Inspect(g.file, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok {
				g.qualifiers[id.Pos()] = true
			}
		}
		if fd, ok := n.(*ast.FuncDecl); ok && fd.Name.Name == bodyFunc && fd.Recv == nil {
			g.body = fd
		}
		return true
	})
	if g.body == nil {
		return
	}
	g.bodyScope = g.info.Scopes[g.body.Type]
	if list := g.body.Body.List; len(list) > 0 {
		if es, ok := list[len(list)-1].(*ast.ExprStmt); ok {
			tv, ok := g.info.Types[es.X]
			switch {
			case !ok:
			case tv.Type == nil:
			case tv.IsValue():
				// Only single values become the result: a call such as fmt.Println returns
				// (n, err), which nobody wants printed after every print; Go discards the
				// results of a call statement too.
				if _, tuple := tv.Type.(*types.Tuple); !tuple {
					g.resultExpr = es.X
				}
			}
		}
	}
}

func (g *generator) isQualifier(p token.Pos) bool { return g.qualifiers[p] }

// selectorUses returns, for each name, the selectors used after it ("fmt" → ["Println"]).
func (g *generator) selectorUses(names []string) map[string][]string {
	out := map[string][]string{}
	ast.Inspect(g.file, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && slices.Contains(names, id.Name) {
				out[id.Name] = append(out[id.Name], sel.Sel.Name)
			}
		}
		return true
	})
	return out
}

// isBodyVar reports whether obj is a variable declared at the top level of the cell's body:
// such variables live across cells.
func (g *generator) isBodyVar(obj types.Object) bool {
	_, ok := obj.(*types.Var)
	return ok && g.bodyScope != nil && obj.Parent() == g.bodyScope
}

// ignorable reports type errors that the rewrite makes disappear: top-level variables of
// the body that are "declared and not used" (later cells use them), and the final
// expression that "is not used" (it becomes the cell's result).
func (g *generator) ignorable(te types.Error) bool {
	if g.resultExpr != nil && te.Pos >= g.resultExpr.Pos() && te.Pos < g.resultExpr.End() && strings.Contains(te.Msg, "is not used") {
		return true
	}
	if strings.HasPrefix(te.Msg, "declared and not used") {
		for id, obj := range g.info.Defs {
			if id.Pos() == te.Pos && obj != nil && g.isBodyVar(obj) {
				return true
			}
		}
	}
	return false
}

// edit replaces src[start:end] with text; start == end inserts.
type edit struct {
	start, end int
	text       string
	seq        int
}

// finalSource rewrites the checked file into the one that is compiled, and returns it with
// the import paths it uses.
func (g *generator) finalSource() (string, []string, error) {
	var edits []edit
	add := func(start, end int, text string) {
		edits = append(edits, edit{start, end, text, len(edits)})
	}
	edited := map[token.Pos]bool{}
	pkgVars := map[types.Object]string{}  // package-level variables declared by this cell
	bodyVars := map[types.Object]string{} // top-level body variables that live across cells
	var newBodyDecls []string             // "gostudyN_x *T" declarations
	var publishAtStart []string

	// Package-level var declarations of this cell: each becomes a pointer initialized once,
	// when the cell's plugin is loaded, by a closure holding the original initializer.
	for _, d := range g.file.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		if off := g.offset(gd.Pos()); off < g.varStart || off >= g.varEnd {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			objs, ok := g.specVars(vs.Names)
			if !ok {
				continue
			}
			var lhs, ptrs, locals, addrs []string
			for i, id := range vs.Names {
				if id.Name == "_" {
					locals = append(locals, "_")
					continue
				}
				obj := objs[i]
				tstr := g.typeSource(obj.Type())
				lhs = append(lhs, newPrefix+id.Name)
				ptrs = append(ptrs, "*"+tstr)
				locals = append(locals, localPrefix+id.Name)
				addrs = append(addrs, "&"+localPrefix+id.Name)
				pkgVars[obj] = id.Name
				publishAtStart = append(publishAtStart, id.Name)
				g.registerVar(id.Name, obj.Type())
			}
			if len(lhs) == 0 {
				continue
			}
			if len(vs.Values) == 0 {
				var news []string
				for _, p := range ptrs {
					news = append(news, "new("+p[1:]+")")
				}
				add(g.offset(vs.Pos()), g.offset(vs.End()), strings.Join(lhs, ", ")+" = "+strings.Join(news, ", "))
				continue
			}
			var decl strings.Builder
			fmt.Fprintf(&decl, "%s = func() (%s) { ", strings.Join(lhs, ", "), strings.Join(ptrs, ", "))
			for i, id := range vs.Names {
				if id.Name != "_" {
					fmt.Fprintf(&decl, "var %s %s; ", localPrefix+id.Name, g.typeSource(objs[i].Type()))
				}
			}
			fmt.Fprintf(&decl, "%s = ", strings.Join(locals, ", "))
			add(g.offset(vs.Names[0].Pos()), g.offset(vs.Values[0].Pos()), decl.String())
			add(g.offset(vs.Values[len(vs.Values)-1].End()), g.offset(vs.Values[len(vs.Values)-1].End()),
				"; return "+strings.Join(addrs, ", ")+" }()")
		}
	}

	// Top-level statements of the body that declare variables.
	if g.body != nil {
		for _, stmt := range g.body.Body.List {
			switch st := stmt.(type) {
			case *ast.AssignStmt:
				if st.Tok != token.DEFINE {
					continue
				}
				var ids []*ast.Ident
				for _, e := range st.Lhs {
					id, _ := e.(*ast.Ident)
					ids = append(ids, id)
				}
				objs, ok := g.specVars(ids)
				if !ok {
					g.keepLocal(ids, st.End(), add)
					continue
				}
				var pre, post strings.Builder
				for i, id := range ids {
					if id == nil || id.Name == "_" {
						continue
					}
					obj := objs[i]
					bodyVars[obj] = id.Name
					edited[id.Pos()] = true
					add(g.offset(id.Pos()), g.offset(id.End()), "(*"+newPrefix+id.Name+")")
					if g.info.Defs[id] != nil { // newly declared here (not a redeclaration)
						t := g.typeSource(obj.Type())
						newBodyDecls = append(newBodyDecls, newPrefix+id.Name+" *"+t)
						fmt.Fprintf(&pre, "%s = new(%s); ", newPrefix+id.Name, t)
						fmt.Fprintf(&post, "; %s.Publish(%q, %s)", rtAlias, id.Name, newPrefix+id.Name)
						g.registerVar(id.Name, obj.Type())
					}
				}
				add(g.offset(st.Pos()), g.offset(st.Pos()), pre.String())
				add(g.offset(st.TokPos), g.offset(st.TokPos)+2, "=")
				add(g.offset(st.End()), g.offset(st.End()), post.String())
			case *ast.DeclStmt:
				gd, ok := st.Decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.VAR {
					continue
				}
				allOK := true
				for _, spec := range gd.Specs {
					if _, ok := g.specVars(spec.(*ast.ValueSpec).Names); !ok {
						allOK = false
					}
				}
				if !allOK {
					for _, spec := range gd.Specs {
						g.keepLocal(spec.(*ast.ValueSpec).Names, st.End(), add)
					}
					continue
				}
				add(g.offset(gd.TokPos), g.offset(gd.TokPos)+3, "")
				if gd.Lparen.IsValid() {
					add(g.offset(gd.Lparen), g.offset(gd.Lparen)+1, " ")
					add(g.offset(gd.Rparen), g.offset(gd.Rparen)+1, " ")
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					objs, _ := g.specVars(vs.Names)
					var news, lhs, alloc []string
					var post strings.Builder
					for i, id := range vs.Names {
						if id.Name == "_" {
							lhs = append(lhs, "_")
							continue
						}
						obj := objs[i]
						t := g.typeSource(obj.Type())
						bodyVars[obj] = id.Name
						newBodyDecls = append(newBodyDecls, newPrefix+id.Name+" *"+t)
						alloc = append(alloc, newPrefix+id.Name)
						news = append(news, "new("+t+")")
						lhs = append(lhs, "(*"+newPrefix+id.Name+")")
						fmt.Fprintf(&post, "; %s.Publish(%q, %s)", rtAlias, id.Name, newPrefix+id.Name)
						g.registerVar(id.Name, obj.Type())
					}
					head := ""
					if len(alloc) > 0 {
						head = strings.Join(alloc, ", ") + " = " + strings.Join(news, ", ")
					}
					if len(vs.Values) == 0 {
						add(g.offset(vs.Pos()), g.offset(vs.End()), head)
					} else {
						if head != "" {
							head += "; "
						}
						add(g.offset(vs.Names[0].Pos()), g.offset(vs.Values[0].Pos()), head+strings.Join(lhs, ", ")+" = ")
					}
					add(g.offset(vs.End()), g.offset(vs.End()), post.String())
				}
			}
		}
	}

	// Every other mention of a variable that lives across cells goes through its pointer.
	for id, obj := range g.info.Uses {
		if edited[id.Pos()] {
			continue
		}
		off := g.offset(id.Pos())
		if off >= g.preludeStart && off < g.preludeEnd {
			continue
		}
		if v, ok := g.preludeObjs[obj]; ok {
			add(off, g.offset(id.End()), "(*"+prevPrefix+v.Name+")")
		} else if name, ok := bodyVars[obj]; ok {
			add(off, g.offset(id.End()), "(*"+newPrefix+name+")")
		} else if name, ok := pkgVars[obj]; ok {
			add(off, g.offset(id.End()), "(*"+newPrefix+name+")")
		}
	}

	if g.resultExpr != nil {
		fn := ".Result("
		if g.suppressResult {
			fn = ".Discard("
		}
		add(g.offset(g.resultExpr.Pos()), g.offset(g.resultExpr.Pos()), rtAlias+fn)
		add(g.offset(g.resultExpr.End()), g.offset(g.resultExpr.End()), ")")
	}

	// The prelude: pointers to earlier variables and to the body's new variables.
	var prelude strings.Builder
	prelude.WriteString("\n//line gostudy-prelude:1\n")
	fmt.Fprintf(&prelude, "var _ = %s.Context\n", rtAlias)
	for _, v := range g.prelude {
		t := g.render(v.Type)
		fmt.Fprintf(&prelude, "var %s = (*%s)(%s.Lookup(%q))\n", prevPrefix+v.Name, t, rtAlias, v.Name)
	}
	for _, d := range newBodyDecls {
		fmt.Fprintf(&prelude, "var %s\n", d)
	}
	if g.injectCtx {
		fmt.Fprintf(&prelude, "var ctx = %s.Context()\n", rtAlias)
	}
	// Imports are written last: rendering types above may have added aliases.
	var imps strings.Builder
	g.writeImports(&imps)
	add(g.preludeStart, g.preludeEnd, prelude.String())
	add(g.importStart, g.importEnd, imps.String())

	sort.SliceStable(edits, func(i, j int) bool {
		if edits[i].start != edits[j].start {
			return edits[i].start < edits[j].start
		}
		ei, ej := edits[i].end == edits[i].start, edits[j].end == edits[j].start
		if ei != ej {
			return ei // insertions before replacements at the same place
		}
		return edits[i].seq < edits[j].seq
	})
	var out strings.Builder
	pos := 0
	for _, e := range edits {
		if e.start < pos {
			return "", nil, fmt.Errorf("internal error: overlapping rewrites at offset %d in cell %d", e.start, g.n)
		}
		out.WriteString(g.src[pos:e.start])
		out.WriteString(e.text)
		pos = e.end
	}
	out.WriteString(g.src[pos:])
	fmt.Fprintf(&out, "\n//line gostudy-generated:1\n// %s runs the cell.\nfunc %s() {\n", cellrt.EntryPoint, cellrt.EntryPoint)
	for _, name := range publishAtStart {
		fmt.Fprintf(&out, "\t%s.Publish(%q, %s)\n", rtAlias, name, newPrefix+name)
	}
	fmt.Fprintf(&out, "\t%s()\n}\n", bodyFunc)

	// The import block is the first edit, so it starts at importStart in the output too.
	final := out.String()
	blockEnd := g.importStart + imps.Len()
	var pruned strings.Builder
	g.writeImportsUsed(&pruned, qualifiersIn(final[blockEnd:]))
	final = final[:g.importStart] + pruned.String() + final[blockEnd:]

	paths := []string{CellRuntimePath}
	for _, im := range g.imports {
		paths = append(paths, im.Path)
	}
	paths = append(paths, slices.Collect(maps.Keys(g.aliases))...)
	slices.Sort(paths)
	return final, slices.Compact(paths), nil
}

// qualifiersIn returns the identifiers that appear right before a "." in Go source.
func qualifiersIn(src string) map[string]bool {
	used := map[string]bool{}
	var sc scanner.Scanner
	fset := token.NewFileSet()
	sc.Init(fset.AddFile("", -1, len(src)), []byte(src), nil, 0)
	prev := ""
	for {
		_, tok, lit := sc.Scan()
		if tok == token.EOF {
			return used
		}
		if tok == token.PERIOD && prev != "" {
			used[prev] = true
		}
		prev = ""
		if tok == token.IDENT {
			prev = lit
		}
	}
}

// specVars returns the objects of declared identifiers and whether all their types can be
// written in a later cell (a variable of a type local to a function, or unexported in
// another package, cannot be kept across cells).
func (g *generator) specVars(ids []*ast.Ident) ([]types.Object, bool) {
	objs := make([]types.Object, len(ids))
	for i, id := range ids {
		if id == nil {
			return nil, false
		}
		if id.Name == "_" {
			continue
		}
		obj := g.info.Defs[id]
		if obj == nil {
			obj = g.info.Uses[id]
		}
		if obj == nil || !g.nameable(obj.Type(), map[types.Type]bool{}) {
			return nil, false
		}
		objs[i] = obj
	}
	return objs, true
}

// keepLocal leaves variables whose type cannot be named outside this cell as ordinary
// locals of the cell, and says so.
func (g *generator) keepLocal(ids []*ast.Ident, end token.Pos, add func(int, int, string)) {
	for _, id := range ids {
		if id == nil || id.Name == "_" || g.info.Defs[id] == nil {
			continue
		}
		add(g.offset(end), g.offset(end), "; _ = "+id.Name)
		g.notes = append(g.notes, fmt.Sprintf("variable %s lives only in this cell: its type %s cannot be named in another cell", id.Name, g.info.Defs[id].Type()))
	}
}

// nameable reports whether t can be written as Go source in a later cell.
func (g *generator) nameable(t types.Type, seen map[types.Type]bool) bool {
	if seen[t] {
		return true
	}
	seen[t] = true
	switch t := t.(type) {
	case *types.Basic:
		return t.Kind() != types.UntypedNil && t.Kind() != types.Invalid
	case *types.Pointer:
		return g.nameable(t.Elem(), seen)
	case *types.Slice:
		return g.nameable(t.Elem(), seen)
	case *types.Array:
		return g.nameable(t.Elem(), seen)
	case *types.Map:
		return g.nameable(t.Key(), seen) && g.nameable(t.Elem(), seen)
	case *types.Chan:
		return g.nameable(t.Elem(), seen)
	case *types.Signature:
		return g.tupleNameable(t.Params(), seen) && g.tupleNameable(t.Results(), seen)
	case *types.Tuple:
		return g.tupleNameable(t, seen)
	case *types.Struct:
		for i := 0; i < t.NumFields(); i++ {
			if !g.nameable(t.Field(i).Type(), seen) {
				return false
			}
		}
		return true
	case *types.Interface:
		for i := 0; i < t.NumExplicitMethods(); i++ {
			if !g.nameable(t.ExplicitMethod(i).Type(), seen) {
				return false
			}
		}
		for i := 0; i < t.NumEmbeddeds(); i++ {
			if !g.nameable(t.EmbeddedType(i), seen) {
				return false
			}
		}
		return true
	case *types.Named:
		if !g.objNameable(t.Obj()) {
			return false
		}
		for i := 0; i < t.TypeArgs().Len(); i++ {
			if !g.nameable(t.TypeArgs().At(i), seen) {
				return false
			}
		}
		return true
	case *types.Alias:
		if !g.objNameable(t.Obj()) {
			return false
		}
		return true
	}
	return false
}

func (g *generator) tupleNameable(t *types.Tuple, seen map[types.Type]bool) bool {
	for i := 0; i < t.Len(); i++ {
		if !g.nameable(t.At(i).Type(), seen) {
			return false
		}
	}
	return true
}

func (g *generator) objNameable(obj *types.TypeName) bool {
	pkg := obj.Pkg()
	if pkg == nil {
		return true // predeclared: error, comparable, any
	}
	if pkg == g.pkg {
		return obj.Parent() == pkg.Scope()
	}
	path := pkg.Path()
	if !obj.Exported() || pkg.Name() == "main" {
		return false
	}
	return !(strings.HasPrefix(path, "internal/") || strings.Contains(path, "/internal/") ||
		strings.HasSuffix(path, "/internal") || strings.Contains(path, "/vendor/"))
}

// typeSource writes t as Go source for this file, adding import aliases as needed.
func (g *generator) typeSource(t types.Type) string {
	return g.render(g.storedType(t))
}

// storedType writes t with \x01path\x02 qualifiers (see Var.Type).
func (g *generator) storedType(t types.Type) string {
	return types.TypeString(t, func(p *types.Package) string {
		if p == g.pkg {
			return ""
		}
		return "\x01" + p.Path() + "\x02"
	})
}

// registerVar records a variable the cell may publish, with the cell types it depends on.
func (g *generator) registerVar(name string, t types.Type) {
	v := &Var{Name: name, Type: g.storedType(t), CellTypes: map[string]string{}, Cell: g.n}
	texts := map[string]string{}
	for _, d := range g.decls {
		for _, n := range d.Names {
			texts[n] = d.Text
		}
	}
	var walk func(types.Type, map[types.Type]bool)
	walk = func(t types.Type, seen map[types.Type]bool) {
		if t == nil || seen[t] {
			return
		}
		seen[t] = true
		switch t := t.(type) {
		case *types.Named:
			if t.Obj().Pkg() == g.pkg {
				v.CellTypes[t.Obj().Name()] = texts[t.Obj().Name()]
				walk(t.Underlying(), seen)
			}
			for i := 0; i < t.TypeArgs().Len(); i++ {
				walk(t.TypeArgs().At(i), seen)
			}
		case *types.Alias:
			if t.Obj().Pkg() == g.pkg {
				v.CellTypes[t.Obj().Name()] = texts[t.Obj().Name()]
			}
			walk(types.Unalias(t), seen)
		case *types.Pointer:
			walk(t.Elem(), seen)
		case *types.Slice:
			walk(t.Elem(), seen)
		case *types.Array:
			walk(t.Elem(), seen)
		case *types.Map:
			walk(t.Key(), seen)
			walk(t.Elem(), seen)
		case *types.Chan:
			walk(t.Elem(), seen)
		case *types.Struct:
			for i := 0; i < t.NumFields(); i++ {
				walk(t.Field(i).Type(), seen)
			}
		case *types.Signature:
			for _, tu := range []*types.Tuple{t.Params(), t.Results()} {
				for i := 0; i < tu.Len(); i++ {
					walk(tu.At(i).Type(), seen)
				}
			}
		}
	}
	walk(t, map[types.Type]bool{})
	g.newVars[name] = v
}

// goimportsResolve asks goimports which packages provide the given names, using the
// selectors the cell uses after each name to choose (rand.Intn → math/rand).
func goimportsResolve(dir string, names []string, uses map[string][]string) []Import {
	var b strings.Builder
	b.WriteString("package main\n\nfunc _() {\n")
	for _, n := range names {
		for _, sel := range uses[n] {
			fmt.Fprintf(&b, "\t_ = %s.%s\n", n, sel)
		}
	}
	b.WriteString("}\n")
	resolveDir := filepath.Join(dir, "internal", "resolve")
	if err := os.MkdirAll(resolveDir, 0o755); err != nil {
		return nil
	}
	out, err := imports.Process(filepath.Join(resolveDir, "resolve.go"), []byte(b.String()), &imports.Options{TabIndent: true, TabWidth: 8})
	if err != nil {
		return nil
	}
	var found []Import
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "import"))
		fields := strings.Fields(line)
		switch {
		case len(fields) == 1 && strings.HasPrefix(fields[0], `"`):
			path, err := strconv.Unquote(fields[0])
			if err == nil {
				name := path[strings.LastIndex(path, "/")+1:]
				if slices.Contains(names, name) {
					found = append(found, Import{Name: name, Path: path})
				}
			}
		case len(fields) == 2 && strings.HasPrefix(fields[1], `"`):
			path, err := strconv.Unquote(fields[1])
			if err == nil && slices.Contains(names, fields[0]) {
				found = append(found, Import{Name: fields[0], Path: path, Alias: true})
			}
		}
	}
	return found
}
