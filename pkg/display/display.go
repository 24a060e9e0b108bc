// Package display sends rich output (HTML, Markdown with LaTeX, images, SVG, JSON, live
// progress bars, anything that knows how to show itself) from notebook cells and library
// code to whoever is listening.
//
// Inside the gostudy kernel the runner process installs a [Publisher] that forwards every
// [Message] to Jupyter as display_data, update_display_data or clear_output. Everywhere else
// (go test, the command-line tool, a plain program) the default [FilePublisher] writes images
// and HTML into an output folder and text to stdout, so lesson code that calls display
// functions runs unchanged outside a notebook.
//
// The helpers that notebook code calls most ([HTML], [Markdown], [Show], ...) return nothing,
// the way IPython's display() returns None, so that a call on the last line of a cell does not
// also produce an execute_result. When delivery fails they report the error on stderr;
// [Publish] and [Display] return it for callers that want to handle it.
//
// This package is compiled into the kernel's runner, so it depends only on the standard
// library and GoMLX's tensors package.
package display

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Bundle is a Jupyter MIME bundle: MIME type → data. Text types are strings; binary types
// (image/png, image/jpeg) are base64 strings, as Jupyter expects; application/json is a JSON
// value (what encoding/json produces when it decodes into an any).
type Bundle map[string]any

// MIMEBundle makes a Bundle a [Bundler] of itself, so that a cell can end with, say,
// display.HTMLBundle(table) and see the table.
func (b Bundle) MIMEBundle() (Bundle, map[string]any) { return b, nil }

// Message types carried by [Message.Type]; they are the Jupyter iopub message types the kernel
// emits for them.
const (
	TypeDisplayData       = "display_data"
	TypeUpdateDisplayData = "update_display_data"
	TypeClearOutput       = "clear_output"
)

// MIME types this package produces.
const (
	MIMEText     = "text/plain"
	MIMEHTML     = "text/html"
	MIMEMarkdown = "text/markdown"
	MIMELaTeX    = "text/latex"
	MIMESVG      = "image/svg+xml"
	MIMEPNG      = "image/png"
	MIMEJPEG     = "image/jpeg"
	MIMEJSON     = "application/json"
)

// Message is one rich-output event; its JSON encoding is the wire format runner → kernel.
// A display_data with a DisplayID is the first showing of an updatable display (the kernel
// puts the id into the Jupyter message's transient dict); update_display_data replaces what
// that id shows, wherever it is in the notebook.
type Message struct {
	Type      string         `json:"type"`                 // "display_data", "update_display_data", "clear_output"
	Data      Bundle         `json:"data,omitempty"`       // what to show, by MIME type
	Metadata  map[string]any `json:"metadata,omitempty"`   // per MIME type, e.g. an image's width
	DisplayID string         `json:"display_id,omitempty"` // set for updatable displays
	Wait      bool           `json:"wait,omitempty"`       // clear_output(wait)
}

// Validate reports whether m is a message a Jupyter front end can act on: a known type, data
// for the display types, and a display id for updates.
func (m Message) Validate() error {
	switch m.Type {
	case TypeDisplayData:
		if len(m.Data) == 0 {
			return errors.New("display_data message without data")
		}
	case TypeUpdateDisplayData:
		if len(m.Data) == 0 {
			return errors.New("update_display_data message without data")
		}
		if m.DisplayID == "" {
			return errors.New("update_display_data message without a display id")
		}
	case TypeClearOutput:
	default:
		return fmt.Errorf("unknown message type %q", m.Type)
	}
	return nil
}

// Publisher delivers messages; the runner installs one that forwards to the kernel.
// Implementations must be safe for concurrent use: training loops publish from goroutines.
type Publisher interface {
	// Publish delivers one message.
	Publish(Message) error
	// Input asks the user for one line of text (Jupyter's stdin input_request round trip);
	// password asks the front end not to echo it.
	Input(prompt string, password bool) (string, error)
}

// Terminal is implemented by publishers that have no live front end (a terminal or a log).
// Live widgets such as [Progress] write plain text to TerminalWriter instead of publishing a
// new HTML update every tenth of a second.
type Terminal interface {
	TerminalWriter() io.Writer
}

// Bundler is implemented by values that know how to show themselves (plots, images, tables,
// tensors...). The metadata may be nil.
type Bundler interface {
	MIMEBundle() (Bundle, map[string]any)
}

var (
	pubMu      sync.RWMutex
	defaultPub Publisher = NewFilePublisher()
	current              = defaultPub
)

// SetPublisher installs p as the destination of every later message and returns the one it
// replaces. SetPublisher(nil) reinstalls the default [FilePublisher].
func SetPublisher(p Publisher) (previous Publisher) {
	pubMu.Lock()
	defer pubMu.Unlock()
	previous = current
	if p == nil {
		p = defaultPub
	}
	current = p
	return previous
}

// CurrentPublisher returns the publisher messages go to now.
func CurrentPublisher() Publisher {
	pubMu.RLock()
	defer pubMu.RUnlock()
	return current
}

// Publish validates m and delivers it to the current publisher.
func Publish(m Message) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("display: %w", err)
	}
	if err := CurrentPublisher().Publish(m); err != nil {
		return fmt.Errorf("display: publish %s: %w", m.Type, err)
	}
	return nil
}

// Display shows a bundle as a new output (display_data without a display id).
func Display(b Bundle, metadata map[string]any) error {
	return Publish(Message{Type: TypeDisplayData, Data: b, Metadata: metadata})
}

// Clear clears the cell's output; with wait the front end clears only when the next output
// arrives, which avoids flicker in loops that clear and redraw.
func Clear(wait bool) {
	report(Publish(Message{Type: TypeClearOutput, Wait: wait}))
}

// errOut is where the void helpers report failures; tests replace it.
var errOut = func() io.Writer { return os.Stderr }

// report writes err on stderr: the void helpers have no caller to return it to, and inside the
// kernel stderr is shown in the cell.
func report(err error) {
	if err != nil {
		_, _ = fmt.Fprintln(errOut(), err)
	}
}
