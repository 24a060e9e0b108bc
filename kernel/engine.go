// Package kernel is the gostudy Jupyter kernel: it answers the Jupyter messaging protocol
// (kernel/internal/protocol) by compiling cells (kernel/internal/compiler) and running them in a long-lived
// runner process (kernel/runner), so values persist across cells.
//
// The Engine in this file does the work of executing cells and is independent of Jupyter;
// kernel.go maps protocol requests onto it.
package kernel

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gostudy/gostudy/kernel/internal/compiler"
	"github.com/gostudy/gostudy/kernel/runner"
	"github.com/gostudy/gostudy/pkg/display"
)

// ModulePath is the gostudy module's path.
const ModulePath = "github.com/gostudy/gostudy"

// sessionModule is the module path of the per-session module cells are compiled in.
const sessionModule = "gostudy.session"

// Sink receives what one execution produces.
type Sink interface {
	Stream(name, text string)
	Display(m display.Message)
	Result(data display.Bundle, metadata map[string]any)
	Input(prompt string, password bool) (string, error)
}

// ExecError is a cell that failed: a compile error, a panic, an interrupt, a failed command.
type ExecError struct {
	Name      string
	Value     string
	Traceback []string
}

func (e *ExecError) Error() string { return e.Name + ": " + e.Value }

// EngineOptions configure an Engine.
type EngineOptions struct {
	RepoDir string       // the gostudy module checkout (cells can import its packages)
	WorkDir string       // the notebook's directory: cells and !commands run there
	GoCmd   string       // the go command; "go" when empty
	Log     *slog.Logger // kernel log (stderr of the kernel process)
	// GoFlags are extra flags for the go command (%goflags), e.g. "-tags=onnx".
	GoFlags string
	// Deferred leaves the session unprepared until Start: the kernel answers the front end's
	// first kernel_info_request before the preparation takes the CPU.
	Deferred bool
	// CacheDir is where sessions keep what the next session with the same module graph and
	// toolchain can reuse (see sessioncache.go); empty means $GOSTUDY_CACHE_DIR, else
	// the user's cache folder.
	CacheDir string
	// KeepPlugins, when set, is a folder that receives a copy of every compiled cell
	// (cell<N>-<run>.so) before it runs. The runner deletes a plugin once loaded; the copies
	// let a benchmark replay the same cells in a runner on another machine (a GPU box has
	// no Go toolchain to compile them).
	KeepPlugins string
}

// Engine executes cells for one kernel session.
type Engine struct {
	opts    EngineOptions
	log     *slog.Logger
	dir     string // the session module directory (temporary)
	goEnv   []string
	ready   chan struct{} // closed when the toolchain and runner binary are ready
	initErr error

	tc        *compiler.Toolchain
	sess      *compiler.Session
	runnerBin string
	known     map[string]string // package name → import path, for missing imports
	cache     *sessionCache     // nil when the user's cache folder is unusable
	saved     int               // packages in the cached state (saved again when more are known)
	extld     string            // the linker wrapper plugin links use
	// runnerStamps are the times of the local sources runnerBin was built from.
	runnerStamps map[string]time.Time
	// modChanged: the session module's requirements changed (go get); restartRunner: the
	// runner was rebuilt for them and the running one must be replaced before the next cell.
	modChanged    bool
	restartRunner bool
	// userModule is the path of the Go module the notebook lives in, when it is not the
	// gostudy checkout; its packages are importable and listed for missing imports.
	userModule string

	mu        sync.Mutex
	rc        *runner.Client
	sink      Sink              // where runner output goes now
	done      chan runner.Event // where the end of the running cell goes
	history   map[int]string
	nextID    int
	interrup  chan struct{}
	shells    map[*exec.Cmd]bool
	comm      commState  // comms the runner holds (see comm.go)
	startMu   sync.Mutex // serializes runner starts
	startOnce sync.Once  // Start
}

// NewEngine creates the session module and starts preparing the toolchain and the runner
// in the background, so the kernel can answer kernel_info at once.
func NewEngine(opts EngineOptions) (*Engine, error) {
	if opts.GoCmd == "" {
		opts.GoCmd = "go"
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if opts.WorkDir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("working directory: %w", err)
		}
		opts.WorkDir = wd
	}
	cleanStaleSessions()
	dir, err := os.MkdirTemp("", "gostudy-session-")
	if err != nil {
		return nil, fmt.Errorf("create session directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kernel.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, fmt.Errorf("write session pid file: %w", err)
	}
	e := &Engine{
		opts: opts, log: opts.Log, dir: dir, ready: make(chan struct{}),
		history: map[int]string{}, shells: map[*exec.Cmd]bool{},
	}
	e.goEnv = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=1")
	if opts.GoFlags != "" {
		e.goEnv = append(e.goEnv, "GOFLAGS="+opts.GoFlags)
	}
	if !opts.Deferred {
		e.Start()
	}
	return e, nil
}

// Start starts preparing the session in the background (once; NewEngine calls it unless
// EngineOptions.Deferred).
func (e *Engine) Start() {
	e.startOnce.Do(func() { go e.prepare() })
}

// Dir is the session module directory.
func (e *Engine) Dir() string { return e.dir }

// RunnerBinary is the path of the session's runner executable, once the session is ready
// (after the first cell); the plugins of this session load only into this binary.
func (e *Engine) RunnerBinary() string { return e.runnerBin }

// prepare writes the session module, learns the plugin build flags, builds the runner and
// compiles the packages most cells use.
func (e *Engine) prepare() {
	defer close(e.ready)
	ctx := context.Background()
	start := time.Now()
	e.initErr = e.prepareErr(ctx)
	if e.initErr != nil {
		e.log.Error("session setup failed", "err", e.initErr)
		return
	}
	// Start the runner now, while the front end is still connecting, rather than in the
	// first cell; if it fails, the first cell tries again and reports why.
	if _, err := e.ensureRunner(ctx); err != nil {
		e.log.Warn("runner did not start", "err", err)
	}
	e.log.Info("session ready", "dir", e.dir, "took", time.Since(start).Round(time.Millisecond))
}

func (e *Engine) prepareErr(ctx context.Context) error {
	spec, err := sessionModuleSpec(e.opts.RepoDir, e.opts.WorkDir)
	if err != nil {
		return err
	}
	e.userModule = ""
	if len(spec.Local) > 1 {
		e.userModule = spec.Local[1].Path
	}
	if err := compiler.WriteModule(e.dir, spec); err != nil {
		return err
	}
	runnerDir := filepath.Join(e.dir, "runner")
	if err := os.MkdirAll(runnerDir, 0o755); err != nil {
		return fmt.Errorf("create runner package: %w", err)
	}
	if err := os.WriteFile(filepath.Join(runnerDir, "main.go"), []byte(runnerSource), 0o644); err != nil {
		return fmt.Errorf("write runner package: %w", err)
	}
	cache, err := openSessionCache(ctx, e.opts.CacheDir, e.opts.GoCmd, e.dir, e.goEnv)
	if err != nil {
		e.log.Warn("no session cache", "err", err)
	}
	e.cache = cache
	if cache != nil {
		err := e.restore(ctx, cache)
		if err == nil {
			e.sess = compiler.NewSession(e.tc, e.dir, sessionModule, e.known)
			e.sess.FetchModules = e.fetchModules
			e.log.Info("session restored from the cache", "dir", cache.dir)
			return nil
		}
		e.log.Info("preparing the session from scratch", "why", err)
	}
	if err := e.build(ctx); err != nil {
		return err
	}
	e.sess = compiler.NewSession(e.tc, e.dir, sessionModule, e.known)
	e.sess.FetchModules = e.fetchModules
	e.saveSession()
	return nil
}

// build prepares the session with the go command: the plugin build flags, the runner
// binary, the names of the project's packages and the compiled packages every cell needs.
func (e *Engine) build(ctx context.Context) error {
	tc, err := compiler.NewToolchain(ctx, e.opts.GoCmd, e.dir, e.goEnv)
	if err != nil {
		return err
	}
	linkerDir := e.dir
	if e.cache != nil {
		linkerDir = e.cache.dir
	}
	if extld, err := compiler.WriteLinkerWrapper(ctx, linkerDir, tc.CC(), e.goEnv); err == nil {
		tc.UseLinker(extld)
		e.extld = extld
	} else {
		e.log.Warn("plugin links use the C compiler directly", "err", err)
	}
	e.tc = tc
	var wg sync.WaitGroup
	var buildErr error
	e.runnerBin = filepath.Join(e.dir, "runner.bin")
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := tc.GoCommand(ctx, "build", "-o", e.runnerBin, "./runner"); err != nil {
			buildErr = fmt.Errorf("build the runner: %w", err)
		}
	}()
	known := knownPackages()
	patterns := []string{ModulePath + "/pkg/...", ModulePath + "/datasets/...", ModulePath + "/lessons/..."}
	if e.userModule != "" {
		// The notebook's own module comes first: its names win over the project's.
		patterns = append([]string{e.userModule + "/..."}, patterns...)
	}
	if out, err := tc.GoCommand(ctx, append([]string{"list", "-e", "-f", "{{.Name}} {{.ImportPath}}"}, patterns...)...); err == nil {
		for _, line := range strings.Split(out, "\n") {
			if name, path, ok := strings.Cut(strings.TrimSpace(line), " "); ok && !strings.Contains(path, "/internal") {
				if _, dup := known[name]; !dup {
					known[name] = path
				}
			}
		}
	}
	e.known = known
	// The runner's own packages are listed too, so the cache notices when their sources
	// change (the cached runner binary would then be stale).
	if _, err := tc.Ensure(ctx, []string{"fmt", compiler.CellRuntimePath, sessionModule + "/runner"}); err != nil {
		return err
	}
	wg.Wait()
	if buildErr != nil {
		return buildErr
	}
	e.runnerStamps = tc.LocalStamps([]string{sessionModule + "/runner"})
	return nil
}

// knownPackages are packages cells may use without importing them (besides the standard
// library and the project's own packages, found at start-up).
func knownPackages() map[string]string {
	return map[string]string{
		"graph":     "github.com/gomlx/gomlx/core/graph",
		"tensors":   "github.com/gomlx/gomlx/core/tensors",
		"model":     "github.com/gomlx/gomlx/ml/model",
		"layers":    "github.com/gomlx/gomlx/ml/layers",
		"train":     "github.com/gomlx/gomlx/ml/train",
		"optimizer": "github.com/gomlx/gomlx/ml/train/optimizer",
		"loss":      "github.com/gomlx/gomlx/ml/train/loss",
		"compute":   "github.com/gomlx/compute",
		"dtypes":    "github.com/gomlx/compute/dtypes",
		"shapes":    "github.com/gomlx/compute/shapes",
	}
}

// Warm compiles, in plugin mode, the packages notebooks use most (GoMLX, this project's
// library, datasets and lessons) into the Go build cache, and runs one trivial cell, so a
// user's first cell does not wait for a minute-long first build. Packages that do not
// build are reported and skipped.
func (e *Engine) Warm(ctx context.Context, sink Sink) error {
	if err := e.waitReady(ctx); err != nil {
		return err
	}
	paths := []string{"fmt", "strings", "math", "time", "os", "sort", "errors", "math/rand/v2"}
	for _, p := range knownPackages() {
		paths = append(paths, p)
	}
	paths = append(paths, "github.com/gomlx/gomlx/backends/default")
	out, err := e.tc.GoCommand(ctx, "list", "-e", "-f", "{{if not .Error}}{{if ne .Name \"main\"}}{{.ImportPath}}{{end}}{{end}}",
		ModulePath+"/pkg/...", ModulePath+"/datasets/...", ModulePath+"/lessons/...")
	if err == nil {
		for _, line := range strings.Split(out, "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.Contains(line, "/internal") {
				paths = append(paths, line)
			}
		}
	}
	failed, err := e.tc.Ensure(ctx, paths)
	if err != nil {
		return err
	}
	for p, ferr := range failed {
		sink.Stream("stderr", fmt.Sprintf("warm: skipped %s: %v\n", p, ferr))
	}
	e.saveSession()
	return e.Execute(ctx, 1, `fmt.Println("warm: ready")`, sink)
}

// waitReady blocks until the session is prepared.
func (e *Engine) waitReady(ctx context.Context) error {
	select {
	case <-e.ready:
		return e.initErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ready reports whether set-up finished (without error).
func (e *Engine) Ready() bool {
	select {
	case <-e.ready:
		return e.initErr == nil
	default:
		return false
	}
}

// stream is the runner's output: it forwards to the current execution's sink.
type stream struct{ e *Engine }

func (s stream) Stream(name, text string) {
	sink := s.e.outputSink()
	if sink != nil {
		sink.Stream(name, text)
	} else {
		s.e.log.Info("runner output outside a cell", "stream", name, "text", text)
	}
}

// Event routes a runner event: output to the current sink, the end of a cell to the run
// waiting for it.
func (s stream) Event(ev runner.Event) {
	e := s.e
	e.mu.Lock()
	done := e.done
	rc := e.rc
	e.mu.Unlock()
	sink := e.outputSink()
	switch ev.Ev {
	case "comm":
		if ev.Comm != nil {
			e.commEvent(*ev.Comm)
		}
	case "comm_done":
		e.commDone(ev.ID)
	case "display":
		if sink != nil && ev.Display != nil {
			sink.Display(*ev.Display)
		}
	case "result":
		if sink != nil {
			sink.Result(ev.Data, ev.Metadata)
		}
	case "input":
		go func() {
			c := runner.Command{Op: "input"}
			if sink == nil {
				c.Error = "no cell is running"
			} else if v, err := sink.Input(ev.Prompt, ev.Password); err != nil {
				c.Error = err.Error()
			} else {
				c.Value = v
			}
			if rc != nil {
				_ = rc.Send(c)
			}
		}()
	case "done":
		if done != nil {
			done <- ev
		}
	}
}

// ensureRunner starts the runner if it is not running.
func (e *Engine) ensureRunner(ctx context.Context) (*runner.Client, error) {
	// One start at a time: a runner started ahead of time (after %reset) and a cell must not
	// start two.
	e.startMu.Lock()
	defer e.startMu.Unlock()
	e.mu.Lock()
	rc := e.rc
	e.mu.Unlock()
	if rc != nil {
		select {
		case <-rc.Exited():
		default:
			return rc, nil
		}
	}
	// The comms of a runner that stopped are gone with it.
	e.closeComms()
	env := append(os.Environ(), "GOSTUDY_RUNNER=1", "GOSTUDY_SESSION_DIR="+e.dir)
	rc, err := runner.Start(ctx, e.runnerBin, e.opts.WorkDir, env, stream{e})
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.rc = rc
	e.mu.Unlock()
	return rc, nil
}

// killRunner stops the runner; the variables it held are gone.
func (e *Engine) killRunner() []string {
	e.mu.Lock()
	rc := e.rc
	e.rc = nil
	e.mu.Unlock()
	if rc != nil {
		rc.Kill()
	}
	e.closeComms()
	if e.sess == nil {
		return nil
	}
	return e.sess.ForgetVars()
}

// Close stops the runner and every command the engine started, and removes the session
// directory.
func (e *Engine) Close() {
	e.mu.Lock()
	rc := e.rc
	e.rc = nil
	for c := range e.shells {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
	e.mu.Unlock()
	if rc != nil {
		rc.Close()
	}
	select {
	case <-e.ready:
		// Packages listed during the session (GoMLX, say) are known at once next time.
		if e.initErr == nil && e.tc.Size() > e.saved {
			e.saveSession()
		}
	case <-time.After(30 * time.Second):
		// set-up is still running (a first build): its commands die with the kernel
	}
	if err := os.RemoveAll(e.dir); err != nil {
		e.log.Warn("remove session directory", "dir", e.dir, "err", err)
	}
}

// cleanStaleSessions removes session directories left by kernels that were killed.
func cleanStaleSessions() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "gostudy-session-*"))
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, "kernel.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(d)
		}
	}
}

// Execute runs cell number n. It returns an *ExecError for failures the user should see.
func (e *Engine) Execute(ctx context.Context, n int, code string, sink Sink) error {
	e.mu.Lock()
	e.history[n] = code
	e.sink = sink
	e.mu.Unlock()
	// After the cell, runner output (a goroutine it left, a widget's change function) is no
	// longer the cell's: it goes to the comm message being handled, or the idle sink.
	defer func() {
		e.mu.Lock()
		if e.sink == sink {
			e.sink = nil
		}
		e.mu.Unlock()
	}()

	start := time.Now()
	p := compiler.Parse(code)
	timed := false
	if p.Magic != nil {
		switch p.Magic.Name {
		case "writefile":
			return e.writeFile(p.Magic, sink)
		case "time":
			timed = true
		}
	}
	testCell := p.Magic != nil && p.Magic.Name == "test"
	for _, c := range p.Commands {
		if c.Kind == compiler.LineMagic && c.Name == "time" {
			timed = true
			continue
		}
		if c.Kind == compiler.LineMagic && c.Name == "test" {
			testCell = true
			continue
		}
		if err := e.command(ctx, n, c, sink); err != nil {
			return err
		}
	}
	if testCell {
		p.Go += testRunner(p.Go)
	}
	var err error
	if hasGo(p.Go) {
		err = e.runGo(ctx, n, p, sink)
	}
	if timed {
		sink.Stream("stdout", fmt.Sprintf("Wall time: %s\n", time.Since(start).Round(time.Millisecond)))
	}
	return err
}

var (
	testFuncRE  = regexp.MustCompile(`(?m)^func (Test\w*)\(\s*\w+\s+\*testing\.T\s*\)`)
	benchFuncRE = regexp.MustCompile(`(?m)^func (Benchmark\w*)\(\s*\w+\s+\*testing\.B\s*\)`)
)

// testRunner is the code %test appends to a cell: a call that runs the cell's Test and
// Benchmark functions inside the runner (so they see the session's variables).
func testRunner(src string) string {
	var tests, benches []string
	for _, m := range testFuncRE.FindAllStringSubmatch(src, -1) {
		tests = append(tests, fmt.Sprintf("%q: %s", m[1], m[1]))
	}
	for _, m := range benchFuncRE.FindAllStringSubmatch(src, -1) {
		benches = append(benches, fmt.Sprintf("%q: %s", m[1], m[1]))
	}
	return fmt.Sprintf("\nimport gostudy_tests %q\ngostudy_tests.RunTests(map[string]func(*testing.T){%s}, map[string]func(*testing.B){%s})\n",
		compiler.CellRuntimePath, strings.Join(tests, ", "), strings.Join(benches, ", "))
}

// hasGo reports whether src has any Go tokens (not just blank lines and comments).
func hasGo(src string) bool {
	sc := bufio.NewScanner(strings.NewReader(src))
	inBlock := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		for line != "" {
			if inBlock {
				i := strings.Index(line, "*/")
				if i < 0 {
					line = ""
					break
				}
				inBlock, line = false, strings.TrimSpace(line[i+2:])
				continue
			}
			if strings.HasPrefix(line, "//") {
				line = ""
				break
			}
			if strings.HasPrefix(line, "/*") {
				inBlock, line = true, line[2:]
				continue
			}
			return true
		}
	}
	return false
}

// runGo compiles the cell's Go code and runs it in the runner.
func (e *Engine) runGo(ctx context.Context, n int, p compiler.Parsed, sink Sink) error {
	if err := e.waitReady(ctx); err != nil {
		if ctx.Err() != nil {
			return &ExecError{Name: "Interrupted", Value: "interrupted while the session was being prepared"}
		}
		return &ExecError{Name: "SessionError", Value: err.Error(), Traceback: []string{"the kernel could not prepare its Go session: " + err.Error()}}
	}
	prog, err := e.compile(ctx, n, p)
	if err != nil {
		return err
	}
	for _, note := range prog.Notes {
		sink.Stream("stderr", "note: "+note+"\n")
	}
	e.mu.Lock()
	restart := e.restartRunner
	e.restartRunner = false
	e.mu.Unlock()
	if restart {
		// go get changed packages the old runner loaded: start the rebuilt one, and compile
		// the cell again without the variables the old runner held.
		lost := e.killRunner()
		sink.Stream("stderr", fmt.Sprintf("note: runner restarted for the new module%s\n", lostVars(lost)))
		if prog, err = e.compile(ctx, n, p); err != nil {
			return err
		}
	}
	t := time.Now()
	err = e.run(ctx, prog, sink, true)
	if errors.Is(err, errRunnerRestarted) {
		// The cell was compiled against variables the old runner held; compile it again
		// without them (a cell that uses one now says it is undefined) and run it once more.
		if prog, err = e.compile(context.WithoutCancel(ctx), n, p); err != nil {
			return err // no program to log: a cell that used a lost variable no longer compiles
		}
		err = e.run(context.WithoutCancel(ctx), prog, sink, false)
	}
	e.log.Info("cell", "n", n, "packages", prog.Timings.Packages.Round(time.Millisecond),
		"check", prog.Timings.Check.Round(time.Millisecond), "build", prog.Timings.Build.Round(time.Millisecond),
		"compile", prog.Timings.Compile.Round(time.Millisecond), "link", prog.Timings.Link.Round(time.Millisecond),
		"run", time.Since(t).Round(time.Millisecond))
	return err
}

// compile compiles cell n, turning failures into the cell's error.
func (e *Engine) compile(ctx context.Context, n int, p compiler.Parsed) (*compiler.Program, error) {
	prog, err := e.sess.Compile(ctx, n, p)
	if err == nil {
		return prog, nil
	}
	var ce *compiler.CompileError
	if errors.As(err, &ce) {
		lines := ce.Format(n, e.source(n))
		return nil, &ExecError{Name: "CompileError", Value: ce.Diagnostics[0].String(), Traceback: lines}
	}
	if ctx.Err() != nil {
		return nil, &ExecError{Name: "Interrupted", Value: "compilation was interrupted"}
	}
	return nil, &ExecError{Name: "BuildError", Value: err.Error(), Traceback: strings.Split(err.Error(), "\n")}
}

// errRunnerRestarted is run's answer when the runner could not load a cell because a
// package it had loaded was rebuilt: the runner was restarted, and the cell must be compiled
// again without the variables the old runner held.
var errRunnerRestarted = errors.New("the runner was restarted to load a changed package")

// run sends a compiled program to the runner and forwards its events until it is done.
func (e *Engine) run(ctx context.Context, prog *compiler.Program, sink Sink, retry bool) error {
	rc, err := e.ensureRunner(ctx)
	if err != nil {
		return &ExecError{Name: "RunnerError", Value: err.Error()}
	}
	if len(prog.Dropped) > 0 {
		if err := rc.Send(runner.Command{Op: "drop", Names: prog.Dropped}); err != nil {
			return &ExecError{Name: "RunnerError", Value: err.Error()}
		}
	}
	done := make(chan runner.Event, 1)
	e.mu.Lock()
	e.nextID++
	id := e.nextID
	e.done = done
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.done = nil
		e.mu.Unlock()
	}()
	if e.opts.KeepPlugins != "" {
		if err := copyFile(prog.Plugin, filepath.Join(e.opts.KeepPlugins, fmt.Sprintf("cell%d-%d.so", prog.Cell, id))); err != nil {
			return &ExecError{Name: "KeepPluginsError", Value: err.Error()}
		}
	}
	if err := rc.Send(runner.Command{Op: "run", ID: id, Cell: prog.Cell, Plugin: prog.Plugin}); err != nil {
		return e.lost(sink, "the runner stopped before the cell could run")
	}
	interrupted := ctx.Done()
	var grace <-chan time.Time
	for {
		select {
		case ev := <-done:
			if ev.ID != id {
				continue
			}
			e.sess.Published(prog, ev.Published)
			if ev.Error != nil {
				if retry && ev.Error.Name == "LoadError" && strings.Contains(ev.Error.Value, "different version of package") {
					// A package the runner loaded earlier was rebuilt (its source changed):
					// only a fresh runner can load the new version.
					lost := e.killRunner()
					sink.Stream("stderr", fmt.Sprintf("note: a package changed since the runner loaded it; the runner was restarted%s\n", lostVars(lost)))
					return errRunnerRestarted
				}
				return e.cellError(prog.Cell, ev.Error)
			}
			return nil
		case <-rc.Exited():
			return e.lost(sink, fmt.Sprintf("the runner process stopped (%v)", rc.ExitErr()))
		case <-interrupted:
			interrupted = nil
			_ = rc.Send(runner.Command{Op: "interrupt", ID: id})
			grace = time.After(time.Second)
		case <-grace:
			lost := e.killRunner()
			return &ExecError{Name: "Interrupted", Value: "the cell did not stop within 1s of the interrupt, so the runner was restarted" + lostVars(lost),
				Traceback: []string{"Interrupted: the cell did not stop within 1s of the interrupt (it was not watching ctx),", "so the runner process was restarted." + lostVars(lost)}}
		}
	}
}

func lostVars(names []string) string {
	if len(names) == 0 {
		return "; no variables were lost"
	}
	return "; variables lost: " + strings.Join(names, ", ")
}

// lost reports a runner that died during a cell, and forgets the variables it held.
func (e *Engine) lost(sink Sink, why string) error {
	names := e.killRunner()
	msg := why + "; it will be restarted for the next cell" + lostVars(names)
	return &ExecError{Name: "RunnerDied", Value: msg, Traceback: []string{"RunnerDied: " + msg}}
}

// cellError turns a runner error into a traceback that quotes the cell lines.
func (e *Engine) cellError(cell int, ce *runner.CellError) error {
	tb := []string{ce.Name + ": " + ce.Value}
	for _, f := range ce.Frames {
		line := fmt.Sprintf("  %s, line %d, in %s", f.File, f.Line, f.Func)
		tb = append(tb, line)
		var n int
		if _, err := fmt.Sscanf(f.File, "In[%d]", &n); err == nil {
			if src := strings.Split(e.source(n), "\n"); f.Line >= 1 && f.Line <= len(src) {
				tb = append(tb, "    "+strings.TrimSpace(src[f.Line-1]))
			}
		}
	}
	return &ExecError{Name: ce.Name, Value: ce.Value, Traceback: tb}
}

func (e *Engine) source(n int) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.history[n]
}

// Variables lists the names of the variables that live across cells.
func (e *Engine) Variables() []string {
	if !e.Ready() {
		return nil
	}
	return e.sess.VarNames()
}

// copyFile copies src to dst (KeepPlugins).
func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("keep plugin: %w", err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return fmt.Errorf("keep plugin: %w", err)
	}
	return nil
}
