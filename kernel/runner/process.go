package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"plugin"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/gostudy/gostudy/kernel/cellrt"
	"github.com/gostudy/gostudy/kernel/internal/reaper"
	"github.com/gostudy/gostudy/pkg/display"
	"github.com/gostudy/gostudy/pkg/widgets"
)

// Main is the runner process: it reads commands from file descriptor 3 and writes events to
// file descriptor 4 until the kernel closes the command pipe.
func Main() {
	cmds := os.NewFile(3, "gostudy-commands")
	events := os.NewFile(4, "gostudy-events")
	if cmds == nil || events == nil {
		fmt.Fprintln(os.Stderr, "gostudy runner: must be started by the gostudy kernel (file descriptors 3 and 4)")
		os.Exit(2)
	}
	// Orphans of processes that cells start re-parent to the runner, so that exit below
	// finds and ends them all.
	if err := reaper.BecomeSubreaper(); err != nil {
		fmt.Fprintf(os.Stderr, "gostudy runner: %v\n", err)
	}
	// The kernel starts the runner with SIGTERM as its parent-death signal.
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		exit(0)
	}()
	r := &proc{
		enc: json.NewEncoder(events),
		// Private copies of the output pipes: markers go there, and they let a cell that
		// closes os.Stdout or os.Stderr get them back (restoreStreams).
		stdout: dupFile(1, "stdout"),
		stderr: dupFile(2, "stderr"),
		inputs: make(chan Command, 1),
	}
	display.SetPublisher(r)
	widgets.SetTransport(r)
	// Comm messages (widget changes) are handled one at a time, in order, by one goroutine,
	// whether or not a cell is running: a slider moved after its cell finished still calls
	// its change function here, where the notebook's variables live.
	comms := make(chan Command, 4096)
	go r.handleComms(comms)
	r.send(Event{Ev: EvReady, Pid: os.Getpid()})
	sc := bufio.NewScanner(cmds)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var c Command
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			fmt.Fprintf(r.stderr, "gostudy runner: bad command: %v\n", err)
			continue
		}
		switch c.Op {
		case OpRun:
			go r.run(c)
		case OpInterrupt:
			r.interrupt(c.ID)
		case OpInput:
			select {
			case r.inputs <- c:
			default: // nobody is waiting for input any more
			}
		case OpComm:
			if c.Comm != nil {
				comms <- c
			}
		case OpDrop:
			cellrt.Drop(c.Names...)
		case OpSetenv:
			for k, v := range c.Env {
				if err := os.Setenv(k, v); err != nil {
					fmt.Fprintf(r.stderr, "gostudy runner: setenv %s: %v\n", k, err)
				}
			}
		default:
			fmt.Fprintf(r.stderr, "gostudy runner: unknown command %q\n", c.Op)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(r.stderr, "gostudy runner: reading commands: %v\n", err)
		exit(1)
	}
	// The kernel closed the pipe: it is shutting down, or it died.
	exit(0)
}

// exit ends the runner and everything cells started (their orphans are the runner's
// children, see BecomeSubreaper).
func exit(code int) {
	reaper.KillDescendants()
	os.Exit(code)
}

// dupFile returns a new file for a duplicate of file descriptor fd, or the descriptor
// itself when it cannot be duplicated.
func dupFile(fd int, name string) *os.File {
	d, err := syscall.Dup(fd)
	if err != nil {
		return os.NewFile(uintptr(fd), name)
	}
	syscall.CloseOnExec(d)
	return os.NewFile(uintptr(d), name)
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
	if ev.Ev != EvReady {
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
	r.send(Event{Ev: EvComm, Comm: &m})
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
		r.send(Event{Ev: EvCommDone, ID: c.ID})
	}
}

// Publish implements display.Publisher.
func (r *proc) Publish(m display.Message) error {
	r.send(Event{Ev: EvDisplay, Display: &m})
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
	r.send(Event{Ev: EvInput, Prompt: prompt, Password: password})
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

	cellrt.BeginCell(c.Cell, ctx, func(values []any) { r.result(values) })
	var cellErr *CellError
	returned := false
	// Deferred, so that it also runs when the cell calls runtime.Goexit: that ends this
	// goroutine without returning from call, and the cell must still end.
	defer func() {
		if !returned {
			cellErr = &CellError{Name: "Goexit", Value: "the cell called runtime.Goexit, which ended it there; variables it declared before are kept"}
		}
		// A progress bar the cell left running shows how the cell ended, before "done"
		// closes the cell's output.
		display.CellFinished(ctx.Err() != nil, cellErr != nil)
		published := cellrt.EndCell()
		r.cellMu.Lock()
		r.cancel = nil
		r.cellMu.Unlock()
		if cellErr == nil && ctx.Err() != nil {
			cellErr = &CellError{Name: "Interrupted", Value: "the cell stopped after an interrupt; variables it declared before stopping are kept"}
		}
		cancel()
		r.restoreStreams()
		r.send(Event{Ev: EvDone, ID: c.ID, Error: cellErr, Published: published})
	}()
	cellErr = r.call(c)
	returned = true
}

// restoreStreams gives later cells their output back when a cell closed os.Stdout or
// os.Stderr (or file descriptor 1 or 2), and says so; otherwise everything later cells
// print would vanish without a word.
func (r *proc) restoreStreams() {
	for _, s := range []struct {
		fd    int
		file  **os.File
		saved *os.File
		name  string
	}{{1, &os.Stdout, r.stdout, "os.Stdout"}, {2, &os.Stderr, r.stderr, "os.Stderr"}} {
		fdClosed := fdIsClosed(s.fd)
		goClosed := fileIsClosed(*s.file)
		if !fdClosed && !goClosed {
			continue
		}
		if fdClosed {
			if err := syscall.Dup3(int(s.saved.Fd()), s.fd, 0); err != nil {
				fmt.Fprintf(r.stderr, "gostudy runner: cannot reopen %s: %v\n", s.name, err)
				continue
			}
		}
		if goClosed {
			if fdClosed {
				*s.file = os.NewFile(uintptr(s.fd), s.name)
			} else {
				// The descriptor was reused by a file the cell opened: leave it to the cell
				// and give os.Stdout a descriptor of its own.
				*s.file = dupFile(int(s.saved.Fd()), s.name)
			}
		}
		fmt.Fprintf(r.stderr, "note: the cell closed %s; it was reopened for later cells\n", s.name)
	}
}

// fdIsClosed reports whether file descriptor fd is not open.
func fdIsClosed(fd int) bool {
	_, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
	return errno == syscall.EBADF
}

// fileIsClosed reports whether f was closed.
func fileIsClosed(f *os.File) bool {
	if f == nil {
		return true
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return true
	}
	return rc.Control(func(uintptr) {}) != nil
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
		// Go's plugin loader says so only in its message.
		changed := strings.Contains(err.Error(), "different version of package")
		return &CellError{Name: "LoadError", Value: err.Error(), PackageChanged: changed}
	}
	// The mapping survives the file: removing it now keeps long sessions from filling the disk.
	_ = os.Remove(c.Plugin)
	sym, err := p.Lookup(cellrt.EntryPoint)
	if err != nil {
		return &CellError{Name: "LoadError", Value: err.Error()}
	}
	fn, ok := sym.(func())
	if !ok {
		return &CellError{Name: "LoadError", Value: fmt.Sprintf("%s has type %T, want func()", cellrt.EntryPoint, sym)}
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
	r.send(Event{Ev: EvResult, Data: data, Metadata: md})
}
