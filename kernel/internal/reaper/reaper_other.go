//go:build unix && !linux

package reaper

import (
	"os/exec"
	"syscall"
)

// On systems without /proc and subreapers, children get their own process group, which
// Kill ends; a killed kernel may leave grandchildren behind (the kernel is tested on
// Linux only).

// Prepare starts cmd in a process group of its own.
func Prepare(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

// StartGuard does nothing here.
func StartGuard() error { return nil }

// Watch does nothing here.
func Watch(int) {}

// Kill kills pid's process group.
func Kill(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// KillDescendants does nothing here.
func KillDescendants() {}

// BecomeSubreaper does nothing here.
func BecomeSubreaper() error { return nil }
