// Package kerneltest holds test and benchmark helpers for the gostudy kernel. The kernel
// itself never uses it: it is how benchmarks (bench/kernel/gpucells) and tests run cells
// that a session compiled earlier, outside that session.
package kerneltest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gostudy/gostudy/kernel/runner"
)

// replayOutput hands a replayed runner's text to a callback and its "done" events to Replay.
type replayOutput struct {
	stream func(name, text string)
	done   chan runner.Event
}

func (o replayOutput) Stream(name, text string) { o.stream(name, text) }

func (o replayOutput) Event(ev runner.Event) {
	if ev.Ev == runner.EvDone {
		o.done <- ev
	}
}

// Replay runs cells compiled earlier (plugins kept with the engine's KeepPlugins option), in
// order, in a fresh runner started from bin — the runner binary of the session that compiled
// them, which alone can load them — and returns how long each took from its run command to
// its end. It is how cell latency is measured on a machine without a Go toolchain. stream
// receives what the cells print. The plugin files are left in place (the runner deletes
// what it loads, so it is given copies).
func Replay(ctx context.Context, bin string, plugins []string, env []string, stream func(name, text string)) ([]time.Duration, error) {
	work, err := os.MkdirTemp("", "gostudy-replay-")
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer os.RemoveAll(work)
	out := replayOutput{stream: stream, done: make(chan runner.Event, 1)}
	env = append(env, "GOSTUDY_RUNNER=1", "GOSTUDY_SESSION_DIR="+work)
	rc, err := runner.Start(ctx, bin, work, env, out)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer rc.Close()
	var took []time.Duration
	for i, p := range plugins {
		n := i + 1
		data, err := os.ReadFile(p)
		if err != nil {
			return took, fmt.Errorf("replay cell %d: %w", n, err)
		}
		copyPath := filepath.Join(work, filepath.Base(p))
		if err := os.WriteFile(copyPath, data, 0o644); err != nil {
			return took, fmt.Errorf("replay cell %d: %w", n, err)
		}
		start := time.Now()
		if err := rc.Send(runner.Command{Op: runner.OpRun, ID: n, Cell: n, Plugin: copyPath}); err != nil {
			return took, fmt.Errorf("replay cell %d: %w", n, err)
		}
		select {
		case ev := <-out.done:
			if ev.Error != nil {
				return took, fmt.Errorf("replay cell %d (%s): %s: %s", n, filepath.Base(p), ev.Error.Name, ev.Error.Value)
			}
		case <-rc.Exited():
			return took, fmt.Errorf("replay cell %d: the runner stopped: %v", n, rc.ExitErr())
		case <-ctx.Done():
			return took, fmt.Errorf("replay cell %d: %w", n, ctx.Err())
		}
		took = append(took, time.Since(start))
	}
	return took, nil
}
