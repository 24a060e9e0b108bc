// Package kernel is the gostudy Jupyter kernel: it answers the Jupyter messaging protocol
// (kernel/internal/protocol) by compiling cells (kernel/internal/compiler) and running them in a long-lived
// runner process (kernel/runner), so values persist across cells.
//
// The Engine in this file does the work of executing cells and is independent of Jupyter;
// kernel.go maps protocol requests onto it.
package kernel

import (
	"context"
	"errors"
	"fmt"
	"go/scanner"
	"go/token"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gostudy/gostudy/kernel/internal/compiler"
	"github.com/gostudy/gostudy/kernel/internal/reaper"
	"github.com/gostudy/gostudy/kernel/runner"
	"github.com/gostudy/gostudy/pkg/display"
)

// ModulePath is the gostudy module's path.
const ModulePath = compiler.ModulePath

// sessionModule is the module path of the per-session module cells are compiled in.
const sessionModule = "gostudy.session"

// MaxCellSize is the largest cell the kernel runs, in bytes; a larger one is refused with
// an error (docs/kernel.md, "Limits").
const MaxCellSize = 16 << 20

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

	// KeepPlugins is test and benchmark API; the kernel never sets it. When set, it is a
	// folder that receives a copy of every compiled cell (cell<N>-<run>.so) before it runs.
	// The runner deletes a plugin once loaded; the copies let kerneltest.Replay run the same
	// cells in a runner on another machine (a GPU box has no Go toolchain to compile them).
	KeepPlugins string
}

// Engine executes cells for one kernel session.
type Engine struct {
	opts EngineOptions // not changed after NewEngine (%goflags changes the session instead)
	log  *slog.Logger
	dir  string // the session module directory (temporary)

	mu      sync.Mutex
	cur     *session // the prepared Go session; %goflags replaces it
	goEnv   []string // environment of the go command and shell lines; never appended in place
	rc      *runner.Client
	rcSess  *session          // the session whose runner binary rc runs
	sink    Sink              // where runner output goes now
	done    chan runner.Event // where the end of the running cell goes
	history map[int]string
	nextID  int
	shells  map[*exec.Cmd]bool
	closed  bool // Close began: nothing may create files in dir any more

	comm    commState  // comms the runner holds (see comm.go)
	startMu sync.Mutex // serializes runner starts
}

// session is one prepared Go session: what cells are compiled with and run in. %goflags
// replaces the whole session rather than changing fields other goroutines read.
type session struct {
	goFlags string
	start   sync.Once // prepares the session (or, for one replaced before that, ends it)
	ready   chan struct{}

	// Written by prepare before ready is closed, and only read after it.
	err   error
	tc    *compiler.Toolchain
	comp  *compiler.Session
	known map[string]string // package name → import path, for missing imports
	cache *sessionCache     // nil when the user's cache folder is unusable
	extld string            // the linker wrapper plugin links use
	// runnerStamps are the times of the local sources the runner binary was built from.
	runnerStamps map[string]time.Time
	// userModule is the path of the Go module the notebook lives in, when it is not the
	// gostudy checkout; its packages are importable and listed for missing imports.
	userModule string

	// Changed after ready (go get, saves to the session cache), under mu.
	mu        sync.Mutex
	runnerBin string
	// runnerExports are the export files (package → file in the build cache) of the packages
	// the runner binary was built from: a module change that changes one needs a new runner.
	runnerExports map[string]string
	saved         int // packages in the cached state (saved again when more are known)
	// modChanged: the session module's requirements changed (go get); restartRunner: the
	// runner was rebuilt for them and the running one must be replaced before the next cell.
	modChanged    bool
	restartRunner bool
}

// errSessionReplaced ends a session that %goflags replaced before it was prepared.
var errSessionReplaced = errors.New("the session was replaced (%goflags) before it was prepared")

// runnerBinary is the session's runner executable ("" until prepared).
func (st *session) runnerBinary() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.runnerBin
}

// takeRestart reports whether the runner must be replaced before the next cell (a go get
// rebuilt it), and clears the request.
func (st *session) takeRestart() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	r := st.restartRunner
	st.restartRunner = false
	return r
}

// NewEngine creates the session module and starts preparing the toolchain and the runner
// in the background (unless EngineOptions.Deferred), so the kernel can answer kernel_info
// at once.
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
	if err := reaper.StartGuard(); err != nil {
		opts.Log.Warn("no process guard: processes that cells start may outlive a killed kernel", "err", err)
	}
	cleanStaleSessions()
	dir, err := makeSessionDir()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		opts: opts, log: opts.Log, dir: dir,
		history: map[int]string{}, shells: map[*exec.Cmd]bool{},
	}
	e.goEnv = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=1")
	if opts.GoFlags != "" {
		e.goEnv = append(e.goEnv, "GOFLAGS="+opts.GoFlags)
	}
	e.cur = &session{goFlags: opts.GoFlags, ready: make(chan struct{})}
	if !opts.Deferred {
		e.Start()
	}
	return e, nil
}

// Start starts preparing the session in the background; it does nothing when that started
// already (NewEngine calls it unless EngineOptions.Deferred, %goflags for its new session).
func (e *Engine) Start() {
	st := e.session()
	st.start.Do(func() { go e.prepare(st, e.environ()) })
}

// Dir is the session module directory.
func (e *Engine) Dir() string { return e.dir }

// RunnerBinary is the path of the session's runner executable once the session is ready
// (after the first cell), else ""; the plugins of this session load only into this binary.
func (e *Engine) RunnerBinary() string {
	if st, ok := e.readySession(); ok {
		return st.runnerBinary()
	}
	return ""
}

// session returns the current Go session, ready or not.
func (e *Engine) session() *session {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cur
}

// readySession returns the current session if it is prepared without error.
func (e *Engine) readySession() (*session, bool) {
	st := e.session()
	select {
	case <-st.ready:
		return st, st.err == nil
	default:
		return st, false
	}
}

// environ returns the environment for the go command and shell lines.
func (e *Engine) environ() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.goEnv)
}

// setEnv adds NAME=value to the environment of later go commands and shell lines.
func (e *Engine) setEnv(kv string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	// A new slice, so a caller still holding the old one never sees it change.
	e.goEnv = append(slices.Clip(e.goEnv), kv)
}

// prepare writes the session module, learns the plugin build flags, builds the runner and
// compiles the packages most cells use (or restores all that from the session cache), and
// starts the runner.
func (e *Engine) prepare(st *session, env []string) {
	defer e.dropReplaced(st)
	defer close(st.ready)
	ctx := context.Background()
	start := time.Now()
	st.err = e.prepareErr(ctx, st, env)
	if st.err != nil {
		e.log.Error("session setup failed", "err", st.err)
		return
	}
	// Start the runner now, while the front end is still connecting, rather than in the
	// first cell; if it fails, the first cell tries again and reports why. A session that
	// %goflags replaced meanwhile starts none.
	if e.session() == st {
		if _, err := e.ensureRunner(ctx, st); err != nil {
			e.log.Warn("runner did not start", "err", err)
		}
	}
	e.log.Info("session ready", "dir", e.dir, "took", time.Since(start).Round(time.Millisecond))
}

func (e *Engine) prepareErr(ctx context.Context, st *session, env []string) error {
	spec, err := sessionModuleSpec(e.opts.RepoDir, e.opts.WorkDir)
	if err != nil {
		return err
	}
	if len(spec.Local) > 1 {
		st.userModule = spec.Local[1].Path
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
	cache, err := openSessionCache(ctx, e.opts.CacheDir, e.opts.GoCmd, e.dir, env)
	if err != nil {
		e.log.Warn("no session cache", "err", err)
	}
	st.cache = cache
	restored := false
	if cache != nil {
		if err := e.restore(ctx, st, cache, env); err == nil {
			restored = true
			e.log.Info("session restored from the cache", "dir", cache.dir)
		} else {
			e.log.Info("preparing the session from scratch", "why", err)
		}
	}
	if !restored {
		if err := e.build(ctx, st, env); err != nil {
			return err
		}
	}
	st.comp = compiler.NewSession(st.tc, cellSyntax, e.dir, sessionModule, st.known)
	st.comp.FetchModules = func(ctx context.Context, paths []string) ([]string, error) {
		return e.fetchModules(ctx, st, paths)
	}
	if !restored {
		e.saveSession(st)
	}
	return nil
}

// build prepares session st with the go command: the plugin build flags, the runner
// binary, the names of the project's packages and the compiled packages every cell needs.
func (e *Engine) build(ctx context.Context, st *session, env []string) error {
	tc, err := compiler.NewToolchain(ctx, e.opts.GoCmd, e.dir, env)
	if err != nil {
		return err
	}
	linkerDir := e.dir
	if st.cache != nil {
		linkerDir = st.cache.dir
	}
	if extld, err := compiler.WriteLinkerWrapper(ctx, linkerDir, tc.CC(), env); err == nil {
		tc.UseLinker(extld)
		st.extld = extld
	} else {
		e.log.Warn("plugin links use the C compiler directly", "err", err)
	}
	st.tc = tc
	var wg sync.WaitGroup
	var buildErr error
	runnerBin := e.newRunnerPath()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := tc.GoCommand(ctx, "build", "-o", runnerBin, "./runner"); err != nil {
			buildErr = fmt.Errorf("build the runner: %w", err)
		}
	}()
	known := knownPackages()
	patterns := []string{ModulePath + "/pkg/...", ModulePath + "/datasets/...", ModulePath + "/lessons/..."}
	if st.userModule != "" {
		// The notebook's own module comes first: its names win over the project's.
		patterns = append([]string{st.userModule + "/..."}, patterns...)
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
	st.known = known
	// The runner's own packages are listed too, so the cache notices when their sources
	// change (the cached runner binary would then be stale).
	if _, err := tc.Ensure(ctx, []string{"fmt", compiler.CellRuntimePath, sessionModule + "/runner"}); err != nil {
		return err
	}
	wg.Wait()
	if buildErr != nil {
		return buildErr
	}
	st.runnerBin = runnerBin
	st.runnerStamps = tc.LocalStamps([]string{sessionModule + "/runner"})
	st.runnerExports = runnerDepExports(tc)
	return nil
}

// newRunnerPath names a runner binary to build in the session directory. Each build has a
// name of its own: the build of a session that %goflags replaced may still be running.
func (e *Engine) newRunnerPath() string {
	return filepath.Join(e.dir, fmt.Sprintf("%d.runner.bin", time.Now().UnixNano()))
}

// dropRunner removes a runner binary built in the session directory that no runner will
// start from again: a session's cached copy or rebuild replaced it, or %goflags replaced the
// session. A running runner keeps running (its file stays open), and binaries in the session
// cache are kept for other kernels.
func (e *Engine) dropRunner(path string) {
	if path == "" || filepath.Dir(path) != e.dir {
		return
	}
	// Under startMu, so a runner start that read the path before it changed finishes first.
	e.startMu.Lock()
	defer e.startMu.Unlock()
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.log.Warn("remove old runner binary", "err", err)
	}
}

// dropReplaced removes the runner binary of session st once it is prepared and %goflags
// replaced it. Both prepare (at its end) and goflags call it, so whichever runs last
// finds the session both prepared and replaced.
func (e *Engine) dropReplaced(st *session) {
	select {
	case <-st.ready:
	default:
		return
	}
	if e.session() != st {
		e.dropRunner(st.runnerBinary())
	}
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
	st, err := e.waitSession(ctx)
	if err != nil {
		return err
	}
	paths := []string{"fmt", "strings", "math", "time", "os", "sort", "errors", "math/rand/v2"}
	for _, p := range knownPackages() {
		paths = append(paths, p)
	}
	paths = append(paths, "github.com/gomlx/gomlx/backends/default")
	out, err := st.tc.GoCommand(ctx, "list", "-e", "-f", "{{if not .Error}}{{if ne .Name \"main\"}}{{.ImportPath}}{{end}}{{end}}",
		ModulePath+"/pkg/...", ModulePath+"/datasets/...", ModulePath+"/lessons/...")
	if err == nil {
		for _, line := range strings.Split(out, "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.Contains(line, "/internal") {
				paths = append(paths, line)
			}
		}
	}
	failed, err := st.tc.Ensure(ctx, paths)
	if err != nil {
		return err
	}
	for p, ferr := range failed {
		sink.Stream("stderr", fmt.Sprintf("warm: skipped %s: %v\n", p, ferr))
	}
	e.saveSession(st)
	return e.Execute(ctx, 1, `fmt.Println("warm: ready")`, sink)
}

// WaitReady blocks until the session is prepared, and returns the error that stopped it.
func (e *Engine) WaitReady(ctx context.Context) error {
	_, err := e.waitSession(ctx)
	return err
}

// waitSession waits for the current session to be prepared; when %goflags replaces the
// session meanwhile, it waits for the new one.
func (e *Engine) waitSession(ctx context.Context) (*session, error) {
	for {
		st := e.session()
		select {
		case <-st.ready:
			if errors.Is(st.err, errSessionReplaced) {
				continue
			}
			return st, st.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Ready reports whether set-up finished (without error).
func (e *Engine) Ready() bool {
	_, ok := e.readySession()
	return ok
}

// CompletionFile writes the Go file code intelligence (gopls) sees for a cell being edited
// and returns its path, its content, and the byte offset in it of the cell's byte offset
// cursor. ok is false until the session is ready.
func (e *Engine) CompletionFile(code string, cursor int) (path string, content []byte, offset int, ok bool) {
	st, ready := e.readySession()
	if !ready {
		return "", nil, 0, false
	}
	text, off := st.comp.CompletionFile(code, cursor)
	dir := filepath.Join(e.dir, "complete")
	// Under mu, and not once closed: a completion request racing a shutdown must not make
	// the session directory again after Close removed it.
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return "", nil, 0, false
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, 0, false
	}
	return filepath.Join(dir, "cell.go"), []byte(text), off, true
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
	case runner.EvComm:
		if ev.Comm != nil {
			e.commEvent(*ev.Comm)
		}
	case runner.EvCommDone:
		e.commDone(ev.ID)
	case runner.EvDisplay:
		if sink != nil && ev.Display != nil {
			sink.Display(*ev.Display)
		}
	case runner.EvResult:
		if sink != nil {
			sink.Result(ev.Data, ev.Metadata)
		}
	case runner.EvInput:
		go func() {
			c := runner.Command{Op: runner.OpInput}
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
	case runner.EvDone:
		if done != nil {
			done <- ev
		}
	}
}

// ensureRunner starts the runner of session st if it is not running. A runner of another
// session (one %goflags replaced) is stopped first: it cannot load st's plugins.
func (e *Engine) ensureRunner(ctx context.Context, st *session) (*runner.Client, error) {
	// One start at a time: a runner started ahead of time (at set-up, after %reset) and a
	// cell must not start two.
	e.startMu.Lock()
	defer e.startMu.Unlock()
	e.mu.Lock()
	rc, rcSess := e.rc, e.rcSess
	e.mu.Unlock()
	if rc != nil {
		select {
		case <-rc.Exited():
		default:
			if rcSess == st {
				return rc, nil
			}
			e.killRunner()
		}
	}
	// The comms of a runner that stopped are gone with it.
	e.closeComms()
	env := append(os.Environ(), "GOSTUDY_RUNNER=1", "GOSTUDY_SESSION_DIR="+e.dir)
	rc, err := runner.Start(ctx, st.runnerBinary(), e.opts.WorkDir, env, stream{e})
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.rc, e.rcSess = rc, st
	e.mu.Unlock()
	return rc, nil
}

// killRunner stops the runner; the variables it held are gone.
func (e *Engine) killRunner() []string {
	e.mu.Lock()
	rc := e.rc
	e.rc, e.rcSess = nil, nil
	e.mu.Unlock()
	if rc != nil {
		rc.Kill()
	}
	e.closeComms()
	st, ok := e.readySession()
	if !ok {
		return nil
	}
	return st.comp.ForgetVars()
}

// Close stops the runner and every command the engine started, and removes the session
// directory.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	rc := e.rc
	e.rc, e.rcSess = nil, nil
	shells := slices.Collect(maps.Keys(e.shells))
	e.mu.Unlock()
	for _, c := range shells {
		reaper.Kill(c.Process.Pid)
	}
	if rc != nil {
		rc.Close()
	}
	st := e.session()
	select {
	case <-st.ready:
		// Packages listed during the session (GoMLX, say) are known at once next time.
		if st.err == nil && st.tc.Size() > st.savedPackages() {
			e.saveSession(st)
		}
	case <-time.After(30 * time.Second):
		// set-up is still running (a first build): its commands die with the kernel
	}
	if err := removeSessionDir(e.dir); err != nil {
		e.log.Warn("session directory left behind", "dir", e.dir, "err", err)
	}
}

// execution is one Execute call: what magics may look at and change.
type execution struct {
	ctx   context.Context
	n     int
	sink  Sink
	timed bool // %time
	test  bool // %test
	// Time spent compiling and running Go code, for %time.
	compile, run time.Duration
}

// Execute runs cell number n. It returns an *ExecError for failures the user should see.
func (e *Engine) Execute(ctx context.Context, n int, code string, sink Sink) error {
	if len(code) > MaxCellSize {
		return &ExecError{Name: "CellTooLarge", Value: fmt.Sprintf("the cell has %d bytes; cells of more than %d MiB are not run (put large data in a file and read it)", len(code), MaxCellSize>>20)}
	}
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
	x := &execution{ctx: ctx, n: n, sink: sink}
	p := cellSyntax.Parse(code)
	err := e.executeParsed(x, p)
	if x.timed {
		msg := fmt.Sprintf("Wall time: %s", time.Since(start).Round(time.Millisecond))
		if x.compile > 0 || x.run > 0 {
			msg += fmt.Sprintf(" (compile %s, run %s)", x.compile.Round(time.Millisecond), x.run.Round(time.Millisecond))
		}
		sink.Stream("stdout", msg+"\n")
	}
	return err
}

// executeParsed runs the magics of a parsed cell, then its Go code.
func (e *Engine) executeParsed(x *execution, p compiler.Parsed) error {
	if p.Magic != nil {
		if err := cellMagic(p.Magic.Name).run(e, x, p.Magic.Args, p.Magic.Body); err != nil {
			return err
		}
	}
	for _, c := range p.Commands {
		if err := e.command(x, c); err != nil {
			return err
		}
	}
	if x.test {
		p.Go += testRunner(p.Go)
	}
	if !hasGo(p.Go) {
		return nil
	}
	return e.runGo(x, p)
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

// hasGo reports whether src has any Go tokens (not just blank space and comments).
func hasGo(src string) bool {
	// go/scanner, not a line scanner: no line is too long for it, and a cell with any token
	// at all (even an illegal one, which then gets its compile error) is compiled.
	var sc scanner.Scanner
	fset := token.NewFileSet()
	sc.Init(fset.AddFile("", -1, len(src)), []byte(src), func(token.Position, string) {}, 0)
	for {
		_, tok, lit := sc.Scan()
		switch {
		case tok == token.EOF:
			return false
		case tok == token.SEMICOLON && lit == "\n":
			// an automatic semicolon: not written by the user
		default:
			return true
		}
	}
}

// runGo compiles the cell's Go code and runs it in the runner.
func (e *Engine) runGo(x *execution, p compiler.Parsed) error {
	ctx, n, sink := x.ctx, x.n, x.sink
	st, err := e.waitSession(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return &ExecError{Name: "Interrupted", Value: "interrupted while the session was being prepared"}
		}
		return &ExecError{Name: "SessionError", Value: err.Error(), Traceback: []string{"the kernel could not prepare its Go session: " + err.Error()}}
	}
	t := time.Now()
	prog, err := e.compile(ctx, st, n, p)
	x.compile += time.Since(t)
	if err != nil {
		return err
	}
	for _, note := range prog.Notes {
		sink.Stream("stderr", "note: "+note+"\n")
	}
	if st.takeRestart() {
		// go get changed packages the old runner loaded: start the rebuilt one, and compile
		// the cell again without the variables the old runner held.
		lost := e.killRunner()
		sink.Stream("stderr", fmt.Sprintf("note: runner restarted for the new module%s\n", lostVars(lost)))
		t = time.Now()
		prog, err = e.compile(ctx, st, n, p)
		x.compile += time.Since(t)
		if err != nil {
			return err
		}
	}
	t = time.Now()
	err = e.run(ctx, st, prog, sink, true)
	if errors.Is(err, errRunnerRestarted) {
		// The cell was compiled against variables the old runner held; compile it again
		// without them (a cell that uses one now says it is undefined) and run it once more.
		x.run += time.Since(t)
		t = time.Now()
		prog, err = e.compile(context.WithoutCancel(ctx), st, n, p)
		x.compile += time.Since(t)
		t = time.Now()
		if err == nil {
			err = e.run(context.WithoutCancel(ctx), st, prog, sink, false)
		}
	}
	x.run += time.Since(t)
	if prog != nil {
		e.log.Info("cell", "n", n, "packages", prog.Timings.Packages.Round(time.Millisecond),
			"check", prog.Timings.Check.Round(time.Millisecond), "build", prog.Timings.Build.Round(time.Millisecond),
			"compile", prog.Timings.Compile.Round(time.Millisecond), "link", prog.Timings.Link.Round(time.Millisecond),
			"run", time.Since(t).Round(time.Millisecond))
	}
	return err
}

// compile compiles cell n, turning failures into the cell's error.
func (e *Engine) compile(ctx context.Context, st *session, n int, p compiler.Parsed) (*compiler.Program, error) {
	prog, err := st.comp.Compile(ctx, n, p)
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
func (e *Engine) run(ctx context.Context, st *session, prog *compiler.Program, sink Sink, retry bool) error {
	rc, err := e.ensureRunner(ctx, st)
	if err != nil {
		return &ExecError{Name: "RunnerError", Value: err.Error()}
	}
	if len(prog.Dropped) > 0 {
		if err := rc.Send(runner.Command{Op: runner.OpDrop, Names: prog.Dropped}); err != nil {
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
	if err := rc.Send(runner.Command{Op: runner.OpRun, ID: id, Cell: prog.Cell, Plugin: prog.Plugin}); err != nil {
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
			st.comp.Published(prog, ev.Published)
			if ev.Error != nil {
				if retry && ev.Error.PackageChanged {
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
			_ = rc.Send(runner.Command{Op: runner.OpInterrupt, ID: id})
			grace = time.After(time.Second)
		case <-grace:
			lost := e.killRunner()
			return &ExecError{Name: "Interrupted", Value: "the cell did not stop within 1s of the interrupt, so the runner was restarted" + lostVars(lost),
				Traceback: []string{"Interrupted: the cell did not stop within 1s of the interrupt (it was not watching ctx),", "so the runner process was restarted" + lostVars(lost) + "."}}
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
	st, ok := e.readySession()
	if !ok {
		return nil
	}
	return st.comp.VarNames()
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
