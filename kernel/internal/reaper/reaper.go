// Package reaper makes sure that nothing a kernel session starts outlives the kernel,
// however the kernel ends, including kill -9.
//
// A killed process cannot clean up, and the parent-death signal (Pdeathsig) reaches only
// its direct children: the grandchildren (both ends of `!a | b`, a process a cell started
// with exec.Command, the compilers the go command runs) would be re-parented and live on.
// So the kernel starts, once, a small guard process (this package's code in a copy of the
// kernel's own executable) that reads the ids of the kernel's children from a pipe. When the
// pipe reaches end of file, the kernel is gone, and the guard kills every process in those
// children's sessions and process groups, and all their descendants, then exits.
//
// Every child is started in a session of its own (Prepare), so its session id names it and
// everything it starts, even after re-parenting or a change of process group. The runner
// also makes itself a child subreaper, so orphans of cells become its children and stay
// findable; it kills its descendants when the kernel goes (KillDescendants).
//
// Kill does the same sweep in the kernel for one child, when the kernel stops it (an
// interrupt that restarts the runner, a shell line interrupted, shutdown).
package reaper

import (
	"context"
	"os/exec"
)

// CommandContext is exec.CommandContext whose cancellation kills the command's whole tree
// (Kill), not just the command.
func CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Cancel = func() error {
		Kill(cmd.Process.Pid)
		return nil
	}
	return cmd
}

// Start starts cmd like cmd.Start, after Prepare, and registers it with the guard.
func Start(cmd *exec.Cmd) error {
	Prepare(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	Watch(cmd.Process.Pid)
	return nil
}

// Run is Start, then cmd.Wait.
func Run(cmd *exec.Cmd) error {
	if err := Start(cmd); err != nil {
		return err
	}
	return cmd.Wait()
}
