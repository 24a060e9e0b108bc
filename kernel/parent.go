package kernel

import (
	"context"
	"log/slog"
	"time"
)

// watchParent returns a context that is cancelled when the process that started the kernel
// goes away — a Jupyter server killed with SIGKILL, say, which cannot send shutdown_request —
// so that the kernel shuts down (its runner and session folder cleaned up as on a shutdown
// request) instead of living on as an orphan nobody can reach. ipykernel does the same (its
// ParentPollerUnix). An orphan is re-parented, so the parent's pid changing is the signal;
// a kernel started by init (pid 1) has no parent to watch.
func watchParent(ctx context.Context, log *slog.Logger, every time.Duration, getppid func() int) context.Context {
	parent := getppid()
	if parent <= 1 {
		return ctx
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if now := getppid(); now != parent {
					log.Warn("the kernel's parent process is gone: shutting down", "parent", parent, "now", now)
					cancel()
					return
				}
			}
		}
	}()
	return ctx
}

// parentPollInterval is how often the kernel checks that its parent is alive: the check is
// one system call, and a second is as quick as a person notices an orphan.
const parentPollInterval = time.Second
