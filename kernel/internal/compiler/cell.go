// Package compiler turns notebook cells into Go packages that the runner loads as plugins.
//
// A cell is split into commands (magics such as %env, shell lines such as !ls) and Go code.
// The Go code is split into declarations (imports, funcs, methods, types, consts, and vars
// that come before any statement) and a body of statements. Declarations are remembered by
// the Session and emitted again in every later cell, as GoNB does; variables are different:
// they live in the runner and later cells reach them through pointers, so a value computed
// once is never recomputed. See docs/kernel.md for the design and its trade-offs.
package compiler

import (
	"fmt"
	"go/scanner"
	"go/token"
	"strings"
)

// CommandKind says what a command line of a cell is.
type CommandKind int

const (
	// LineMagic is a line that starts with %, e.g. "%env FOO=bar".
	LineMagic CommandKind = iota
	// Shell is a line that starts with ! and runs in the notebook's directory.
	Shell
	// SessionShell is a line that starts with !* and runs in the session's module directory
	// (GoNB's syntax, used for "!*go get ...").
	SessionShell
)

// Command is one magic or shell line of a cell.
type Command struct {
	Kind CommandKind
	Name string // magic name without %, e.g. "env"; empty for shell lines
	Args string // the rest of the line (continuation lines joined)
	Line int    // 1-based line in the cell
}

// CellMagic is a magic that owns the whole cell, written on its first line as %%name.
type CellMagic struct {
	Name string
	Args string
	Kind CellBody // what Body is
	Body string   // the cell after the first line
}

// CellBody says how a whole-cell magic (%%name on a cell's first line) takes the rest of
// the cell.
type CellBody int

const (
	// NotCellMagic means the name is not a whole-cell magic: the line is an ordinary
	// command line.
	NotCellMagic CellBody = iota
	// GoBody means the rest of the cell is Go code, parsed as usual (%%time, %%test).
	GoBody
	// TextBody means the rest of the cell is text the magic takes as it is (%%writefile).
	TextBody
)

// Syntax is what parsing needs from the kernel's table of magics.
type Syntax struct {
	// CellMagic says how the magic %%name takes a cell; nil means there are none.
	CellMagic func(name string) CellBody
}

func (sx Syntax) cellMagic(name string) CellBody {
	if sx.CellMagic == nil {
		return NotCellMagic
	}
	return sx.CellMagic(name)
}

// Parsed is a cell after commands were taken out of it.
type Parsed struct {
	Magic    *CellMagic // non-nil for %%writefile and other whole-cell magics
	Commands []Command
	// Go is the cell with command lines blanked (replaced by spaces), so lines and byte
	// offsets still match the cell's.
	Go string
	// BodyFrom is the 1-based line after a "%%" separator line (everything after it is the
	// body of the cell), or 0 when the cell has no separator.
	BodyFrom int
}

// Parse splits a cell into commands and Go code. "%%" alone on a line is the separator
// between declarations and body; %%name on the first line is a whole-cell magic when sx
// says so.
func (sx Syntax) Parse(src string) Parsed {
	lines := strings.Split(src, "\n")
	if len(lines) > 0 {
		first := strings.TrimSpace(lines[0])
		if strings.HasPrefix(first, "%%") && len(first) > 2 {
			name, args, _ := strings.Cut(first[2:], " ")
			if kind := sx.cellMagic(name); kind != NotCellMagic {
				body := strings.Join(lines[1:], "\n")
				m := &CellMagic{Name: name, Args: strings.TrimSpace(args), Kind: kind, Body: body}
				if kind == TextBody {
					return Parsed{Magic: m}
				}
				// The rest of the cell is parsed as usual, with the first line blanked so
				// line numbers still match.
				p := sx.Parse(strings.Repeat(" ", len(lines[0])) + "\n" + body)
				p.Magic = m
				return p
			}
		}
	}
	var p Parsed
	goLines := make([]string, len(lines))
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		isCmd := (strings.HasPrefix(trimmed, "%") || strings.HasPrefix(trimmed, "!")) &&
			atStatementStart(strings.Join(goLines[:i], "\n"))
		if !isCmd {
			goLines[i] = line
			continue
		}
		// Command lines are blanked with spaces, so offsets in Go still match the cell's.
		goLines[i] = strings.Repeat(" ", len(line))
		if trimmed == "%%" {
			p.BodyFrom = i + 2
			continue
		}
		start := i
		full := trimmed
		for strings.HasSuffix(full, `\`) && i+1 < len(lines) {
			i++
			goLines[i] = strings.Repeat(" ", len(lines[i]))
			full = strings.TrimSuffix(full, `\`) + "\n" + strings.TrimSpace(lines[i])
		}
		c := Command{Line: start + 1}
		switch {
		case strings.HasPrefix(full, "!*"):
			c.Kind, c.Args = SessionShell, strings.TrimSpace(full[2:])
		case strings.HasPrefix(full, "!"):
			c.Kind, c.Args = Shell, strings.TrimSpace(full[1:])
		default:
			name, args, _ := strings.Cut(strings.TrimPrefix(full, "%"), " ")
			c.Kind, c.Name, c.Args = LineMagic, name, strings.TrimSpace(args)
		}
		p.Commands = append(p.Commands, c)
	}
	p.Go = strings.Join(goLines, "\n")
	return p
}

// atStatementStart reports whether Go code that ends with src is at nesting depth 0 and has
// just finished a statement, so a following line that starts with ! or % is a command and
// not, say, the continuation "!done" of a boolean expression split across lines.
func atStatementStart(src string) bool {
	if strings.TrimSpace(src) == "" {
		return true
	}
	var s scanner.Scanner
	fset := token.NewFileSet()
	f := fset.AddFile("", -1, len(src))
	s.Init(f, []byte(src), func(token.Position, string) {}, 0)
	depth := 0
	last := token.SEMICOLON
	for {
		_, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		switch tok {
		case token.LPAREN, token.LBRACE, token.LBRACK:
			depth++
		case token.RPAREN, token.RBRACE, token.RBRACK:
			depth--
		}
		if tok == token.SEMICOLON && lit == "\n" && depth > 0 {
			continue
		}
		last = tok
	}
	return depth <= 0 && last == token.SEMICOLON
}

// tokInfo is one scanned token.
type tokInfo struct {
	pos token.Pos
	tok token.Token
	lit string
}

// SegmentKind classifies a piece of a cell's Go code.
type SegmentKind int

const (
	// ImportSeg is an import declaration.
	ImportSeg SegmentKind = iota
	// DeclSeg is a func, method, type or const declaration, or a var declaration that comes
	// before any statement (package level, so funcs of the same cell can use it).
	DeclSeg
	// StmtSeg is a statement of the cell's body.
	StmtSeg
)

// Segment is a contiguous piece of a cell's Go code.
type Segment struct {
	Kind SegmentKind
	Tok  token.Token // IMPORT, FUNC, TYPE, CONST, VAR for declarations
	Line int         // 1-based line in the cell where the segment starts
	Col  int         // 1-based column of that start
	Off  int         // byte offset of the start in the cell
	Text string
}

// Split cuts the Go code of a parsed cell into segments. Code after the "%%" separator is
// all body, as in GoNB. Split does not need the code to be valid: a syntax error ends up in
// one of the segments and is reported when that segment is parsed.
func Split(p Parsed) []Segment {
	src := p.Go
	fset := token.NewFileSet()
	file := fset.AddFile("", -1, len(src))
	var s scanner.Scanner
	s.Init(file, []byte(src), func(token.Position, string) {}, scanner.ScanComments)

	var toks []tokInfo
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		if tok == token.COMMENT {
			continue
		}
		toks = append(toks, tokInfo{pos, tok, lit})
	}

	var segs []Segment
	sawStatement := false
	i := 0
	for i < len(toks) {
		if toks[i].tok == token.SEMICOLON {
			i++
			continue
		}
		startTok := i
		line := file.Line(toks[i].pos)
		kind := StmtSeg
		inBody := p.BodyFrom > 0 && line >= p.BodyFrom
		if !inBody {
			switch toks[i].tok {
			case token.IMPORT:
				kind = ImportSeg
			case token.TYPE, token.CONST:
				kind = DeclSeg
			case token.VAR:
				if !sawStatement || (p.BodyFrom > 0 && line < p.BodyFrom) {
					kind = DeclSeg
				}
			case token.FUNC:
				if isFuncDecl(toks, i) {
					kind = DeclSeg
				}
			}
		}
		// Find the end of this statement or declaration: the next semicolon at depth 0.
		depth := 0
		j := i
		for ; j < len(toks); j++ {
			switch toks[j].tok {
			case token.LPAREN, token.LBRACE, token.LBRACK:
				depth++
			case token.RPAREN, token.RBRACE, token.RBRACK:
				depth--
			}
			if toks[j].tok == token.SEMICOLON && depth <= 0 {
				break
			}
		}
		startOff := file.Offset(toks[startTok].pos)
		var endOff int
		if j < len(toks) {
			endOff = file.Offset(toks[j].pos)
			if toks[j].lit == "\n" || toks[j].lit == "" {
				// automatic semicolon: its position is the end of the line or EOF
			} else {
				endOff++ // keep an explicit ";" with the statement (it suppresses the result)
			}
		} else {
			endOff = len(src)
		}
		if endOff > len(src) {
			endOff = len(src)
		}
		// Doc comments directly above a declaration belong to it.
		startOff = extendOverComments(src, startOff)
		text := strings.TrimRight(src[startOff:endOff], " \t\r\n")
		pos := file.Pos(startOff)
		segs = append(segs, Segment{
			Kind: kind,
			Tok:  toks[startTok].tok,
			Line: file.Line(pos),
			Col:  int(startOff - lineStart(src, startOff) + 1),
			Off:  startOff,
			Text: text,
		})
		if kind == StmtSeg {
			sawStatement = true
		}
		i = j + 1
	}
	return segs
}

// isFuncDecl tells a declaration "func name(" or "func (recv T) name(" from a function
// literal at the start of a statement, such as "func() { ... }()".
func isFuncDecl(toks []tokInfo, i int) bool {
	if i+1 >= len(toks) {
		return false
	}
	if toks[i+1].tok == token.IDENT {
		return true
	}
	if toks[i+1].tok != token.LPAREN {
		return false
	}
	depth := 0
	for j := i + 1; j < len(toks); j++ {
		switch toks[j].tok {
		case token.LPAREN:
			depth++
		case token.RPAREN:
			depth--
			if depth == 0 {
				return j+2 < len(toks) && toks[j+1].tok == token.IDENT &&
					(toks[j+2].tok == token.LPAREN || toks[j+2].tok == token.LBRACK)
			}
		}
	}
	return false
}

func lineStart(src string, off int) int {
	return strings.LastIndexByte(src[:off], '\n') + 1
}

// extendOverComments moves a segment's start up over the line comments right above it,
// when the segment starts its line.
func extendOverComments(src string, off int) int {
	ls := lineStart(src, off)
	if strings.TrimSpace(src[ls:off]) != "" {
		return off
	}
	start := ls
	for start > 0 {
		prevEnd := start - 1 // the '\n' ending the previous line
		prevStart := lineStart(src, prevEnd)
		prev := strings.TrimSpace(src[prevStart:prevEnd])
		if !strings.HasPrefix(prev, "//") {
			break
		}
		start = prevStart
	}
	if start == ls {
		return off
	}
	// Start at the first comment's text, keeping its indentation out.
	return start + len(src[start:]) - len(strings.TrimLeft(src[start:], " \t"))
}

// lineDirective returns a //line directive that makes the next line report as line of
// cell n, column col. The column is always written: a directive without one leaves the
// columns of every following line unknown, and errors would show none.
func lineDirective(file string, line, col int) string {
	return fmt.Sprintf("\n//line %s:%d:%d\n", file, line, max(col, 1))
}

// End returns the cell position just after the segment's text.
func (s Segment) End() (line, col int) {
	nl := strings.Count(s.Text, "\n")
	if nl == 0 {
		return s.Line, s.Col + len(s.Text)
	}
	return s.Line + nl, len(s.Text) - strings.LastIndexByte(s.Text, '\n')
}

// endDirective returns a //line directive placing what follows (the closing brace the
// generator adds) just after seg, so a syntax error there ("x := " with nothing after it)
// is reported at the end of the cell's code rather than in generated code.
func endDirective(file string, seg Segment) string {
	line, col := seg.End()
	return lineDirective(file, line, col)
}

// CellFile is the file name compile errors and stack traces use for cell n.
func CellFile(n int) string { return fmt.Sprintf("In[%d]", n) }
