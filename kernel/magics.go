package kernel

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/gostudy/gostudy/kernel/internal/compiler"
	"github.com/gostudy/gostudy/kernel/internal/reaper"
	"github.com/gostudy/gostudy/kernel/runner"
)

// magic is one entry of the kernel's table of magics. The table drives everything about
// them: parsing (which %%names take the whole cell), dispatch, completion and %help.
type magic struct {
	name string // without % or %%
	args string // the arguments, as %help shows them
	help string
	line bool              // may be written %name on a line of its own
	cell compiler.CellBody // how %%name on a cell's first line takes the cell (NotCellMagic: it does not)
	// run does the magic: args is the rest of its line, body the rest of the cell (cell form).
	run func(e *Engine, x *execution, args, body string) error
}

// magics is the table; see magic. It is filled in init because %help reads it.
var magics []magic

func init() {
	magics = []magic{
		{name: "env", args: "[NAME=value]", line: true,
			help: "list the environment; %env NAME=value (or %env NAME value) sets a variable for the kernel, the runner and later commands",
			run:  func(e *Engine, x *execution, args, _ string) error { return e.env(args, x.sink) }},
		{name: "reset", args: "[name...]", line: true,
			help: "forget all declarations and variables; %reset name... forgets only those",
			run:  func(e *Engine, x *execution, args, _ string) error { return e.reset(x.ctx, args, x.sink) }},
		{name: "vars", line: true,
			help: "list the variables that live across cells",
			run:  func(e *Engine, x *execution, _, _ string) error { return e.vars(x.sink) }},
		{name: "time", line: true, cell: compiler.GoBody,
			help: "print the wall time of the cell, and how much of it compiling and running took (also %%time on the first line)",
			run:  func(_ *Engine, x *execution, _, _ string) error { x.timed = true; return nil }},
		{name: "test", line: true, cell: compiler.GoBody,
			help: "run the cell's Test* and Benchmark* functions (verbose, in the runner, with the session's variables)",
			run:  func(_ *Engine, x *execution, _, _ string) error { x.test = true; return nil }},
		{name: "writefile", args: "[-a] FILE", cell: compiler.TextBody,
			help: "write (or append, with -a) the rest of the cell to FILE",
			run:  func(e *Engine, x *execution, args, body string) error { return e.writeFile(args, body, x.sink) }},
		{name: "backend", args: "[go|xla:cpu|xla:cuda]", line: true,
			help: "show the GoMLX backend and devices, or switch backend for later cells",
			run:  func(e *Engine, x *execution, args, _ string) error { return e.backend(x, args) }},
		{name: "goflags", args: "[flags]", line: true,
			help: "show or set flags for building cells, e.g. %goflags -tags=onnx (restarts the runner)",
			run:  func(e *Engine, x *execution, args, _ string) error { return e.goflags(args, x.sink) }},
		{name: "help", line: true,
			help: "this list",
			run: func(_ *Engine, x *execution, _, _ string) error {
				x.sink.Stream("stdout", helpText(helpWidth))
				return nil
			}},
	}
}

// cellSyntax tells the compiler which magics take a whole cell, from the table.
var cellSyntax = compiler.Syntax{CellMagic: func(name string) compiler.CellBody {
	if m, ok := findMagic(name); ok {
		return m.cell
	}
	return compiler.NotCellMagic
}}

func findMagic(name string) (magic, bool) {
	i := slices.IndexFunc(magics, func(m magic) bool { return m.name == name })
	if i < 0 {
		return magic{}, false
	}
	return magics[i], true
}

// cellMagic returns the magic of a parsed %%name line (the parser only makes one for names
// the table gives a cell form).
func cellMagic(name string) magic {
	m, _ := findMagic(name)
	return m
}

// magicCompletions lists the magic words that start with prefix ("%" or "%%" included).
func magicCompletions(prefix string) []string {
	var out []string
	for _, m := range magics {
		if m.line && strings.HasPrefix("%"+m.name, prefix) {
			out = append(out, "%"+m.name)
		}
		if m.cell != compiler.NotCellMagic && strings.HasPrefix("%%"+m.name, prefix) {
			out = append(out, "%%"+m.name)
		}
	}
	slices.Sort(out)
	return out
}

// syntaxHelp is the cell syntax %help explains besides the magics: it is not dispatched
// by name, so it is not in the table.
var syntaxHelp = []struct{ form, help string }{
	{"%%", "separator: lines after it are the cell's body, lines before it are declarations (GoNB syntax)"},
	{"func main() { ... }", "the body of main is run as the cell's body (GoNB syntax)"},
	{"!cmd", "run a shell command in the notebook's directory, streaming its output"},
	{"!*cmd", "run a shell command in the session's Go module (e.g. !*go get example.com/mod@v1.2.3)"},
}

// helpWidth is the width %help wraps its text to (a notebook output area at its default
// font size shows about 100 columns).
const helpWidth = 100

// helpText renders %help: an introduction, the syntax, then every magic of the table,
// wrapped at word boundaries to width columns.
func helpText(width int) string {
	var b strings.Builder
	intro := "gostudy kernel — Go cells with state that lives across cells. " +
		"A cell is Go code: declarations (imports, funcs, types, consts, vars) and statements, in any order. " +
		"Variables declared at the top level of a cell keep their values in later cells; missing imports are added; " +
		"the value of a final expression is shown as the cell's result (end it with ; to hide it). " +
		"`ctx` is the cell's context.Context: it is cancelled when you interrupt the kernel."
	for _, l := range wrapWords(intro, width) {
		b.WriteString(l + "\n")
	}
	type row struct{ form, help string }
	var rows []row
	for _, s := range syntaxHelp {
		rows = append(rows, row{s.form, s.help})
	}
	for _, m := range magics {
		var forms []string
		if m.line {
			forms = append(forms, "%"+m.name)
		}
		if m.cell != compiler.NotCellMagic {
			forms = append(forms, "%%"+m.name)
		}
		form := strings.Join(forms, ", ")
		if m.args != "" {
			form += " " + m.args
		}
		rows = append(rows, row{form, m.help})
	}
	col := 0
	for _, r := range rows {
		col = max(col, utf8.RuneCountInString(r.form))
	}
	indent := 2 + col + 2
	for _, r := range rows {
		lines := wrapWords(r.help, max(width-indent, 20))
		fmt.Fprintf(&b, "\n  %-*s  %s", col, r.form, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(&b, "\n%s%s", strings.Repeat(" ", indent), l)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// wrapWords breaks text into lines of at most width runes, at spaces; a word longer than
// width gets a line of its own.
func wrapWords(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		switch {
		case line == "":
			line = w
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	return append(lines, line)
}

// command runs one magic or shell line.
func (e *Engine) command(x *execution, c compiler.Command) error {
	switch c.Kind {
	case compiler.Shell:
		if sessionGoCommand(c.Args) {
			st, err := e.waitSession(x.ctx)
			if err != nil {
				return &ExecError{Name: "SessionError", Value: err.Error()}
			}
			f := strings.Fields(c.Args)
			x.sink.Stream("stderr", "note: `!"+f[0]+" "+f[1]+"` runs in this session's module; the project's go.mod is unchanged\n")
			err = e.shell(x.ctx, c.Args, e.dir, x.sink)
			e.afterGoGet(st)
			return err
		}
		return e.shell(x.ctx, c.Args, e.opts.WorkDir, x.sink)
	case compiler.SessionShell:
		st, err := e.waitSession(x.ctx)
		if err != nil {
			return &ExecError{Name: "SessionError", Value: err.Error()}
		}
		err = e.shell(x.ctx, c.Args, e.dir, x.sink)
		if sessionGoCommand(c.Args) {
			e.afterGoGet(st)
		}
		return err
	}
	m, ok := findMagic(c.Name)
	switch {
	case ok && m.line:
		return m.run(e, x, c.Args, "")
	case ok:
		return &ExecError{Name: "UnknownMagic", Value: fmt.Sprintf("%%%s (line %d) takes the whole cell: write %%%%%s on the cell's first line", c.Name, c.Line, c.Name)}
	}
	return &ExecError{Name: "UnknownMagic", Value: fmt.Sprintf("unknown magic %%%s (line %d); %%help lists them", c.Name, c.Line)}
}

// vars lists the variables that live across cells.
func (e *Engine) vars(sink Sink) error {
	if names := e.Variables(); len(names) > 0 {
		sink.Stream("stdout", strings.Join(names, "\n")+"\n")
	} else {
		sink.Stream("stdout", "no variables\n")
	}
	return nil
}

// shell runs a command with bash, streaming stdout and stderr; a non-zero exit is an error.
func (e *Engine) shell(ctx context.Context, script, dir string, sink Sink) error {
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = e.environ()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return &ExecError{Name: "ShellError", Value: err.Error()}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return &ExecError{Name: "ShellError", Value: err.Error()}
	}
	if err := reaper.Start(cmd); err != nil {
		return &ExecError{Name: "ShellError", Value: fmt.Sprintf("start %q: %v", script, err)}
	}
	e.mu.Lock()
	e.shells[cmd] = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.shells, cmd)
		e.mu.Unlock()
	}()
	var wg sync.WaitGroup
	for name, r := range map[string]io.Reader{"stdout": stdout, "stderr": stderr} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 32<<10)
			for {
				k, err := r.Read(buf)
				if k > 0 {
					sink.Stream(name, string(buf[:k]))
				}
				if err != nil {
					return
				}
			}
		}()
	}
	done := make(chan error, 1)
	go func() {
		wg.Wait()
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			return &ExecError{Name: "ShellError", Value: fmt.Sprintf("!%s: %v", script, err)}
		}
		return nil
	case <-ctx.Done():
		reaper.Kill(cmd.Process.Pid)
		<-done
		return &ExecError{Name: "Interrupted", Value: fmt.Sprintf("!%s was interrupted", script)}
	}
}

// env lists or sets environment variables in the kernel and the runner.
func (e *Engine) env(args string, sink Sink) error {
	args = strings.TrimSpace(args)
	if args == "" {
		env := os.Environ()
		slices.Sort(env)
		sink.Stream("stdout", strings.Join(env, "\n")+"\n")
		return nil
	}
	name, value, ok := strings.Cut(args, "=")
	if !ok {
		name, value, ok = strings.Cut(args, " ")
	}
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || name == "" {
		return &ExecError{Name: "UsageError", Value: "usage: %env NAME=value"}
	}
	if err := os.Setenv(name, value); err != nil {
		return &ExecError{Name: "UsageError", Value: fmt.Sprintf("%%env %s: %v", name, err)}
	}
	e.setEnv(name + "=" + value)
	e.mu.Lock()
	rc := e.rc
	e.mu.Unlock()
	if rc != nil {
		if err := rc.Send(runner.Command{Op: runner.OpSetenv, Env: map[string]string{name: value}}); err != nil {
			return &ExecError{Name: "RunnerError", Value: err.Error()}
		}
	}
	sink.Stream("stdout", fmt.Sprintf("%s=%s\n", name, value))
	return nil
}

// reset forgets declarations and variables.
func (e *Engine) reset(ctx context.Context, args string, sink Sink) error {
	st, err := e.waitSession(ctx)
	if err != nil {
		return &ExecError{Name: "SessionError", Value: err.Error()}
	}
	names := strings.Fields(args)
	if len(names) == 0 {
		vars := st.comp.VarNames()
		decls, _ := st.comp.Reset()
		// A fresh runner frees the memory the old variables held; it is started now, so the
		// next cell does not wait for it.
		e.killRunner()
		go func() {
			if _, err := e.ensureRunner(context.WithoutCancel(ctx), st); err != nil {
				e.log.Warn("runner did not start after %reset", "err", err)
			}
		}()
		sink.Stream("stdout", fmt.Sprintf("reset: forgot %d declarations and %d variables\n", decls, len(vars)))
		return nil
	}
	found := st.comp.Remove(names...)
	e.mu.Lock()
	rc := e.rc
	e.mu.Unlock()
	if rc != nil {
		_ = rc.Send(runner.Command{Op: runner.OpDrop, Names: found})
	}
	var missing []string
	for _, n := range names {
		if !slices.Contains(found, n) {
			missing = append(missing, n)
		}
	}
	msg := "reset: forgot " + strings.Join(found, ", ")
	if len(found) == 0 {
		msg = "reset: nothing forgotten"
	}
	if len(missing) > 0 {
		msg += " (unknown: " + strings.Join(missing, ", ") + ")"
	}
	sink.Stream("stdout", msg+"\n")
	return nil
}

// goflags shows or changes the flags used to build cells; changing them prepares a new
// session (the runner must be built with the same flags as the cells it loads).
func (e *Engine) goflags(args string, sink Sink) error {
	args = strings.TrimSpace(args)
	if args == "" {
		sink.Stream("stdout", fmt.Sprintf("GOFLAGS=%q\n", e.session().goFlags))
		return nil
	}
	lost := e.killRunner()
	e.setEnv("GOFLAGS=" + args) // the last GOFLAGS in the environment wins
	st := &session{goFlags: args, ready: make(chan struct{})}
	e.mu.Lock()
	old := e.cur
	e.cur = st
	e.mu.Unlock()
	// An old session that never started preparing (the kernel defers that until the front
	// end is connected) is ended, so nothing waits for it; WaitReady then waits for st.
	old.start.Do(func() {
		old.err = errSessionReplaced
		close(old.ready)
	})
	e.dropReplaced(old)
	e.Start()
	sink.Stream("stdout", fmt.Sprintf("GOFLAGS=%q: the session is rebuilt with them (declarations forgotten%s)\n", args, lostVars(lost)))
	return nil
}

// backend shows or switches the GoMLX backend, by running a small cell in the runner. The
// backend's own one-line report when it opens is silenced for it (backend.EnvQuiet), so
// the description is printed once.
func (e *Engine) backend(x *execution, args string) error {
	// All in a function literal: a top-level := would become a variable of the session.
	code := fmt.Sprintf("import gostudy_backend %q\n", ModulePath+"/pkg/backend")
	code += "func() {\n"
	code += "\tquiet, wasQuiet := os.LookupEnv(gostudy_backend.EnvQuiet)\n"
	code += "\tos.Setenv(gostudy_backend.EnvQuiet, \"1\")\n"
	code += "\tdefer func() { if wasQuiet { os.Setenv(gostudy_backend.EnvQuiet, quiet) } else { os.Unsetenv(gostudy_backend.EnvQuiet) } }()\n"
	if name := strings.TrimSpace(args); name != "" {
		code += fmt.Sprintf("\tif err := gostudy_backend.Use(%q); err != nil { panic(err) }\n", name)
	}
	code += "\tfmt.Print(gostudy_backend.Describe())\n"
	code += "}()\n"
	return e.runGo(x, cellSyntax.Parse(code))
}

// writeFile implements %%writefile [-a] FILE.
func (e *Engine) writeFile(argLine, body string, sink Sink) error {
	args := strings.Fields(argLine)
	appendMode := false
	if len(args) > 0 && (args[0] == "-a" || args[0] == "--append") {
		appendMode, args = true, args[1:]
	}
	if len(args) != 1 {
		return &ExecError{Name: "UsageError", Value: "usage: %%writefile [-a] FILE"}
	}
	path := args[0]
	if !filepath.IsAbs(path) {
		path = filepath.Join(e.opts.WorkDir, path)
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	verb := "Writing"
	if appendMode {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
		verb = "Appending to"
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return &ExecError{Name: "WriteError", Value: err.Error()}
	}
	if !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return &ExecError{Name: "WriteError", Value: fmt.Sprintf("write %s: %v", path, err)}
	}
	if err := f.Close(); err != nil {
		return &ExecError{Name: "WriteError", Value: fmt.Sprintf("close %s: %v", path, err)}
	}
	sink.Stream("stdout", fmt.Sprintf("%s %s\n", verb, args[0]))
	return nil
}
