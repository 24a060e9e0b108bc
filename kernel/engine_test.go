package kernel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gostudy/gostudy/kernel/kerneltest"
	"github.com/gostudy/gostudy/pkg/display"
)

// recorder is a Sink that keeps everything an execution produced.
type recorder struct {
	mu       sync.Mutex
	stdout   strings.Builder
	stderr   strings.Builder
	displays []display.Message
	results  []display.Bundle
	order    []string // "stdout:<text>", "display", "result"
	input    string
	started  chan struct{} // closed at the first output, when not nil
}

func (r *recorder) Stream(name, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == "stdout" {
		r.stdout.WriteString(text)
	} else {
		r.stderr.WriteString(text)
	}
	r.order = append(r.order, name+":"+text)
	if r.started != nil {
		close(r.started)
		r.started = nil
	}
}

func (r *recorder) Display(m display.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.displays = append(r.displays, m)
	r.order = append(r.order, "display")
}

func (r *recorder) Result(data display.Bundle, _ map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, data)
	r.order = append(r.order, "result")
}

func (r *recorder) Input(prompt string, password bool) (string, error) {
	return r.input, nil
}

func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.results) == 0 {
		return ""
	}
	s, _ := r.results[len(r.results)-1]["text/plain"].(string)
	return s
}

func repoDir(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// newTestEngine starts an engine on the project and waits until it is ready.
func newTestEngine(t *testing.T) *Engine {
	t.Helper()
	return newTestEngineWith(t, EngineOptions{})
}

// newTestEngineWith is newTestEngine with more options (RepoDir and WorkDir are set here).
func newTestEngineWith(t *testing.T, opts EngineOptions) *Engine {
	t.Helper()
	if testing.Short() {
		t.Skip("the engine builds real plugins; skipped in -short mode")
	}
	opts.RepoDir, opts.WorkDir = repoDir(t), t.TempDir()
	e, err := NewEngine(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := e.WaitReady(ctx); err != nil {
		t.Fatalf("session setup: %v", err)
	}
	return e
}

type cellRun struct {
	n    int
	e    *Engine
	t    *testing.T
	last *recorder
}

func (c *cellRun) exec(code string) (*recorder, error) {
	c.t.Helper()
	c.n++
	rec := &recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := c.e.Execute(ctx, c.n, code, rec)
	c.last = rec
	return rec, err
}

func (c *cellRun) ok(code string) *recorder {
	c.t.Helper()
	rec, err := c.exec(code)
	if err != nil {
		var ee *ExecError
		if errors.As(err, &ee) {
			c.t.Fatalf("cell %d failed: %v\n%s\nstderr: %s", c.n, err, strings.Join(ee.Traceback, "\n"), rec.stderr.String())
		}
		c.t.Fatalf("cell %d failed: %v", c.n, err)
	}
	return rec
}

func TestEngineStateAcrossCells(t *testing.T) {
	e := newTestEngine(t)
	c := &cellRun{e: e, t: t}

	c.ok("x := 20\ny := x + 1")
	if got := c.ok("x * 2").text(); got != "40" {
		t.Errorf("x*2 = %q, want 40", got)
	}
	// A counter incremented by later cells keeps its value: the initializer never re-runs.
	c.ok("calls := 0\nnext := func() int { calls++; return calls }")
	c.ok("next()")
	if got := c.ok("next()").text(); got != "2" {
		t.Errorf("second next() = %q, want 2", got)
	}
	if got := c.ok("calls").text(); got != "2" {
		t.Errorf("calls = %q, want 2", got)
	}
	// Types, methods and funcs declared in a cell; values of those types persist.
	c.ok("type point struct{ x, y int }\n\nfunc (p point) sum() int { return p.x + p.y }")
	c.ok("p := point{3, 4}\nps := []point{p, {1, 1}}")
	if got := c.ok("p.sum() + ps[1].x").text(); got != "8" {
		t.Errorf("p.sum()+ps[1].x = %q, want 8", got)
	}
	// A func reading a variable sees later changes (it goes through the same storage).
	c.ok("func twiceX() int { return 2 * x }")
	c.ok("x = 50")
	if got := c.ok("twiceX()").text(); got != "100" {
		t.Errorf("twiceX() = %q, want 100", got)
	}
	// Package-level var declared in a cell with only declarations.
	c.ok("var total = x + y")
	if got := c.ok("total").text(); got != "71" {
		t.Errorf("total = %q, want 71 (x=50, y=21)", got)
	}
	// Missing imports are added; the result of a multi-value call is shown.
	if got := c.ok(`strings.ToUpper("go")`).text(); got != `"GO"` {
		t.Errorf("strings.ToUpper = %q", got)
	}
	// A trailing semicolon hides the result.
	if rec := c.ok("x + 1;"); len(rec.results) != 0 {
		t.Errorf("result shown despite trailing ';': %v", rec.results)
	}
	// Redefining a type drops variables of that type, with a note.
	rec := c.ok("type point struct{ x, y, z int }")
	if !strings.Contains(rec.stderr.String(), "variable p was dropped") {
		t.Errorf("no note about dropped p; stderr: %q", rec.stderr.String())
	}
	if _, err := c.exec("p"); err == nil {
		t.Errorf("p still defined after its type changed")
	}
	if got := c.ok("x").text(); got != "50" {
		t.Errorf("x = %q after unrelated type change, want 50", got)
	}
}

func TestEngineErrorsPointIntoCells(t *testing.T) {
	e := newTestEngine(t)
	c := &cellRun{e: e, t: t}
	c.ok("kept := 7")
	_, err := c.exec("a := 1\nb := a + nosuch\n_ = b")
	var ee *ExecError
	if !errors.As(err, &ee) || ee.Name != "CompileError" {
		t.Fatalf("want CompileError, got %v", err)
	}
	if !strings.Contains(ee.Value, "In[2]:2:") || !strings.Contains(ee.Value, "undefined: nosuch") {
		t.Errorf("compile error %q does not point at In[2] line 2", ee.Value)
	}
	_, err = c.exec("s := []int{1, 2}\ni := 5\nfmt.Println(s[i])")
	if !errors.As(err, &ee) || ee.Name != "runtime error" {
		t.Fatalf("want runtime error, got %v", err)
	}
	tb := strings.Join(ee.Traceback, "\n")
	if !strings.Contains(tb, "In[3], line 3") || !strings.Contains(tb, "fmt.Println(s[i])") {
		t.Errorf("traceback does not show In[3] line 3:\n%s", tb)
	}
	// After a panic the runner is still there, with its state.
	if got := c.ok("kept + 1").text(); got != "8" {
		t.Errorf("kept+1 = %q after a panic, want 8", got)
	}
	// A cell that panics after declaring a variable keeps the earlier value of a variable it
	// would have replaced later.
	_, err = c.exec("kept := 100\npanic(\"boom\")\nkept2 := 1")
	if !errors.As(err, &ee) || ee.Value != "boom" {
		t.Fatalf("want panic boom, got %v", err)
	}
	if got := c.ok("kept").text(); got != "100" {
		t.Errorf("kept = %q, want 100 (declared before the panic)", got)
	}
	if _, err := c.exec("kept2"); err == nil {
		t.Errorf("kept2 exists though its declaration never ran")
	}
}

func TestEngineStreamsInOrder(t *testing.T) {
	e := newTestEngine(t)
	c := &cellRun{e: e, t: t}
	rec := c.ok(`for i := 0; i < 3; i++ { fmt.Println("line", i) }
display.HTML("<b>x</b>")
fmt.Println("after")
42`)
	want := "line 0\nline 1\nline 2\nafter\n"
	if got := rec.stdout.String(); got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	// The display comes after the three lines and before "after"; the result is last.
	var seq []string
	for _, o := range rec.order {
		switch {
		case strings.HasPrefix(o, "stdout:"):
			for _, l := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(o, "stdout:"), "\n"), "\n") {
				seq = append(seq, l)
			}
		default:
			seq = append(seq, o)
		}
	}
	got := strings.Join(seq, "|")
	if got != "line 0|line 1|line 2|display|after|result" {
		t.Errorf("order = %s", got)
	}
}

func TestEngineInterrupt(t *testing.T) {
	e := newTestEngine(t)
	c := &cellRun{e: e, t: t}
	c.ok("v := 3")
	// A loop that watches ctx stops and keeps state.
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	coop := &recorder{started: started}
	go func() {
		<-started // interrupt once the cell runs, not while it compiles
		cancel()
	}()
	err := e.Execute(ctx, 10, "fmt.Println(\"waiting\")\nfor ctx.Err() == nil { time.Sleep(10*time.Millisecond) }\nv = 4", coop)
	var ee *ExecError
	if !errors.As(err, &ee) || ee.Name != "Interrupted" {
		t.Fatalf("want Interrupted, got %v", err)
	}
	if got := c.ok("v").text(); got != "4" {
		t.Errorf("v = %q after a cooperative interrupt, want 4", got)
	}
	// A loop that ignores ctx: the runner is restarted and the loss is reported.
	ctx, cancel = context.WithCancel(context.Background())
	spinning := make(chan struct{})
	rec := &recorder{started: spinning}
	startc := make(chan time.Time, 1)
	go func() {
		<-spinning
		startc <- time.Now()
		cancel()
	}()
	err = e.Execute(ctx, 11, "fmt.Println(\"spinning\")\nfor {}", rec)
	if !errors.As(err, &ee) || ee.Name != "Interrupted" || !strings.Contains(ee.Value, "variables lost: v") {
		t.Fatalf("want Interrupted with lost state, got %v", err)
	}
	if tb := strings.Join(ee.Traceback, "\n"); strings.Contains(tb, ".;") || !strings.HasSuffix(tb, "variables lost: v.") {
		t.Errorf("interrupt traceback reads %q", tb)
	}
	if d := time.Since(<-startc); d > 5*time.Second {
		t.Errorf("interrupt took %v", d)
	}
	if got := c.ok("1 + 1").text(); got != "2" {
		t.Errorf("kernel unusable after interrupt: %q", got)
	}
	_ = os.Getpid()
}

// TestEnginePackageChangedRestartsRunner edits a local package that a cell already loaded:
// the runner cannot load a second version of it, so the kernel restarts the runner, says
// which variables were lost, and runs the cell there with the new version.
func TestEnginePackageChangedRestartsRunner(t *testing.T) {
	e := newTestEngine(t)
	c := &cellRun{e: e, t: t}
	lib := filepath.Join(e.dir, "locallib", "lib.go")
	write := func(v int) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(lib), 0o755); err != nil {
			t.Fatal(err)
		}
		src := "// Package locallib is a local package edited during the test.\npackage locallib\n\n// Version says which edit this is.\nfunc Version() int { return " + strconv.Itoa(v) + " }\n"
		if err := os.WriteFile(lib, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		// Some filesystems keep coarse modification times; make the edit visible.
		later := time.Now().Add(time.Duration(v) * time.Second)
		_ = os.Chtimes(lib, later, later)
	}
	write(1)
	const imp = "import \"" + sessionModule + "/locallib\"\n"
	c.ok("kept := 7")
	if got := c.ok(imp + "locallib.Version()").text(); got != "1" {
		t.Fatalf("Version() = %q, want 1", got)
	}
	write(2)
	rec := c.ok(imp + "locallib.Version() * 10")
	if got := rec.text(); got != "20" {
		t.Errorf("after the edit: %q, want 20", got)
	}
	if s := rec.stderr.String(); !strings.Contains(s, "a package changed since the runner loaded it") || !strings.Contains(s, "kept") {
		t.Errorf("no restart note naming the lost variable; stderr: %q", s)
	}
	// The lost variable is gone for good: using it is a compile error, not a crash.
	if _, err := c.exec("kept + 1"); err == nil || !strings.Contains(err.Error(), "undefined: kept") {
		t.Errorf("using the lost variable: %v, want undefined: kept", err)
	}
	if got := c.ok("kept := 8\nkept").text(); got != "8" {
		t.Errorf("redeclared kept = %q", got)
	}
}

// TestEngineKeepPluginsReplay: with KeepPlugins, every compiled cell is kept, and the kept
// cells run in order in a fresh runner of the same binary give the same state and output
// (what bench/kernel/gpucells does on a GPU box without Go).
func TestEngineKeepPluginsReplay(t *testing.T) {
	keep := t.TempDir()
	e := newTestEngineWith(t, EngineOptions{KeepPlugins: keep})
	c := &cellRun{e: e, t: t}
	c.ok("x := 41")
	if got := c.ok("fmt.Println(x + 1)").stdout.String(); got != "42\n" {
		t.Fatalf("engine run printed %q", got)
	}
	kept, err := filepath.Glob(filepath.Join(keep, "cell*.so"))
	if err != nil || len(kept) != 2 {
		t.Fatalf("kept plugins = %v (%v), want 2", kept, err)
	}
	sort.Strings(kept) // cell1-… before cell2-…

	var mu sync.Mutex
	var stdout strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	took, err := kerneltest.Replay(ctx, e.RunnerBinary(), kept, os.Environ(), func(name, text string) {
		if name == "stdout" {
			mu.Lock()
			stdout.WriteString(text)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(took) != 2 {
		t.Errorf("replay timed %d cells, want 2", len(took))
	}
	mu.Lock()
	defer mu.Unlock()
	if got := stdout.String(); got != "42\n" {
		t.Errorf("replay printed %q, want 42", got)
	}
}

// TestEngineCellEdgeCases runs checks that each need a working session, in one session
// (preparing one takes seconds).
func TestEngineCellEdgeCases(t *testing.T) {
	e := newTestEngine(t)
	for i, tc := range []struct {
		name string
		f    func(*testing.T, *Engine, *cellRun)
	}{
		{"LongLinesAndLargeCells", testLongLinesAndLargeCells},
		{"Goexit", testGoexit},
		{"ClosedStdout", testClosedStdout},
		{"CompileErrorPositions", testCompileErrorPositions},
		{"TimeReportsCompileAndRun", testTimeReportsCompileAndRun},
		{"BackendPrintsOnce", testBackendPrintsOnce},
	} {
		// Each check numbers its cells from its own thousand, as if in its own notebook.
		first := 1000 * (i + 1)
		t.Run(tc.name, func(t *testing.T) { tc.f(t, e, &cellRun{e: e, t: t, n: first}) })
	}
}

// testLongLinesAndLargeCells: no cell size skips a cell silently. A first line of
// 70 KB (over bufio.Scanner's 64 KiB) runs; a cell over MaxCellSize is a clear error.
func testLongLinesAndLargeCells(t *testing.T, e *Engine, c *cellRun) {
	long := strings.Repeat("a", 70000)
	if got := c.ok("x := \"" + long + "\"\nlen(x)").text(); got != "70000" {
		t.Errorf("cell with a 70 KB first line: result %q, want 70000", got)
	}
	if got := c.ok("// " + long + "\n1 + 1").text(); got != "2" {
		t.Errorf("cell with a 70 KB comment line: result %q, want 2", got)
	}
	_, err := c.exec("// " + strings.Repeat("b", MaxCellSize))
	var ee *ExecError
	if !errors.As(err, &ee) || ee.Name != "CellTooLarge" || !strings.Contains(ee.Value, "16 MiB") {
		t.Errorf("cell over the limit: %v, want CellTooLarge naming the limit", err)
	}
}

// testGoexit: runtime.Goexit in a cell ends the cell with a clear error; the runner
// and the variables stay.
func testGoexit(t *testing.T, e *Engine, c *cellRun) {
	c.ok("kept := 1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c.n++
	err := e.Execute(ctx, c.n, "fmt.Println(\"before\")\nkept = 2\nruntime.Goexit()\nfmt.Println(\"after\")", &recorder{})
	var ee *ExecError
	if !errors.As(err, &ee) || ee.Name != "Goexit" || !strings.Contains(ee.Value, "runtime.Goexit") {
		t.Fatalf("cell calling runtime.Goexit: %v, want a Goexit error", err)
	}
	if got := c.ok("kept + 1").text(); got != "3" {
		t.Errorf("kept + 1 = %q after Goexit, want 3 (runner and variables kept)", got)
	}
}

// testClosedStdout: a cell that closes os.Stdout (or os.Stderr) does not silence
// later cells; the kernel reopens them and says so.
func testClosedStdout(t *testing.T, e *Engine, c *cellRun) {
	rec := c.ok("os.Stdout.Close()")
	if !strings.Contains(rec.stderr.String(), "closed os.Stdout; it was reopened") {
		t.Errorf("no note about the closed os.Stdout; stderr %q", rec.stderr.String())
	}
	if got := c.ok("fmt.Println(\"visible\")").stdout.String(); got != "visible\n" {
		t.Errorf("after os.Stdout.Close(): stdout %q, want visible", got)
	}
	c.ok("os.Stderr.Close()")
	if got := c.ok("fmt.Fprintln(os.Stderr, \"still here\")").stderr.String(); got != "still here\n" {
		t.Errorf("after os.Stderr.Close(): stderr %q", got)
	}
	// A closed file descriptor 1 (not just the *os.File) comes back too.
	c.ok("syscall.Close(1)")
	if got := c.ok("fmt.Println(\"fd 1 back\")").stdout.String(); got != "fd 1 back\n" {
		t.Errorf("after syscall.Close(1): stdout %q", got)
	}
}

// testCompileErrorPositions: every compile error names a cell, a line and a column,
// also for a cell that ends in the middle of a statement.
func testCompileErrorPositions(t *testing.T, e *Engine, c *cellRun) {
	var ee *ExecError
	for _, tc := range []struct{ code, want string }{
		{"x := ", "In[%d]:1:5: "},
		{"a := 1\nb := a + nosuch\n_ = b", "In[%d]:2:10: undefined: nosuch"},
		{"func f() int {\n\treturn \"s\"\n}", "In[%d]:2:9: "},
		{"y := 1\nif y > 0 {\n\ty = 2", "In[%d]:3:7: "},
	} {
		tc.want = fmt.Sprintf(tc.want, c.n+1)
		_, err := c.exec(tc.code)
		if !errors.As(err, &ee) || ee.Name != "CompileError" {
			t.Errorf("%q: %v, want a CompileError", tc.code, err)
			continue
		}
		if !strings.HasPrefix(ee.Value, tc.want) || strings.Contains(strings.Join(ee.Traceback, "\n"), "gostudy-") {
			t.Errorf("%q: error %q (traceback %q), want it to start with %q and name no generated file", tc.code, ee.Value, ee.Traceback, tc.want)
		}
	}
}

// testTimeReportsCompileAndRun: %time splits the wall time into compiling and running.
func testTimeReportsCompileAndRun(t *testing.T, e *Engine, c *cellRun) {
	out := c.ok("%time\ntime.Sleep(300 * time.Millisecond)").stdout.String()
	var wall, compile, run time.Duration
	var ws, cs, rs string
	if _, err := fmt.Sscanf(strings.TrimSpace(out), "Wall time: %s (compile %s run %s", &ws, &cs, &rs); err != nil {
		t.Fatalf("%%time printed %q: %v", out, err)
	}
	wall, _ = time.ParseDuration(ws)
	compile, _ = time.ParseDuration(strings.TrimSuffix(cs, ","))
	run, _ = time.ParseDuration(strings.TrimSuffix(rs, ")"))
	if run < 300*time.Millisecond || compile <= 0 || compile+run > wall+time.Millisecond {
		t.Errorf("%%time: wall %v, compile %v, run %v (printed %q)", wall, compile, run, out)
	}
}

// testBackendPrintsOnce: %backend shows the backend's description once (the backend's
// own report when it opens is not printed as well).
func testBackendPrintsOnce(t *testing.T, e *Engine, c *cellRun) {
	rec := c.ok("%backend")
	all := rec.stdout.String() + rec.stderr.String()
	if n := strings.Count(all, "active:"); n != 1 {
		t.Errorf("%%backend printed \"active:\" %d times:\n%s", n, all)
	}
	if strings.Contains(rec.stderr.String(), "gostudy: backend") {
		t.Errorf("%%backend also printed the backend's open report:\n%s", rec.stderr.String())
	}
	if got := c.ok("os.Getenv(\"GOSTUDY_QUIET\")").text(); got != `""` {
		t.Errorf("GOSTUDY_QUIET left at %s after %%backend", got)
	}
}
