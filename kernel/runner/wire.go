// Package runner is the long-lived process that runs compiled cells, and the kernel's side
// of talking to it.
//
// The runner loads each cell (a Go plugin) into itself and calls its entry point, so values
// created by one cell stay in memory for the next. It never exits between cells; a panic in a
// cell is recovered and reported. The kernel talks to it over two pipes (file descriptors 3
// and 4) carrying JSON lines; the runner's stdout and stderr are pipes the kernel streams to
// the notebook as they are written.
//
// Ordering: a display, a result or the end of a cell must not overtake text the cell printed
// before it. Before sending such an event the runner writes a numbered marker into both stdout
// and stderr; the kernel holds the event back until it has forwarded each stream up to that
// marker. Text printed before an event therefore always reaches the notebook first.
package runner

import (
	"strconv"

	"github.com/gostudy/gostudy/pkg/display"
	"github.com/gostudy/gostudy/pkg/widgets"
)

// Op is what a Command asks the runner to do.
type Op string

// The commands the runner understands.
const (
	OpRun       Op = "run"       // load Plugin and run cell Cell as run ID
	OpInterrupt Op = "interrupt" // cancel the context of run ID (0: whatever runs)
	OpInput     Op = "input"     // the answer (Value or Error) to an EvInput event
	OpDrop      Op = "drop"      // forget the variables Names
	OpSetenv    Op = "setenv"    // set the environment variables Env
	OpComm      Op = "comm"      // handle comm message Comm (a widget change) as ID, in order; EvCommDone answers
)

// EventKind is what an Event reports.
type EventKind string

// The events the runner sends.
const (
	EvReady    EventKind = "ready"     // the runner started (Pid)
	EvDisplay  EventKind = "display"   // a display message (Display)
	EvResult   EventKind = "result"    // the value of a cell's final expression (Data, Metadata)
	EvInput    EventKind = "input"     // a cell asks the front end for text (Prompt, Password)
	EvDone     EventKind = "done"      // run ID ended (Error, Published)
	EvComm     EventKind = "comm"      // a comm message for the front end (Comm)
	EvCommDone EventKind = "comm_done" // OpComm message ID was handled: the functions it called returned
)

// Command is a message from the kernel to the runner.
type Command struct {
	Op     Op                `json:"op"`
	ID     int               `json:"id,omitempty"`
	Cell   int               `json:"cell,omitempty"`
	Plugin string            `json:"plugin,omitempty"`
	Names  []string          `json:"names,omitempty"`
	Env    map[string]string `json:"env,omitempty"`
	Value  string            `json:"value,omitempty"` // input reply
	Error  string            `json:"error,omitempty"` // input reply that failed
	Comm   *widgets.Message  `json:"comm,omitempty"`  // OpComm
}

// Event is a message from the runner to the kernel.
type Event struct {
	Ev        EventKind        `json:"ev"`
	ID        int              `json:"id,omitempty"`
	Sync      uint64           `json:"sync,omitempty"`
	Display   *display.Message `json:"display,omitempty"`
	Data      display.Bundle   `json:"data,omitempty"`
	Metadata  map[string]any   `json:"metadata,omitempty"`
	Prompt    string           `json:"prompt,omitempty"`
	Password  bool             `json:"password,omitempty"`
	Error     *CellError       `json:"error,omitempty"`
	Published []string         `json:"published,omitempty"`
	Pid       int              `json:"pid,omitempty"`
	Comm      *widgets.Message `json:"comm,omitempty"` // EvComm
}

// CellError is a cell that failed at run time: a panic, a plugin that would not load, or an
// interrupt.
type CellError struct {
	Name   string  `json:"name"`
	Value  string  `json:"value"`
	Frames []Frame `json:"frames,omitempty"`
	// PackageChanged marks a plugin that could not load because a package the runner had
	// already loaded was rebuilt since (its source changed): only a fresh runner can load it.
	PackageChanged bool `json:"package_changed,omitempty"`
}

// Frame is one stack frame of a panic that lies in cell code.
type Frame struct {
	File string `json:"file"` // "In[3]"
	Line int    `json:"line"`
	Func string `json:"func"`
}

// syncPrefix starts an output marker; the marker is syncPrefix, a decimal number and a NUL.
// NUL and ESC bytes do not occur in the text people print, and the kernel strips the marker.
const syncPrefix = "\x00\x1bgostudy-sync:"

func syncMarker(n uint64) []byte {
	return []byte(syncPrefix + strconv.FormatUint(n, 10) + "\x00")
}
