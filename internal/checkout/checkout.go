// Package checkout finds the gostudy checkout a program runs from: the folder that holds
// gostudy's go.mod. Lessons keep their runs under it (runs/), the command-line tool finds the
// kernel's sources there, and tests read fixtures from it.
//
// One rule for everyone: walk up from each starting folder to the first go.mod whose module
// line names [ModulePath]. The starting folders are, in order, the working directory (a
// notebook runs in notebooks/, a test in its package), the folder of the executable (the
// set-up builds the tool into <checkout>/.bin) and the folder of this package's source as
// recorded at build time (a notebook cell's plugin or a test binary run from a temporary
// folder). A go.mod of another module is passed over, so a checkout nested in someone's
// own module is still found.
package checkout

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// ModulePath is gostudy's module path, as its go.mod declares it.
const ModulePath = "github.com/gostudy/gostudy"

// ErrNotFound is returned (wrapped) when no starting folder lies inside a gostudy checkout.
var ErrNotFound = errors.New("no gostudy checkout found")

// IsRoot reports whether dir holds a go.mod that declares [ModulePath].
func IsRoot(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == ModulePath
		}
	}
	return false
}

// Find walks up from each of starts, in order, and returns the first checkout root it meets.
// Relative starts are taken from the working directory.
func Find(starts ...string) (string, error) {
	for _, s := range starts {
		if s == "" {
			continue
		}
		dir, err := filepath.Abs(s)
		if err != nil {
			continue
		}
		for {
			if IsRoot(dir) {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("%w (a go.mod declaring %s) above %s", ErrNotFound, ModulePath, strings.Join(starts, ", "))
}

// Starts are the folders [Root] walks up from: the working directory, the executable's folder
// (symbolic links resolved) and this package's source folder when the build recorded an
// absolute path (not with -trimpath).
func Starts() []string {
	var out []string
	if wd, err := os.Getwd(); err == nil {
		out = append(out, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			out = append(out, filepath.Dir(real))
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		out = append(out, filepath.Dir(file))
	}
	return out
}

// root caches Root: the working directory of a process rarely moves, and a notebook asks
// once per cell.
var root = struct {
	sync.Mutex
	wd, dir string
}{}

// Root returns the checkout that holds the working directory, else the executable, else this
// package's source (see [Starts]).
func Root() (string, error) {
	wd, _ := os.Getwd()
	root.Lock()
	defer root.Unlock()
	if root.dir != "" && root.wd == wd {
		return root.dir, nil
	}
	dir, err := Find(Starts()...)
	if err != nil {
		return "", err
	}
	root.wd, root.dir = wd, dir
	return dir, nil
}

// Path returns the absolute path of rel (slash-separated) inside the checkout.
func Path(rel string) (string, error) {
	dir, err := Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.FromSlash(rel)), nil
}
