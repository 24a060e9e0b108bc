package kernel

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"time"

	"github.com/gostudy/gostudy/kernel/internal/compiler"
)

// A notebook's extra modules live in its session's module (a temporary folder made for each
// kernel session), never in the project's go.mod: a cell importing a package that no
// module of the session provides makes the kernel `go get` it there, with a note in the
// cell's output, and `!go get` / `!go mod` lines run there too. The project's go.mod changes
// only when the user runs the go command on it outside the notebook (a terminal, or
// `!cd DIR && go get ...`, which runs as written). See docs/kernel.md.

// fetchModules adds the modules providing paths to the session module. When that changes a
// package the runner itself was built from (go get may upgrade shared dependencies), it
// rebuilds the runner and asks for a runner restart before the cell runs.
func (e *Engine) fetchModules(ctx context.Context, paths []string) ([]string, error) {
	gctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	out, err := e.tc.GoCommandOutput(gctx, append([]string{"get"}, paths...)...)
	if err != nil {
		return nil, fmt.Errorf("cannot fetch the module of %s: %v", strings.Join(paths, ", "), err)
	}
	var notes []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "go: "))
		if strings.HasPrefix(line, "added ") || strings.HasPrefix(line, "upgraded ") {
			notes = append(notes, line+" in this session's module (the project's go.mod is unchanged)")
		}
	}
	if len(notes) == 0 {
		notes = append(notes, fmt.Sprintf("fetched the module of %s into this session's module (the project's go.mod is unchanged)", strings.Join(paths, ", ")))
	}
	restarted, err := e.refreshModules(ctx)
	if err != nil {
		return notes, err
	}
	if restarted {
		notes = append(notes, "the new module changed packages the runner uses; the runner is restarted")
	}
	return notes, nil
}

// sessionGoCommand reports whether a shell line is a go command that changes module
// requirements (go get, go mod ...): those run in the session's module, not in the
// notebook's folder, so the project's go.mod is untouched.
func sessionGoCommand(script string) bool {
	f := strings.Fields(script)
	return len(f) >= 2 && f[0] == "go" && (f[1] == "get" || f[1] == "mod")
}

// afterGoGet makes the session see requirements a `go get` or `go mod` line changed.
func (e *Engine) afterGoGet() {
	if e.tc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := e.refreshModules(ctx); err != nil {
		e.log.Warn("after go get", "err", err)
	}
}

// refreshModules lists the packages again after the session module's requirements changed,
// and rebuilds the runner (to be restarted before the next cell) when packages it was built
// from changed. It reports whether it did.
func (e *Engine) refreshModules(ctx context.Context) (bool, error) {
	runnerPkg := sessionModule + "/runner"
	before := e.tc.DepExports(runnerPkg)
	e.mu.Lock()
	e.modChanged = true
	e.mu.Unlock()
	e.tc.Forget()
	if _, err := e.tc.Ensure(ctx, []string{"fmt", compiler.CellRuntimePath, runnerPkg}); err != nil {
		return false, err
	}
	if after := e.tc.DepExports(runnerPkg); maps.Equal(before, after) {
		return false, nil
	}
	bin := filepath.Join(e.dir, fmt.Sprintf("runner-%d.bin", time.Now().UnixNano()))
	if _, err := e.tc.GoCommand(ctx, "build", "-o", bin, "./runner"); err != nil {
		return false, fmt.Errorf("rebuild the runner: %w", err)
	}
	e.mu.Lock()
	e.runnerBin = bin
	e.restartRunner = true
	e.mu.Unlock()
	return true, nil
}
