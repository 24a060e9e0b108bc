package kernel

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Each kernel keeps its session module, runner binaries and completion files in a session
// directory in the temporary folder, removed when the kernel closes. A kernel that is
// killed cannot remove it, so every kernel, as it starts, removes the directories of kernels
// that are gone. Whose a directory is comes from its kernel.pid file, and also from its name
// (gostudy-session-<pid>-<random>): a kernel killed while it creates or removes the
// directory may leave it without kernel.pid, and the name still tells.

const (
	sessionDirPrefix = "gostudy-session-"
	sessionPidFile   = "kernel.pid"
	// orphanAge is how old a directory of the older naming (no pid in the name) without
	// kernel.pid must be before it is removed: far longer than a kernel takes to write
	// the file after creating the directory.
	orphanAge = 10 * time.Minute
)

// makeSessionDir creates this kernel's session directory and its kernel.pid file.
func makeSessionDir() (string, error) {
	pid := os.Getpid()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", sessionDirPrefix, pid))
	if err != nil {
		return "", fmt.Errorf("create session directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, sessionPidFile), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("write session pid file: %w", err)
	}
	return dir, nil
}

// removeSessionDir removes a session directory, kernel.pid last, so a kernel killed on the
// way leaves a directory the next kernel recognises as stale. Entries that appear while it
// removes (a completion request racing a shutdown) are removed on another pass.
func removeSessionDir(dir string) error {
	var err error
	for range 3 {
		var entries []os.DirEntry
		entries, err = os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("remove session directory: %w", err)
		}
		for _, en := range entries {
			if en.Name() != sessionPidFile {
				if rerr := os.RemoveAll(filepath.Join(dir, en.Name())); rerr != nil {
					err = rerr
				}
			}
		}
		if err != nil {
			continue
		}
		if err = os.Remove(filepath.Join(dir, sessionPidFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err = os.Remove(dir); err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	return fmt.Errorf("remove session directory: %w", err)
}

// sessionOwner returns the pid of the kernel a session directory belongs to, from its
// kernel.pid or else its name; ok is false when neither says.
func sessionOwner(dir string) (pid int, ok bool) {
	if data, err := os.ReadFile(filepath.Join(dir, sessionPidFile)); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
			return pid, true
		}
	}
	name, _ := strings.CutPrefix(filepath.Base(dir), sessionDirPrefix)
	if p, _, found := strings.Cut(name, "-"); found {
		if pid, err := strconv.Atoi(p); err == nil && pid > 0 {
			return pid, true
		}
	}
	return 0, false
}

// cleanStaleSessions removes the session directories of kernels that are gone.
func cleanStaleSessions() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), sessionDirPrefix+"*"))
	for _, d := range dirs {
		pid, ok := sessionOwner(d)
		if !ok {
			// The older naming, and no kernel.pid: a kernel killed as it created or removed
			// the directory. One being created has its kernel.pid a moment later.
			if fi, err := os.Stat(d); err == nil && fi.IsDir() && time.Since(fi.ModTime()) > orphanAge {
				_ = removeSessionDir(d)
			}
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = removeSessionDir(d)
		}
	}
}
