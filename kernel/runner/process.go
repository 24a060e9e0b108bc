package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"plugin"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gostudy/gostudy/kernel/cellrt"
	"github.com/gostudy/gostudy/pkg/display"
	"github.com/gostudy/gostudy/pkg/widgets"
)

// EntryPoint is the function every cell plugin exports (see kernel/internal/compiler).
const EntryPoint = "GostudyRun"

// Main is the runner process: it reads commands from file descriptor 3 and writes events to
// file descriptor 4 until the kernel closes the command pipe.
func Main() {
	cmds := os.NewFile(3, "gostudy-commands")
	events := os.NewFile(4, "gostudy-events")
	if cmds == nil || events == nil {
		fmt.Fprintln(os.Stderr, "gostudy runner: must be started by the gostudy kernel (file descriptors 3 and 4)")
		os.Exit(2)
	}
	r := &proc{
		enc:    json.NewEncoder(events),
		stdout: os.NewFile(1, "stdout"),
		stderr: os.NewFile(2, "stderr"),
		inputs: make(chan Command, 1),
	}
	display.SetPublisher(r)
	widgets.SetTransport(r)
	// Comm messages (widget changes) are handled one at a time, in order, by one goroutine,
	// whether or not a cell is running: a slider moved after its cell finished still calls
	// its change function here, where the notebook's variables live.
	comms := make(chan Command, 4096)
	go r.handleComms(comms)
	r.send(Event{Ev: "ready", Pid: os.Getpid()})
	sc := bufio.NewScanner(cmds)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var running sync.WaitGroup
	for sc.Scan() {
		var c Command
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			fmt.Fprintf(os.Stderr, "gostudy runner: bad command: %v\n", err)
			continue
		}
		switch c.Op {
		case "run":
			running.Add(1)
			go func() {
				defer running.Done()
				r.run(c)
			}()
		case "interrupt":
			r.interrupt(c.ID)
		case "input":
			select {
			case r.inputs <- c:
			default: // nobody is waiting for input any more
			}
		case "comm":
			if c.Comm != nil {
				comms <- c
			}
		case "drop":
			cellrt.Drop(c.Names...)
		case "setenv":
			for k, v := range c.Env {
				if err := os.Setenv(k, v); err != nil {
					fmt.Fprintf(os.Stderr, "gostudy runner: setenv %s: %v\n", k, err)
				}
			}
		default:
			fmt.Fprintf(os.Stderr, "gostudy runner: unknown command %q\n", c.Op)
		}
	}
	// The kernel closed the pipe: it is shutting down.
	os.Exit(0)
}

// proc is the runner's state.
type proc struct {
	mu     sync.Mutex // serializes events and their markers
	enc    *json.Encoder
	stdout *os.File
	stderr *os.File
	sync   atomic.Uint64

	cellMu sync.Mutex
	cellID int
	cancel context.CancelFunc
	inputs chan Command
}

// send writes an event after marking both output streams, so the kernel forwards everything
// printed before it first.
func (r *proc) send(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ev.Ev != "ready" {
		n := r.sync.Add(1)
		m := syncMarker(n)
		_, _ = r.stdout.Write(m)
		_, _ = r.stderr.Write(m)
		ev.Sync = n
	}
	if err := r.enc.Encode(ev); err != nil {
		fmt.Fprintf(r.stderr, "gostudy runner: cannot reach the kernel: %v\n", err)
	}
}

// Send implements widgets.Transport: a comm message for the front end.
func (r *proc) Send(m widgets.Message) error {
	r.send(Event{Ev: "comm", Comm: &m})
	return nil
}

// handleComms delivers comm messages from the front end to the widgets package, and says
// when each is done. A comm_open for a target nothing here serves is closed, as Jupyter
// kernels do.
func (r *proc) handleComms(in <-chan Command) {
	for c := range in {
		m := *c.Comm
		switch {
		case widgets.Handles(m):
			widgets.Receive(m)
		case m.Type == "comm_open":
			_ = r.Send(widgets.Message{Type: "comm_close", CommID: m.CommID, Data: map[string]any{}})
		}
		r.send(Event{Ev: "comm_done", ID: c.ID})
	}
}

// Publish implements display.Publisher.
func (r *proc) Publish(m display.Message) error {
	r.send(Event{Ev: "display", Display: &m})
	return nil
}

// Input implements display.Publisher: it asks the kernel, which asks the front end.
func (r *proc) Input(prompt string, password bool) (string, error) {
	ctx := cellrt.Context()
	// Drain a stale reply from an earlier request that was abandoned.
	select {
	case <-r.inputs:
	default:
	}
	r.send(Event{Ev: "input", Prompt: prompt, Password: password})
	select {
	case c := <-r.inputs:
		if c.Error != "" {
			return "", errors.New(c.Error)
		}
		return c.Value, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (r *proc) interrupt(id int) {
	r.cellMu.Lock()
	defer r.cellMu.Unlock()
	if r.cancel != nil && (id == 0 || id == r.cellID) {
		r.cancel()
	}
}

// run loads one cell and calls its entry point.
func (r *proc) run(c Command) {
	ctx, cancel := context.WithCancel(context.Background())
	r.cellMu.Lock()
	r.cellID, r.cancel = c.ID, cancel
	r.cellMu.Unlock()
	defer func() {
		r.cellMu.Lock()
		r.cancel = nil
		r.cellMu.Unlock()
		cancel()
	}()

	cellrt.BeginCell(c.Cell, ctx, func(values []any) { r.result(values) })
	cellErr := r.call(c)
	// A progress bar the cell left running shows how the cell ended, before "done" closes
	// the cell's output.
	display.CellFinished(ctx.Err() != nil, cellErr != nil)
	published := cellrt.EndCell()
	if cellErr == nil && ctx.Err() != nil {
		cellErr = &CellError{Name: "Interrupted", Value: "the cell stopped after an interrupt; variables it declared before stopping are kept"}
	}
	r.send(Event{Ev: "done", ID: c.ID, Error: cellErr, Published: published})
}

// call opens the plugin (running its package initializers) and calls its entry point,
// turning a panic into a CellError with the stack frames that lie in cells.
func (r *proc) call(c Command) (cellErr *CellError) {
	defer func() {
		if p := recover(); p != nil {
			cellErr = &CellError{Name: "panic", Value: fmt.Sprint(p), Frames: cellFrames()}
			if e, ok := p.(error); ok {
				var re runtime.Error
				if errors.As(e, &re) {
					cellErr.Name = "runtime error"
					cellErr.Value = strings.TrimPrefix(e.Error(), "runtime error: ")
				}
			}
		}
	}()
	p, err := plugin.Open(c.Plugin)
	if err != nil {
		// The file stays: the kernel retries it in a fresh runner when the load failed
		// because a package changed (the session directory goes at shutdown anyway).
		return &CellError{Name: "LoadError", Value: err.Error()}
	}
	// The mapping survives the file: removing it now keeps long sessions from filling the disk.
	_ = os.Remove(c.Plugin)
	sym, err := p.Lookup(EntryPoint)
	if err != nil {
		return &CellError{Name: "LoadError", Value: err.Error()}
	}
	fn, ok := sym.(func())
	if !ok {
		return &CellError{Name: "LoadError", Value: fmt.Sprintf("%s has type %T, want func()", EntryPoint, sym)}
	}
	fn()
	return nil
}

// cellFrames returns the frames of the current (panicking) goroutine that lie in cells,
// innermost first. It is called from the deferred recover, while the panicking frames are
// still on the stack.
func cellFrames() []Frame {
	pcs := make([]uintptr, 128)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	var out []Frame
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.File, "In[") {
			name := f.Function
			if i := strings.LastIndex(name, "/"); i >= 0 {
				name = name[i+1:]
			}
			if i := strings.Index(name, "."); i >= 0 {
				name = name[i+1:]
			}
			if name == "gostudyBody" {
				name = "<cell>"
			}
			out = append(out, Frame{File: f.File, Line: f.Line, Func: name})
		}
		if !more {
			break
		}
	}
	return out
}

// result sends the value(s) of the cell's final expression.
func (r *proc) result(values []any) {
	var data display.Bundle
	var md map[string]any
	if s, ok := values[0].(string); ok && len(values) == 1 {
		// A string result is shown quoted, as Go source would write it, so "1" and 1 differ.
		data = display.Bundle{display.MIMEText: strconv.Quote(s)}
	} else if len(values) == 1 {
		data, md = display.BundleOf(values[0])
	} else {
		parts := make([]string, len(values))
		for i, v := range values {
			b, _ := display.BundleOf(v)
			s, _ := b[display.MIMEText].(string)
			parts[i] = s
		}
		data = display.Bundle{display.MIMEText: strings.Join(parts, ", ")}
	}
	r.send(Event{Ev: "result", Data: data, Metadata: md})
}
