// Package widgets gives notebooks interactive controls — sliders, a dropdown, a checkbox, a
// button, a text box, an output area and boxes to lay them out — whose changes call Go
// functions.
//
// The controls speak the Jupyter widgets message protocol (version 2.1, ipywidgets 8): each
// one is a model, a comm channel (Jupyter's comm_open/comm_msg/comm_close messages) whose
// state the kernel and the front end keep in sync, and JupyterLab draws them with its
// standard widget manager (the jupyterlab_widgets package), with model names and versions
// from @jupyter-widgets/controls 2.0.0, @jupyter-widgets/base 2.0.0 and
// @jupyter-widgets/output 1.0.0. No JavaScript of our own is involved.
//
// In the gostudy kernel, the runner process that holds a notebook's variables also holds its
// widgets, between cells too: moving a slider after its cell finished calls the slider's
// change function in the runner, where it sees (and can change) the notebook's state. A
// change function reaches the page by updating a display (display.Handle.Update) or an
// [Output] widget; text it prints goes, as with ipywidgets, to the kernel's log rather than
// to a cell.
//
//	p := widgets.NewFloatSlider("dropout p", 0, 0.9, 0.05, 0.5)
//	out := widgets.NewOutput()
//	p.OnChange(func(v float64) { out.Clear(); out.Display(histogram(v)) })
//	widgets.NewVBox(p, out)
//
// Outside a kernel (a test, a program) widgets work as plain objects: their state changes
// and their functions run, with nothing sent anywhere.
package widgets

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
)

// Comm targets and protocol versions this package implements.
const (
	// WidgetTarget is the comm target of widget models.
	WidgetTarget = "jupyter.widget"
	// ControlTarget is the comm target a front end opens to ask for every widget's state at
	// once (when a notebook is opened or reloaded).
	ControlTarget = "jupyter.widget.control"
	// ProtocolVersion is the widget message protocol version sent in comm_open metadata.
	ProtocolVersion = "2.1.0"
	// ViewMIME is the MIME type of a widget's view in display_data messages.
	ViewMIME = "application/vnd.jupyter.widget-view+json"
)

// Message is one comm message, in either direction: comm_open (Target set), comm_msg or
// comm_close.
type Message struct {
	Type     string         `json:"type"` // "comm_open", "comm_msg", "comm_close"
	CommID   string         `json:"comm_id"`
	Target   string         `json:"target_name,omitempty"`
	Data     map[string]any `json:"data"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// Transport carries comm messages to the front end; the gostudy runner installs one that
// forwards them to the kernel. Send must be safe for concurrent use.
type Transport interface {
	Send(Message) error
}

var (
	mu        sync.Mutex
	transport Transport
	models    = map[string]*model{} // open widget models by comm id
	controls  = map[string]bool{}   // open control comms
	reporter  = func(error) {}      // where send errors go (stderr once a transport is set)
	handlerMu sync.Mutex            // one front-end message is handled at a time
)

// SetTransport installs t as the way to the front end and returns the previous one. Widgets
// created before a transport existed are not announced retroactively.
func SetTransport(t Transport) Transport {
	mu.Lock()
	defer mu.Unlock()
	old := transport
	transport = t
	reporter = func(err error) { fmt.Fprintln(os.Stderr, "widgets:", err) }
	return old
}

func send(m Message) {
	mu.Lock()
	t, report := transport, reporter
	mu.Unlock()
	if t == nil {
		return
	}
	if err := t.Send(m); err != nil {
		report(fmt.Errorf("send %s for %s: %w", m.Type, m.CommID, err))
	}
}

func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("widgets: no random source for a comm id: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// Handles reports whether the package handles messages of this comm: a widget or control
// comm it opened or accepted, or a comm_open for one of its targets.
func Handles(m Message) bool {
	if m.Type == "comm_open" {
		return m.Target == ControlTarget || m.Target == WidgetTarget
	}
	mu.Lock()
	defer mu.Unlock()
	_, isModel := models[m.CommID]
	return isModel || controls[m.CommID]
}

// Receive handles one message from the front end: a state update from a control (calling
// its change functions), a button click, a request for state, or the opening or closing of
// a comm. It returns after the functions it called returned; the runner calls it for one
// message at a time, in order. A panic in a change function is reported on stderr and does
// not stop later messages.
func Receive(m Message) {
	handlerMu.Lock()
	defer handlerMu.Unlock()
	switch m.Type {
	case "comm_open":
		switch m.Target {
		case ControlTarget:
			mu.Lock()
			controls[m.CommID] = true
			mu.Unlock()
		default:
			// Front-end-created widget models are not supported: say so by closing the comm,
			// as a kernel does for a target it does not know.
			send(Message{Type: "comm_close", CommID: m.CommID, Data: map[string]any{}})
		}
	case "comm_close":
		mu.Lock()
		delete(controls, m.CommID)
		mdl := models[m.CommID]
		delete(models, m.CommID)
		mu.Unlock()
		if mdl != nil {
			mdl.markClosed()
		}
	case "comm_msg":
		method, _ := m.Data["method"].(string)
		mu.Lock()
		isControl := controls[m.CommID]
		mdl := models[m.CommID]
		mu.Unlock()
		switch {
		case isControl && method == "request_states":
			sendStates(m.CommID)
		case mdl == nil:
		case method == "update":
			state, _ := m.Data["state"].(map[string]any)
			safely(func() { mdl.fromFrontEnd(state) })
		case method == "request_state":
			mdl.sendState()
		case method == "custom":
			content, _ := m.Data["content"].(map[string]any)
			safely(func() { mdl.custom(content) })
		}
	}
}

// safely runs f, reporting a panic (with its stack) on stderr.
func safely(f func()) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "widgets: a change function panicked: %v\n%s", p, debug.Stack())
		}
	}()
	f()
}

// sendStates answers a control comm's request_states with every open model's state.
func sendStates(commID string) {
	mu.Lock()
	all := make([]*model, 0, len(models))
	for _, m := range models {
		all = append(all, m)
	}
	mu.Unlock()
	states := map[string]any{}
	for _, m := range all {
		states[m.id] = m.snapshot()
	}
	send(Message{Type: "comm_msg", CommID: commID, Data: map[string]any{
		"method": "update_states", "states": states, "buffer_paths": []any{},
	}})
}

// Reset forgets every widget without telling the front end (the runner calls it when it
// starts; a kernel that restarts its runner closes the comms it knew itself).
func Reset() {
	mu.Lock()
	defer mu.Unlock()
	models = map[string]*model{}
	controls = map[string]bool{}
}
