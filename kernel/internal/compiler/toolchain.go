package compiler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gostudy/gostudy/kernel/internal/reaper"
)

// Toolchain compiles and links cell plugins by calling `go tool compile` and `go tool link`
// directly, with the flags `go build -buildmode=plugin` would use. Going around the go
// command saves most of a second per cell: `go build` re-hashes every dependency (GoMLX has
// hundreds of files) before it finds that only the cell changed. The go command is still
// used where it is good: to learn the flags once (`go build -n`), and to build and locate
// the compiled dependencies (`go list -export -deps`), whose results are cached here.
type Toolchain struct {
	goCmd   string
	dir     string // the session module directory
	env     []string
	compile []string // compile command template, without -o/-p/-importcfg/files
	link    []string // link command template, without -o/-importcfg/-pluginpath/archive

	mu       sync.Mutex
	pkgs     map[string]*ListedPackage // import path → package, for everything listed so far
	local    map[string]time.Time      // source files of non-module-cache packages → mtime
	listedAt []string                  // roots listed so far, re-listed when local files change
	std      map[string]string         // standard-library package name → path
}

// ListedPackage is what `go list -export -json` says about one package.
type ListedPackage struct {
	ImportPath string
	Name       string
	Export     string
	Dir        string
	GoFiles    []string
	CgoFiles   []string
	Standard   bool
	Deps       []string
	Module     *struct {
		Path string
		Dir  string
		Main bool
	}
	Error *struct {
		Err string
	}
	DepsErrors []*struct {
		Err string
	}
}

// NewToolchain learns the compile and link flags for plugins in the module at dir by asking
// `go build -n` to show (not run) the build of a tiny probe package.
func NewToolchain(ctx context.Context, goCmd, dir string, env []string) (*Toolchain, error) {
	t := &Toolchain{goCmd: goCmd, dir: dir, env: env, pkgs: map[string]*ListedPackage{}, local: map[string]time.Time{}}
	probe := filepath.Join(dir, "internal", "probe")
	if err := os.MkdirAll(probe, 0o755); err != nil {
		return nil, fmt.Errorf("create probe package: %w", err)
	}
	src := "package main\n\nimport \"fmt\"\n\n// Run is the probe's entry point.\nfunc Run() { fmt.Println() }\n"
	if err := os.WriteFile(filepath.Join(probe, "main.go"), []byte(src), 0o644); err != nil {
		return nil, fmt.Errorf("write probe package: %w", err)
	}
	stdout, out, err := t.runSplit(ctx, "", "build", "-n", "-buildmode=plugin", "-o", filepath.Join(dir, "probe.so"), "./internal/probe")
	out = stdout + out
	if err != nil {
		return nil, fmt.Errorf("go build -n (learning plugin build flags): %w", err)
	}
	for _, line := range strings.Split(out, "\n") {
		args := shellWords(line)
		if len(args) == 0 {
			continue
		}
		tool := filepath.Base(args[0])
		if i := slices.Index(args, "-p"); tool == "compile" && i >= 0 && i+1 < len(args) && strings.HasSuffix(args[i+1], "internal/probe") {
			t.compile = compileTemplate(args)
		}
		if tool == "link" && slices.Contains(args, "-buildmode=plugin") {
			t.link = linkTemplate(args)
		}
		// `go build -n` prefixes tools run with GOROOT set: "GOROOT='/x' /x/pkg/tool/.../link ..."
		if strings.HasPrefix(line, "GOROOT=") && len(args) > 1 && filepath.Base(args[1]) == "link" && slices.Contains(args, "-buildmode=plugin") {
			t.link = linkTemplate(args[1:])
		}
	}
	if t.compile == nil || t.link == nil {
		return nil, fmt.Errorf("could not find the compile and link commands in `go build -n` output:\n%s", out)
	}
	return t, nil
}

// compileTemplate drops the per-package arguments of a compile command line.
func compileTemplate(args []string) []string {
	withValue := map[string]bool{"-o": true, "-p": true, "-importcfg": true, "-buildid": true,
		"-trimpath": true, "-embedcfg": true, "-symabis": true, "-asmhdr": true}
	var tpl []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case withValue[a]:
			i++
		case a == "-pack" || strings.HasSuffix(a, ".go"):
		default:
			tpl = append(tpl, a)
		}
	}
	return tpl
}

// linkTemplate drops the per-plugin arguments of a link command line and strips symbols,
// which makes linking faster; stack traces still have function names and lines.
func linkTemplate(args []string) []string {
	withValue := map[string]bool{"-o": true, "-importcfg": true, "-buildid": true, "-pluginpath": true}
	var tpl []string
	for i := 0; i < len(args)-1; i++ { // the last argument is the package archive
		a := args[i]
		if withValue[a] {
			i++
			continue
		}
		if strings.HasPrefix(a, "-buildid=") {
			continue
		}
		tpl = append(tpl, a)
	}
	for _, f := range []string{"-s", "-w"} {
		if !slices.Contains(tpl, f) {
			tpl = append(tpl, f)
		}
	}
	return tpl
}

// shellWords splits a command line the way `go build -n` quotes it (single and double quotes).
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote = c
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// run runs the go command in the session module and returns its standard output; the
// error includes standard error.
func (t *Toolchain) run(ctx context.Context, dir string, args ...string) (string, error) {
	out, _, err := t.runSplit(ctx, dir, args...)
	return out, err
}

// runSplit runs the go command and returns its stdout and stderr separately.
func (t *Toolchain) runSplit(ctx context.Context, dir string, args ...string) (string, string, error) {
	if dir == "" {
		dir = t.dir
	}
	// Cancelling ctx (an interrupt, shutdown) stops the go command and everything it
	// started (compilers, cgo, the linker); so does the kernel's death (reaper).
	cmd := reaper.CommandContext(ctx, t.goCmd, args...)
	cmd.Dir = dir
	cmd.Env = t.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := reaper.Run(cmd)
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return stdout.String(), stderr.String(), fmt.Errorf("go %s: %s", strings.Join(args, " "), msg)
	}
	// On success stdout is the answer; stderr holds warnings such as "matched no packages"
	// (and, for `go build -n`, the commands it would run).
	return stdout.String(), stderr.String(), nil
}

// GoCommandOutput runs the go command in the session module and returns what it printed on
// both streams (go get reports on stderr).
func (t *Toolchain) GoCommandOutput(ctx context.Context, args ...string) (string, error) {
	out, errOut, err := t.runSplit(ctx, "", args...)
	return out + errOut, err
}

// GoCommand runs the go command in the session module (used for the runner's build).
func (t *Toolchain) GoCommand(ctx context.Context, args ...string) (string, error) {
	return t.run(ctx, "", args...)
}

// Ensure makes sure the compiled export data of the packages (and their dependencies) is
// known, running `go list -export -deps` for the ones that are not (this builds them once in
// the Go build cache). It also re-lists everything when a local (non module cache) source
// file changed since it was listed, so edits to the project's own packages are picked up.
// It returns an error per import path that cannot be built.
func (t *Toolchain) Ensure(ctx context.Context, paths []string) (map[string]error, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var missing []string
	for _, p := range paths {
		if p == "unsafe" || p == "C" {
			continue
		}
		if _, ok := t.pkgs[p]; !ok {
			missing = append(missing, p)
		}
	}
	if t.localChanged() {
		missing = append(missing, t.listedAt...)
	}
	if len(missing) == 0 {
		return nil, nil
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	args := append([]string{"list", "-e", "-buildmode=plugin", "-export", "-deps",
		"-json=ImportPath,Name,Export,Dir,GoFiles,CgoFiles,Standard,Deps,Module,Error,DepsErrors"}, missing...)
	// With -e, go list reports broken packages in their JSON and still exits 0; a non-zero
	// exit with no output means the module itself is broken.
	out, err := t.run(ctx, "", args...)
	if err != nil && out == "" {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(out))
	listed := map[string]*ListedPackage{}
	for {
		var p ListedPackage
		if err := dec.Decode(&p); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			// go list printed something that is not JSON: an error message about the module.
			return nil, fmt.Errorf("go list: %s", strings.TrimSpace(out))
		}
		listed[p.ImportPath] = &p
	}
	failed := map[string]error{}
	for _, p := range missing {
		lp, ok := listed[p]
		switch {
		case !ok:
			failed[p] = fmt.Errorf("package %s: not found", p)
		case lp.Error != nil:
			failed[p] = errors.New(strings.TrimSpace(lp.Error.Err))
		case len(lp.DepsErrors) > 0:
			failed[p] = fmt.Errorf("package %s: %s", p, strings.TrimSpace(lp.DepsErrors[0].Err))
		case lp.Export == "" && p != "unsafe":
			failed[p] = fmt.Errorf("package %s: no export data (it did not compile)", p)
		}
	}
	for path, lp := range listed {
		if lp.Error == nil && (lp.Export != "" || path == "unsafe") {
			t.pkgs[path] = lp
			t.recordLocal(lp)
		}
	}
	for _, p := range missing {
		if failed[p] == nil && !slices.Contains(t.listedAt, p) {
			t.listedAt = append(t.listedAt, p)
		}
	}
	return failed, nil
}

// recordLocal remembers the modification times of a package's files and folder when the
// package is not in the module cache (the project itself, or a replace directive to a local
// folder).
func (t *Toolchain) recordLocal(p *ListedPackage) {
	if p.Standard || p.Module == nil || isModuleCache(p.Dir) {
		return
	}
	// The folder's time changes when a file is added or removed.
	for _, path := range append([]string{p.Dir}, append(slices.Clone(p.GoFiles), p.CgoFiles...)...) {
		if !filepath.IsAbs(path) {
			path = filepath.Join(p.Dir, path)
		}
		if st, err := os.Stat(path); err == nil {
			t.local[path] = st.ModTime()
		}
	}
}

// isModuleCache reports whether dir lies in a module cache (…/pkg/mod/…), whose contents
// never change.
func isModuleCache(dir string) bool {
	return strings.Contains(dir, string(filepath.Separator)+"pkg"+string(filepath.Separator)+"mod"+string(filepath.Separator))
}

// localChanged reports whether a recorded local source file changed or disappeared.
func (t *Toolchain) localChanged() bool {
	for path, mt := range t.local {
		st, err := os.Stat(path)
		if err != nil || !st.ModTime().Equal(mt) {
			clear(t.local)
			return true
		}
	}
	return false
}

// StdPackages maps the name of each standard-library package to its import path (for a
// name with several packages, the shortest path: rand → math/rand). Listed once, cached.
func (t *Toolchain) StdPackages(ctx context.Context) map[string]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.std != nil {
		return t.std
	}
	t.std = map[string]string{}
	out, err := t.run(ctx, "", "list", "-f", "{{.Name}} {{.ImportPath}}", "std")
	if err != nil {
		return t.std
	}
	for _, line := range strings.Split(out, "\n") {
		name, path, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || strings.Contains(path, "internal") || strings.HasPrefix(path, "vendor/") || name == "main" {
			continue
		}
		if old, dup := t.std[name]; !dup || len(path) < len(old) {
			t.std[name] = path
		}
	}
	return t.std
}

// Package returns what go list said about an import path.
func (t *Toolchain) Package(path string) (*ListedPackage, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.pkgs[path]
	return p, ok
}

// ExportFile returns the compiled export data file of a listed package.
func (t *Toolchain) ExportFile(path string) (string, bool) {
	p, ok := t.Package(path)
	if !ok || p.Export == "" {
		return "", false
	}
	return p.Export, true
}

// closure returns the import paths of pkgs and all their dependencies.
func (t *Toolchain) closure(pkgs []string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := map[string]bool{}
	for _, p := range pkgs {
		if lp, ok := t.pkgs[p]; ok {
			seen[p] = true
			for _, d := range lp.Deps {
				seen[d] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Build compiles the Go file src as package pkgPath and links it into a plugin at soPath.
// imports are the packages the file imports directly. Compiler errors are returned as they
// were printed (positions follow the //line directives in src).
func (t *Toolchain) Build(ctx context.Context, dir, pkgPath string, src []byte, imports []string, soPath string, tm *Timings) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	goFile := filepath.Join(dir, "cell.go")
	if err := os.WriteFile(goFile, src, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", goFile, err)
	}
	// The linker always needs the runtime and cgo runtime, even when the cell imports nothing.
	roots := append(slices.Clone(imports), "runtime", "runtime/cgo", "plugin")
	deps := t.closure(roots)
	var cfg strings.Builder
	for _, p := range deps {
		if f, ok := t.ExportFile(p); ok {
			fmt.Fprintf(&cfg, "packagefile %s=%s\n", p, f)
		}
	}
	compileCfg := filepath.Join(dir, "importcfg")
	if err := os.WriteFile(compileCfg, []byte(cfg.String()), 0o644); err != nil {
		return fmt.Errorf("write importcfg: %w", err)
	}
	archive := filepath.Join(dir, "cell.a")
	args := append(slices.Clone(t.compile[1:]), "-o", archive, "-p", pkgPath, "-importcfg", compileCfg, "-pack", goFile)
	t0 := time.Now()
	out, err := t.tool(ctx, dir, t.compile[0], args)
	tm.Compile += time.Since(t0)
	if err != nil {
		return &ToolError{Tool: "compile", Output: out, Err: err}
	}
	fmt.Fprintf(&cfg, "packagefile %s=%s\n", pkgPath, archive)
	linkCfg := filepath.Join(dir, "importcfg.link")
	if err := os.WriteFile(linkCfg, []byte(cfg.String()), 0o644); err != nil {
		return fmt.Errorf("write importcfg.link: %w", err)
	}
	largs := append(slices.Clone(t.link[1:]), "-o", soPath, "-importcfg", linkCfg, "-pluginpath", pkgPath, archive)
	t1 := time.Now()
	out, err = t.tool(ctx, dir, t.link[0], largs)
	tm.Link += time.Since(t1)
	if err != nil {
		return &ToolError{Tool: "link", Output: out, Err: err}
	}
	return nil
}

// tool runs a compiler tool and returns its combined output.
func (t *Toolchain) tool(ctx context.Context, dir, name string, args []string) (string, error) {
	cmd := reaper.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = t.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := reaper.Run(cmd)
	return out.String(), err
}

// ToolError is a failed compile or link; Output is what the tool printed.
type ToolError struct {
	Tool   string
	Output string
	Err    error
}

func (e *ToolError) Error() string {
	return fmt.Sprintf("%s: %v\n%s", e.Tool, e.Err, e.Output)
}

// Diagnostics parses compiler output lines "file:line:col: message" into diagnostics.
func (e *ToolError) Diagnostics() []Diagnostic {
	var ds []Diagnostic
	// Not a bufio.Scanner: its 64 KiB line limit would silently drop the rest.
	for _, line := range strings.Split(e.Output, "\n") {
		if d, ok := parseDiagnostic(line); ok {
			ds = append(ds, d)
		}
	}
	return ds
}
