package kernel

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// TestWatchParent: the context ends once the parent's pid changes (the kernel was orphaned and
// re-parented), not before; a kernel whose parent is init watches nothing.
func TestWatchParent(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var ppid atomic.Int64
	ppid.Store(4242)
	ctx := watchParent(context.Background(), log, 5*time.Millisecond, func() int { return int(ppid.Load()) })
	select {
	case <-ctx.Done():
		t.Fatal("cancelled while the parent was alive")
	case <-time.After(50 * time.Millisecond):
	}
	ppid.Store(1) // the parent died: init adopted the kernel
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5 s after the parent went away")
	}

	parent := context.Background()
	if got := watchParent(parent, log, time.Millisecond, func() int { return 1 }); got != parent {
		t.Error("a kernel started by init watches its parent")
	}
}
