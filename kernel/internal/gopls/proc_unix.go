//go:build unix

package gopls

import (
	"os/exec"
	"syscall"
)

// isolate puts gopls in a process group of its own, so that killing the group also
// ends the go commands it runs.
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killTree kills gopls and whatever is left in its process group.
func killTree(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Process.Kill()
}
