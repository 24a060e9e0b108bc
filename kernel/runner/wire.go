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

// Command is a message from the kernel to the runner.
type Command struct {
	Op     string            `json:"op"` // "run", "interrupt", "input", "drop", "setenv", "comm"
	ID     int               `json:"id,omitempty"`
	Cell   int               `json:"cell,omitempty"`
	Plugin string            `json:"plugin,omitempty"`
	Names  []string          `json:"names,omitempty"`
	Env    map[string]string `json:"env,omitempty"`
	Value  string            `json:"value,omitempty"` // input reply
	Error  string            `json:"error,omitempty"` // input reply that failed
	// Comm is a comm message from the front end (op "comm"); the runner answers with a
	// "comm_done" event of the same ID once the widget functions it called returned.
	Comm *widgets.Message `json:"comm,omitempty"`
}

// Event is a message from the runner to the kernel.
type Event struct {
	Ev        string           `json:"ev"` // "ready", "display", "result", "input", "done", "comm", "comm_done"
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
	Comm      *widgets.Message `json:"comm,omitempty"` // a comm message for the front end
}

// CellError is a cell that failed at run time: a panic, a plugin that would not load, or an
// interrupt.
type CellError struct {
	Name   string  `json:"name"`
	Value  string  `json:"value"`
	Frames []Frame `json:"frames,omitempty"`
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
