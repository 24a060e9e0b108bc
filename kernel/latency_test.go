package kernel

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// compiledSource compiles code as the next cell without running it and returns the Go file
// that would be built.
func compiledSource(t *testing.T, c *cellRun, code string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c.n++
	st, err := c.e.waitSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := st.comp.Compile(ctx, c.n, cellSyntax.Parse(code))
	if err != nil {
		t.Fatalf("compile %q: %v", code, err)
	}
	return prog.GoSource
}

// TestLaterCellsDoNotGrowWithEarlierDeclarations (issue 13, item 11): a cell is compiled
// with only the earlier declarations and variables it can reach, so after a cell of 10,000
// functions or 10,000 variables a trivial cell compiles a file as small as in a new session,
// while cells that use earlier declarations (directly or through others) still work.
func TestLaterCellsDoNotGrowWithEarlierDeclarations(t *testing.T) {
	e := newTestEngine(t)
	c := &cellRun{e: e, t: t}
	base := len(compiledSource(t, c, "fmt.Println(1)"))

	var funcs strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&funcs, "func gf%d(x int) int { return x + %d }\n", i, i)
	}
	funcs.WriteString("func viaOther(x int) int { return gf7(x) * 2 }\n")
	c.ok(funcs.String())
	if n := len(compiledSource(t, c, "fmt.Println(2)")); n > base+200 {
		t.Errorf("trivial cell after 10,000 functions: %d bytes of Go, want about %d", n, base)
	}
	if got := c.ok("gf3(1) + viaOther(1)").text(); got != "20" {
		t.Errorf("gf3(1) + viaOther(1) = %q, want 20", got)
	}
	// The remembered declarations are all still there for later cells.
	if got := c.ok("gf9999(1)").text(); got != "10000" {
		t.Errorf("gf9999(1) = %q, want 10000", got)
	}

	var vars strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&vars, "var gv%d = %d\n", i, i)
	}
	c.ok(vars.String())
	if n := len(compiledSource(t, c, "fmt.Println(3)")); n > base+200 {
		t.Errorf("trivial cell after 10,000 variables: %d bytes of Go, want about %d", n, base)
	}
	if got := c.ok("gv5 + gv9999").text(); got != "10004" {
		t.Errorf("gv5 + gv9999 = %q, want 10004", got)
	}
	// A type brings its methods, and a variable brings the types of its value.
	c.ok("type pt struct{ x, y int }\n\nfunc (p pt) sum() int { return p.x + p.y }")
	c.ok("p := pt{3, 4}")
	if got := c.ok("p.sum()").text(); got != "7" {
		t.Errorf("p.sum() = %q, want 7", got)
	}
	c.ok("%reset")
	if n := len(compiledSource(t, c, "fmt.Println(4)")); n > base+200 {
		t.Errorf("trivial cell after %%reset: %d bytes of Go, want about %d", n, base)
	}
}
