package kernel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gostudy/gostudy/kernel/internal/compiler"
	"github.com/gostudy/gostudy/kernel/internal/reaper"
)

// A session spends most of its preparation asking the go command things whose answers only
// change with the module graph, the Go toolchain and its settings: the plugin build flags,
// the runner binary, the compiled packages cells use. The session cache keeps them, keyed by
// those inputs, in the user's cache folder; the set-up's warm step fills it, and a session
// whose key matches (and whose local source files are unchanged) starts from it. This is
// what takes the first cell of a session from about a second to the cost of any cell.

// sessionCacheVersion changes when the layout of a cached session changes.
const sessionCacheVersion = 5

// cachedSession is the file session.json in a cache entry.
type cachedSession struct {
	Version   int
	Toolchain compiler.ToolchainState
	Known     map[string]string // package name → import path, for missing imports
	Runner    string            // runner binary, a file name in the entry's folder
	// RunnerStamps are the times of the local source files the runner was built from; the
	// entry is stale when one changed (the toolchain's own stamps follow later edits).
	RunnerStamps map[string]time.Time
	// RunnerExports are the export files of the packages the runner was built from. The
	// session module's own runner package is not in the toolchain state (its folder goes
	// with the session), so a restored session learns them from here.
	RunnerExports map[string]string
	ExtLD         string // linker wrapper, a file name in the entry's folder
}

// sessionCache is one entry of the cache: a folder named by the session's key.
type sessionCache struct {
	dir string
}

// runnerSource is the session module's runner command.
const runnerSource = "// Command runner runs the cells of one gostudy kernel session.\npackage main\n\nimport \"" +
	ModulePath + "/kernel/runner\"\n\nfunc main() { runner.Main() }\n"

// goSettings are the go env variables that change what the go command builds.
var goSettings = []string{"GOVERSION", "GOROOT", "GOOS", "GOARCH", "GOAMD64", "GOARM64", "GOEXPERIMENT",
	"GOFLAGS", "CGO_ENABLED", "CC", "CGO_CFLAGS", "CGO_CPPFLAGS", "CGO_LDFLAGS", "GOCACHE", "GOMODCACHE", "GOTOOLCHAIN"}

// openSessionCache finds the cache entry for the session module in dir (whose go.mod and
// go.sum are written), for the go command and environment the session uses.
func openSessionCache(ctx context.Context, root, goCmd, dir string, env []string) (*sessionCache, error) {
	if root == "" {
		root = os.Getenv("GOSTUDY_CACHE_DIR")
	}
	if root == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("session cache: %w", err)
		}
		root = filepath.Join(base, "gostudy")
	}
	h := sha256.New()
	fmt.Fprintf(h, "gostudy session cache %d\n%s\n", sessionCacheVersion, runnerSource)
	settings, err := goEnv(ctx, goCmd, dir, env)
	if err != nil {
		return nil, err
	}
	h.Write(settings)
	for _, name := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("session cache: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", name, len(data))
		h.Write(data)
	}
	key := hex.EncodeToString(h.Sum(nil))[:24]
	c := &sessionCache{dir: filepath.Join(root, "session-"+key)}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, fmt.Errorf("session cache: %w", err)
	}
	return c, nil
}

// goEnv returns `go env` for the settings that change builds.
func goEnv(ctx context.Context, goCmd, dir string, env []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// Through the reaper, like every command the kernel starts: nothing outlives the kernel.
	cmd := reaper.CommandContext(ctx, goCmd, append([]string{"env"}, goSettings...)...)
	cmd.Dir, cmd.Env = dir, env
	var stdout bytes.Buffer
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := reaper.Run(cmd); err != nil {
		return nil, fmt.Errorf("go env: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// load reads the entry; ok is false when it is missing or from another version.
func (c *sessionCache) load() (*cachedSession, bool) {
	data, err := os.ReadFile(filepath.Join(c.dir, "session.json"))
	if err != nil {
		return nil, false
	}
	var s cachedSession
	if err := json.Unmarshal(data, &s); err != nil || s.Version != sessionCacheVersion || s.Runner == "" {
		return nil, false
	}
	if _, err := os.Stat(filepath.Join(c.dir, s.Runner)); err != nil {
		return nil, false
	}
	return &s, true
}

// save writes the entry; the runner binary at runnerBin is copied in unless it already lies
// in the entry. It returns the runner's path in the entry.
func (c *sessionCache) save(s *cachedSession, runnerBin string) (string, error) {
	s.Version = sessionCacheVersion
	if filepath.Dir(runnerBin) != c.dir {
		// A new name for every build: a session still using the previous runner binary may
		// need it again (to restart its runner), so it is never overwritten.
		name := fmt.Sprintf("%d-%d.runner.bin", time.Now().UnixNano(), os.Getpid())
		if err := copyExecutable(runnerBin, filepath.Join(c.dir, name)); err != nil {
			return "", err
		}
		s.Runner = name
	} else {
		s.Runner = filepath.Base(runnerBin)
	}
	data, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("session cache: %w", err)
	}
	tmp := filepath.Join(c.dir, fmt.Sprintf("session.json.%d", os.Getpid()))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return "", fmt.Errorf("session cache: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, "session.json")); err != nil {
		return "", fmt.Errorf("session cache: %w", err)
	}
	c.removeOldRunners(s.Runner)
	c.removeStaleEntries()
	return filepath.Join(c.dir, s.Runner), nil
}

// entryLifetime is how long an entry nobody restored or saved is kept.
const entryLifetime = 14 * 24 * time.Hour

// removeStaleEntries deletes other entries (older Go versions, module graphs, cache
// layouts) that no session used for entryLifetime; a restore marks an entry used.
func (c *sessionCache) removeStaleEntries() {
	others, _ := filepath.Glob(filepath.Join(filepath.Dir(c.dir), "session-*"))
	for _, d := range others {
		if d == c.dir {
			continue
		}
		// Without a session.json the entry may be being written: judge it by the folder.
		fi, err := os.Stat(filepath.Join(d, "session.json"))
		if err != nil {
			fi, err = os.Stat(d)
		}
		if err == nil && time.Since(fi.ModTime()) > entryLifetime {
			_ = os.RemoveAll(d)
		}
	}
}

// touch marks the entry used now.
func (c *sessionCache) touch() {
	now := time.Now()
	_ = os.Chtimes(filepath.Join(c.dir, "session.json"), now, now)
}

// removeOldRunners deletes runner binaries other than keep that are older than a day (a
// session running that long keeps its runner alive; only a restart would need the file).
func (c *sessionCache) removeOldRunners(keep string) {
	old, _ := filepath.Glob(filepath.Join(c.dir, "*.runner.bin"))
	for _, p := range old {
		if filepath.Base(p) == keep {
			continue
		}
		if fi, err := os.Stat(p); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
			_ = os.Remove(p)
		}
	}
}

// copyExecutable copies src to dst through a temporary file, so a reader never sees half.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("session cache: %w", err)
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return fmt.Errorf("session cache: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return fmt.Errorf("session cache: copy runner: %w", err)
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("session cache: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("session cache: %w", err)
	}
	return nil
}

// restore makes session st's toolchain from a cache entry; it reports why not when the
// entry is stale.
func (e *Engine) restore(ctx context.Context, st *session, c *sessionCache, env []string) error {
	s, ok := c.load()
	if !ok {
		return errors.New("no cached session")
	}
	if len(s.RunnerStamps) == 0 || len(s.RunnerExports) == 0 || !compiler.StampsCurrent(s.RunnerStamps) {
		return errors.New("the runner's sources changed")
	}
	tc, err := compiler.RestoreToolchain(ctx, e.opts.GoCmd, e.dir, env, s.Toolchain)
	if err != nil {
		return err
	}
	if s.ExtLD != "" {
		if _, err := os.Stat(filepath.Join(c.dir, s.ExtLD)); err != nil {
			return fmt.Errorf("linker wrapper is gone: %w", err)
		}
	}
	c.touch()
	st.tc = tc
	st.runnerBin = filepath.Join(c.dir, s.Runner)
	st.known = s.Known
	st.runnerStamps = s.RunnerStamps
	st.runnerExports = s.RunnerExports
	st.saved = tc.Size()
	if s.ExtLD != "" {
		st.extld = filepath.Join(c.dir, s.ExtLD)
	}
	return nil
}

// savedPackages is the number of packages in the session's cached state.
func (st *session) savedPackages() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.saved
}

// saveSession records session st's toolchain state (and runner) in its cache entry. Saves
// of one session are serialized (set-up, Warm and Close may each save).
func (e *Engine) saveSession(st *session) {
	if st.cache == nil || st.tc == nil {
		return
	}
	if replaced := e.saveSessionLocked(st); replaced != "" {
		e.dropRunner(replaced)
	}
}

// saveSessionLocked is saveSession under st.mu; it returns the runner binary the cached copy
// replaced, if it did.
func (e *Engine) saveSessionLocked(st *session) (replaced string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.modChanged {
		// The session's go.mod is no longer the one the entry's key was computed from.
		return ""
	}
	if !compiler.StampsCurrent(st.runnerStamps) {
		// A source of the runner changed during the session: the next one builds a new one.
		return ""
	}
	s := &cachedSession{Toolchain: st.tc.State(), Known: st.known, RunnerStamps: st.runnerStamps, RunnerExports: st.runnerExports}
	if strings.HasPrefix(st.extld, st.cache.dir+string(filepath.Separator)) {
		s.ExtLD = filepath.Base(st.extld)
	}
	bin, err := st.cache.save(s, st.runnerBin)
	if err != nil {
		e.log.Warn("could not save the session for the next one", "err", err)
		return ""
	}
	st.saved = len(s.Toolchain.Packages)
	if st.runnerBin != bin {
		// The same binary; using the cached copy keeps later saves from copying it again.
		replaced, st.runnerBin = st.runnerBin, bin
		e.log.Info("session cached", "dir", st.cache.dir)
	}
	return replaced
}
