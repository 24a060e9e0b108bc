package compiler

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ToolchainState is what a Toolchain learned from the go command: the compile and link
// command templates, the packages listed so far (with their compiled export data in the Go
// build cache) and the local source files they were built from. A later session with the
// same module graph, Go toolchain and settings restores it instead of asking the go command
// again, which saves most of a second before its first cell.
type ToolchainState struct {
	Compile  []string
	Link     []string
	Packages []*ListedPackage
	Local    map[string]time.Time
	Listed   []string
	Std      map[string]string
}

// State returns a copy of what the toolchain knows, for RestoreToolchain.
func (t *Toolchain) State() ToolchainState {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := ToolchainState{
		Compile: slices.Clone(t.compile),
		Link:    slices.Clone(t.link),
		Local:   map[string]time.Time{},
		Listed:  slices.Clone(t.listedAt),
		Std:     maps.Clone(t.std),
	}
	// Packages of the session module itself live in this session's folder, which goes away.
	inSession := func(path string) bool {
		return strings.HasPrefix(path, t.dir+string(filepath.Separator)) || path == t.dir
	}
	for path, mt := range t.local {
		if !inSession(path) {
			st.Local[path] = mt
		}
	}
	for _, path := range slices.Sorted(maps.Keys(t.pkgs)) {
		if p := t.pkgs[path]; !inSession(p.Dir) {
			st.Packages = append(st.Packages, p)
		}
	}
	return st
}

// Size is the number of packages the toolchain has listed (to tell whether a saved state
// is behind).
func (t *Toolchain) Size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pkgs)
}

// ErrStale is returned by RestoreToolchain when a saved state no longer matches the files
// on disk.
type ErrStale struct{ Reason string }

func (e *ErrStale) Error() string { return "saved toolchain state is stale: " + e.Reason }

// RestoreToolchain makes a Toolchain for the module at dir from a saved state, after
// checking that every local source file is unchanged and every export file still exists
// (the go command trims its build cache). It returns *ErrStale when not.
func RestoreToolchain(ctx context.Context, goCmd, dir string, env []string, st ToolchainState) (*Toolchain, error) {
	if len(st.Compile) == 0 || len(st.Link) == 0 {
		return nil, &ErrStale{Reason: "no compile or link command"}
	}
	for path, mt := range st.Local {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fi, err := os.Stat(path)
		if err != nil || !fi.ModTime().Equal(mt) {
			return nil, &ErrStale{Reason: fmt.Sprintf("%s changed", path)}
		}
	}
	t := &Toolchain{goCmd: goCmd, dir: dir, env: env, compile: st.Compile, link: st.Link,
		pkgs: map[string]*ListedPackage{}, local: maps.Clone(st.Local), listedAt: st.Listed, std: st.Std}
	if t.local == nil {
		t.local = map[string]time.Time{}
	}
	for _, p := range st.Packages {
		if p.Export != "" {
			if _, err := os.Stat(p.Export); err != nil {
				return nil, &ErrStale{Reason: fmt.Sprintf("export data of %s is gone from the build cache", p.ImportPath)}
			}
		}
		t.pkgs[p.ImportPath] = p
	}
	return t, nil
}

// LocalStamps returns the modification times, read now, of the folders and source files of
// the local packages (not in the module cache) among roots and their dependencies, as
// listed so far. A binary built from roots is stale when one of them changes.
func (t *Toolchain) LocalStamps(roots []string) map[string]time.Time {
	t.mu.Lock()
	var pkgs []*ListedPackage
	seen := map[string]bool{}
	for _, r := range roots {
		lp, ok := t.pkgs[r]
		if !ok {
			continue
		}
		for _, p := range append([]string{r}, lp.Deps...) {
			if dp, ok := t.pkgs[p]; ok && !seen[p] {
				seen[p] = true
				pkgs = append(pkgs, dp)
			}
		}
	}
	t.mu.Unlock()
	stamps := map[string]time.Time{}
	for _, p := range pkgs {
		if p.Standard || p.Module == nil || isModuleCache(p.Dir) || strings.HasPrefix(p.Dir, t.dir+string(filepath.Separator)) {
			continue
		}
		for _, f := range append([]string{p.Dir}, append(slices.Clone(p.GoFiles), p.CgoFiles...)...) {
			if !filepath.IsAbs(f) {
				f = filepath.Join(p.Dir, f)
			}
			if fi, err := os.Stat(f); err == nil {
				stamps[f] = fi.ModTime()
			}
		}
	}
	return stamps
}

// StampsCurrent reports whether every file in stamps still has its recorded time.
func StampsCurrent(stamps map[string]time.Time) bool {
	for f, mt := range stamps {
		fi, err := os.Stat(f)
		if err != nil || !fi.ModTime().Equal(mt) {
			return false
		}
	}
	return true
}

// Forget drops everything listed, so the next Ensure asks the go command again: after the
// session module's requirements changed (go get), any package may resolve to another
// version.
func (t *Toolchain) Forget() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pkgs = map[string]*ListedPackage{}
	t.std = nil
}

// DepExports returns the export files of a listed package and its dependencies (empty when
// the package is not listed): two results differ when a dependency was rebuilt or changed
// version.
func (t *Toolchain) DepExports(path string) map[string]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]string{}
	lp, ok := t.pkgs[path]
	if !ok {
		return out
	}
	for _, d := range append([]string{path}, lp.Deps...) {
		if p, ok := t.pkgs[d]; ok {
			out[d] = p.Export
		}
	}
	return out
}
