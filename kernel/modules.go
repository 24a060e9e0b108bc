package kernel

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"

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
func (e *Engine) fetchModules(ctx context.Context, st *session, paths []string) ([]string, error) {
	gctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	out, err := st.tc.GoCommandOutput(gctx, append([]string{"get"}, paths...)...)
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
	restarted, err := e.refreshModules(ctx, st)
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

// afterGoGet makes session st see requirements a `go get` or `go mod` line changed.
func (e *Engine) afterGoGet(st *session) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := e.refreshModules(ctx, st); err != nil {
		e.log.Warn("after go get", "err", err)
	}
}

// refreshModules lists the packages again after the session module's requirements changed,
// and rebuilds the runner (to be restarted before the next cell) when packages it was built
// from changed. It reports whether it did.
func (e *Engine) refreshModules(ctx context.Context, st *session) (bool, error) {
	runnerPkg := sessionModule + "/runner"
	st.mu.Lock()
	st.modChanged = true
	before := st.runnerExports
	st.mu.Unlock()
	st.tc.Forget()
	if _, err := st.tc.Ensure(ctx, []string{"fmt", compiler.CellRuntimePath, runnerPkg}); err != nil {
		return false, err
	}
	after := runnerDepExports(st.tc)
	if maps.Equal(before, after) {
		return false, nil
	}
	bin := e.newRunnerPath()
	if _, err := st.tc.GoCommand(ctx, "build", "-o", bin, "./runner"); err != nil {
		return false, fmt.Errorf("rebuild the runner: %w", err)
	}
	st.mu.Lock()
	old := st.runnerBin
	st.runnerBin = bin
	st.runnerExports = after
	st.restartRunner = true
	st.mu.Unlock()
	e.dropRunner(old)
	return true, nil
}

// runnerDepExports are the export files of the packages the session's runner is built
// from, without its own package: that one is compiled in the session's folder, so its export
// differs from session to session while its source (runnerSource) does not.
func runnerDepExports(tc *compiler.Toolchain) map[string]string {
	exports := tc.DepExports(sessionModule + "/runner")
	delete(exports, sessionModule+"/runner")
	return exports
}

// sessionModuleSpec describes the session module for the gostudy checkout at repoDir and a
// notebook in workDir: it requires the checkout and, when the notebook lies inside another
// Go module (a user's own project), that module too, from its folder, with both modules'
// requirements, replace directives and go.sum lines. Cells can then import the user's
// packages, and see edits to them (they are local sources, re-listed when they change).
func sessionModuleSpec(repoDir, workDir string) (compiler.ModuleSpec, error) {
	spec := compiler.ModuleSpec{Path: sessionModule, GoVersion: "1.26"}
	dirs := []string{repoDir}
	if d := enclosingModule(workDir); d != "" && d != repoDir {
		dirs = append(dirs, d)
	}
	for i, dir := range dirs {
		gomod := filepath.Join(dir, "go.mod")
		data, err := os.ReadFile(gomod)
		if err != nil {
			if i > 0 {
				break // the notebook's module went away: run with the checkout alone
			}
			return spec, fmt.Errorf("read %s: %w", gomod, err)
		}
		mf, err := modfile.Parse(gomod, data, nil)
		if err != nil {
			if i > 0 {
				break
			}
			return spec, fmt.Errorf("parse %s: %w", gomod, err)
		}
		if mf.Module == nil || slices.ContainsFunc(spec.Local, func(m compiler.LocalModule) bool { return m.Path == mf.Module.Mod.Path }) {
			continue
		}
		spec.Local = append(spec.Local, compiler.LocalModule{Path: mf.Module.Mod.Path, Dir: dir})
		for _, r := range mf.Require {
			spec.Requires = append(spec.Requires, r.Mod.Path+" "+r.Mod.Version)
		}
		for _, r := range mf.Replace {
			newPath := r.New.Path
			if modfile.IsDirectoryPath(newPath) && !filepath.IsAbs(newPath) {
				newPath = filepath.Join(dir, newPath)
			}
			old := r.Old.Path
			if r.Old.Version != "" {
				old += " " + r.Old.Version
			}
			repl := newPath
			if r.New.Version != "" {
				repl += " " + r.New.Version
			}
			spec.Replaces = append(spec.Replaces, old+" => "+repl)
		}
		if mf.Go != nil && semver.Compare("v"+mf.Go.Version, "v"+spec.GoVersion) > 0 {
			spec.GoVersion = mf.Go.Version
		}
		spec.SumFiles = append(spec.SumFiles, filepath.Join(dir, "go.sum"))
	}
	return spec, nil
}

// enclosingModule returns the folder of the nearest go.mod at or above dir, or "".
func enclosingModule(dir string) string {
	for d := dir; d != ""; d = filepath.Dir(d) {
		if fi, err := os.Stat(filepath.Join(d, "go.mod")); err == nil && !fi.IsDir() {
			return d
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return ""
}
