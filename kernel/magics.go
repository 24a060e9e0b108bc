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
	"syscall"

	"github.com/gostudy/gostudy/kernel/internal/compiler"
	"github.com/gostudy/gostudy/kernel/runner"
)

// magicHelp is what %help prints; every magic the kernel knows is listed here.
var magicHelp = []struct{ syntax, text string }{
	{"%%", "separator: lines after it are the cell's body, lines before it are declarations (GoNB syntax)"},
	{"func main() { ... }", "the body of main is run as the cell's body (GoNB syntax)"},
	{"!cmd", "run a shell command in the notebook's directory, streaming its output"},
	{"!*cmd", "run a shell command in the session's Go module (e.g. !*go get example.com/mod@v1.2.3)"},
	{"%env", "list the environment; %env NAME=value (or %env NAME value) sets a variable for the kernel, the runner and later commands"},
	{"%reset", "forget all declarations and variables; %reset name... forgets only those"},
	{"%vars", "list the variables that live across cells"},
	{"%time", "print the wall time of the cell (also %%time on the first line)"},
	{"%test", "run the cell's Test* and Benchmark* functions (verbose, in the runner, with the session's variables)"},
	{"%%writefile [-a] FILE", "write (or append) the rest of the cell to FILE"},
	{"%backend [go|xla:cpu|xla:cuda]", "show the GoMLX backend and devices, or switch backend for later cells"},
	{"%goflags [flags]", "show or set flags for building cells, e.g. %goflags -tags=onnx (restarts the runner)"},
	{"%help", "this list"},
}

// helpText renders magicHelp.
func helpText() string {
	var b strings.Builder
	b.WriteString("gostudy kernel — Go cells with state that lives across cells.\n\n")
	b.WriteString("A cell is Go code: declarations (imports, funcs, types, consts, vars) and statements, in any order.\n")
	b.WriteString("Variables declared at the top level of a cell keep their values in later cells; missing imports are added;\n")
	b.WriteString("the value of a final expression is shown as the cell's result (end it with ; to hide it).\n")
	b.WriteString("`ctx` is the cell's context.Context: it is cancelled when you interrupt the kernel.\n\n")
	width := 0
	for _, m := range magicHelp {
		width = max(width, len(m.syntax))
	}
	for _, m := range magicHelp {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, m.syntax, m.text)
	}
	return b.String()
}

// command runs one magic or shell line.
func (e *Engine) command(ctx context.Context, n int, c compiler.Command, sink Sink) error {
	switch c.Kind {
	case compiler.Shell:
		if sessionGoCommand(c.Args) {
			if err := e.waitReady(ctx); err != nil {
				return &ExecError{Name: "SessionError", Value: err.Error()}
			}
			sink.Stream("stderr", "note: `!"+strings.Fields(c.Args)[0]+" "+strings.Fields(c.Args)[1]+"` runs in this session's module; the project's go.mod is unchanged\n")
			err := e.shell(ctx, c.Args, e.dir, sink)
			e.afterGoGet()
			return err
		}
		return e.shell(ctx, c.Args, e.opts.WorkDir, sink)
	case compiler.SessionShell:
		if err := e.waitReady(ctx); err != nil {
			return &ExecError{Name: "SessionError", Value: err.Error()}
		}
		err := e.shell(ctx, c.Args, e.dir, sink)
		if sessionGoCommand(c.Args) {
			e.afterGoGet()
		}
		return err
	}
	switch c.Name {
	case "help":
		sink.Stream("stdout", helpText())
	case "env":
		return e.env(c.Args, sink)
	case "reset":
		return e.reset(ctx, c.Args, sink)
	case "vars":
		if names := e.Variables(); len(names) > 0 {
			sink.Stream("stdout", strings.Join(names, "\n")+"\n")
		} else {
			sink.Stream("stdout", "no variables\n")
		}
	case "goflags":
		return e.goflags(c.Args, sink)
	case "backend":
		return e.backend(ctx, n, c.Args, sink)
	default:
		return &ExecError{Name: "UnknownMagic", Value: fmt.Sprintf("unknown magic %%%s (line %d); %%help lists them", c.Name, c.Line)}
	}
	return nil
}

// shell runs a command with bash, streaming stdout and stderr; a non-zero exit is an error.
func (e *Engine) shell(ctx context.Context, script, dir string, sink Sink) error {
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = e.goEnv
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return &ExecError{Name: "ShellError", Value: err.Error()}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return &ExecError{Name: "ShellError", Value: err.Error()}
	}
	if err := cmd.Start(); err != nil {
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
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
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
	e.mu.Lock()
	e.goEnv = append(e.goEnv, name+"="+value)
	rc := e.rc
	e.mu.Unlock()
	if rc != nil {
		if err := rc.Send(runner.Command{Op: "setenv", Env: map[string]string{name: value}}); err != nil {
			return &ExecError{Name: "RunnerError", Value: err.Error()}
		}
	}
	sink.Stream("stdout", fmt.Sprintf("%s=%s\n", name, value))
	return nil
}

// reset forgets declarations and variables.
func (e *Engine) reset(ctx context.Context, args string, sink Sink) error {
	if err := e.waitReady(ctx); err != nil {
		return &ExecError{Name: "SessionError", Value: err.Error()}
	}
	names := strings.Fields(args)
	if len(names) == 0 {
		vars := e.sess.VarNames()
		decls, _ := e.sess.Reset()
		// A fresh runner frees the memory the old variables held; it is started now, so the
		// next cell does not wait for it.
		e.killRunner()
		go func() {
			if _, err := e.ensureRunner(context.WithoutCancel(ctx)); err != nil {
				e.log.Warn("runner did not start after %reset", "err", err)
			}
		}()
		sink.Stream("stdout", fmt.Sprintf("reset: forgot %d declarations and %d variables\n", decls, len(vars)))
		return nil
	}
	found := e.sess.Remove(names...)
	e.mu.Lock()
	rc := e.rc
	e.mu.Unlock()
	if rc != nil {
		_ = rc.Send(runner.Command{Op: "drop", Names: found})
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
// session module (the runner must be built with the same flags as the cells it loads).
func (e *Engine) goflags(args string, sink Sink) error {
	args = strings.TrimSpace(args)
	if args == "" {
		sink.Stream("stdout", fmt.Sprintf("GOFLAGS=%q\n", e.opts.GoFlags))
		return nil
	}
	lost := e.killRunner()
	e.opts.GoFlags = args
	e.goEnv = append(e.goEnv, "GOFLAGS="+args) // the last GOFLAGS in the environment wins
	e.ready = make(chan struct{})
	go e.prepare()
	sink.Stream("stdout", fmt.Sprintf("GOFLAGS=%q: the session is rebuilt with them (declarations forgotten%s)\n", args, lostVars(lost)))
	return nil
}

// backend shows or switches the GoMLX backend, by running a small cell in the runner.
func (e *Engine) backend(ctx context.Context, n int, args string, sink Sink) error {
	code := "import gostudy_backend \"github.com/gostudy/gostudy/pkg/backend\"\n"
	if name := strings.TrimSpace(args); name != "" {
		code += fmt.Sprintf("if err := gostudy_backend.Use(%q); err != nil { panic(err) }\n", name)
	}
	code += "fmt.Println(gostudy_backend.Describe())\n"
	return e.runGo(ctx, n, compiler.Parse(code), sink)
}

// writeFile implements %%writefile [-a] FILE.
func (e *Engine) writeFile(m *compiler.CellMagic, sink Sink) error {
	args := strings.Fields(m.Args)
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
	body := m.Body
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
