package kernel

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"github.com/gostudy/gostudy/kernel/runner"
	"github.com/gostudy/gostudy/pkg/widgets"
)

// Jupyter comms (the channels widgets use) live in the runner, next to the variables they
// act on. The engine forwards the front end's comm messages to the runner at any time — a
// slider moved after its cell finished must still reach its change function — and
// publishes the runner's comm messages. It also keeps the list of open comms, for
// comm_info_request, and closes them all when the runner is replaced.

// CommSink is implemented by sinks that can publish comm messages (the kernel's iopub
// sink). Sinks without it drop them.
type CommSink interface {
	Comm(m widgets.Message)
}

// commState is the engine's part of comm handling.
type commState struct {
	mu    sync.Mutex
	open  map[string]string // comm id → target name
	event Sink              // where output goes while a front-end comm message is handled
	idle  Sink              // where output goes when neither a cell nor a comm message is active
	done  map[int]chan struct{}
	next  int
}

// SetIdleSink sets where runner output goes when no cell runs and no comm message is being
// handled (a goroutine of an earlier cell, a widget updated by a timer): the kernel gives a
// sink that publishes without a parent request.
func (e *Engine) SetIdleSink(s Sink) {
	e.comm.mu.Lock()
	defer e.comm.mu.Unlock()
	e.comm.idle = s
}

// outputSink is where runner output goes now: the running cell's sink, else the comm
// message being handled, else the idle sink (nil when there is none).
func (e *Engine) outputSink() Sink {
	e.mu.Lock()
	sink := e.sink
	e.mu.Unlock()
	if sink != nil {
		return sink
	}
	e.comm.mu.Lock()
	defer e.comm.mu.Unlock()
	if e.comm.event != nil {
		return e.comm.event
	}
	return e.comm.idle
}

// Comms lists the open comms (id → target name), of one target or of all when target is "".
func (e *Engine) Comms(target string) map[string]string {
	e.comm.mu.Lock()
	defer e.comm.mu.Unlock()
	out := map[string]string{}
	for id, t := range e.comm.open {
		if target == "" || t == target {
			out[id] = t
		}
	}
	return out
}

// trackComm records a comm message that passed between the runner and the front end.
func (e *Engine) trackComm(m widgets.Message) {
	e.comm.mu.Lock()
	defer e.comm.mu.Unlock()
	if e.comm.open == nil {
		e.comm.open = map[string]string{}
	}
	switch m.Type {
	case "comm_open":
		e.comm.open[m.CommID] = m.Target
	case "comm_close":
		delete(e.comm.open, m.CommID)
	}
}

// commEvent publishes a comm message from the runner.
func (e *Engine) commEvent(m widgets.Message) {
	e.trackComm(m)
	if cs, ok := e.outputSink().(CommSink); ok {
		cs.Comm(m)
	}
}

// commDone wakes the Comm call waiting for message id.
func (e *Engine) commDone(id int) {
	e.comm.mu.Lock()
	ch := e.comm.done[id]
	delete(e.comm.done, id)
	e.comm.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// closeComms tells the front end that every open comm is gone (the runner that held them
// stopped), so it drops their widgets instead of sending changes nobody receives.
func (e *Engine) closeComms() {
	e.comm.mu.Lock()
	open := e.comm.open
	e.comm.open = nil
	waiting := e.comm.done
	e.comm.done = nil
	e.comm.mu.Unlock()
	for _, ch := range waiting {
		close(ch)
	}
	if len(open) == 0 {
		return
	}
	cs, _ := e.outputSink().(CommSink)
	for id := range maps.Keys(open) {
		if cs != nil {
			cs.Comm(widgets.Message{Type: "comm_close", CommID: id, Data: map[string]any{}})
		}
	}
}

// Comm delivers a comm message from the front end to the runner and waits until the
// functions it triggered returned (or the runner stopped, or ctx is done). Output they
// produce goes to sink unless a cell is running. Messages for comms the runner does not
// hold are dropped; a comm_open for a target the runner does not serve is answered with
// comm_close.
func (e *Engine) Comm(ctx context.Context, m widgets.Message, sink Sink) error {
	st, err := e.waitSession(ctx)
	if err != nil {
		return err
	}
	if m.Type != "comm_open" {
		e.comm.mu.Lock()
		_, known := e.comm.open[m.CommID]
		e.comm.mu.Unlock()
		if !known {
			e.log.Info("comm message for an unknown comm", "type", m.Type, "comm", m.CommID)
			return nil
		}
	}
	if m.Type == "comm_open" && m.Target != widgets.ControlTarget && m.Target != widgets.WidgetTarget {
		if cs, ok := sink.(CommSink); ok {
			cs.Comm(widgets.Message{Type: "comm_close", CommID: m.CommID, Data: map[string]any{}})
		}
		return nil
	}
	rc, err := e.ensureRunner(ctx, st)
	if err != nil {
		return fmt.Errorf("comm: %w", err)
	}
	if m.Type == "comm_open" {
		e.trackComm(m) // the runner closes it again if it refuses it
	}
	done := make(chan struct{})
	e.comm.mu.Lock()
	if e.comm.done == nil {
		e.comm.done = map[int]chan struct{}{}
	}
	e.comm.next++
	id := e.comm.next
	e.comm.done[id] = done
	e.comm.event = sink
	e.comm.mu.Unlock()
	defer func() {
		e.comm.mu.Lock()
		e.comm.event = nil
		delete(e.comm.done, id)
		e.comm.mu.Unlock()
	}()
	if m.Type == "comm_close" {
		e.trackComm(m)
	}
	if err := rc.Send(runner.Command{Op: runner.OpComm, ID: id, Comm: &m}); err != nil {
		return fmt.Errorf("comm: %w", err)
	}
	select {
	case <-done:
	case <-rc.Exited():
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}
