package runner

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gostudy/gostudy/pkg/widgets"
)

// TestSendRefusesCommandsTheRunnerCannotRead: a command line the runner's reader would
// stop at (a widget message over MaxCommandSize) is refused by Send, and nothing is written,
// so the runner, and the notebook's variables, live on; the largest command that is sent
// is read back whole by the runner's reader.
func TestSendRefusesCommandsTheRunnerCannotRead(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "commands"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := &Client{cmdW: f}
	big := &widgets.Message{Data: map[string]any{"value": strings.Repeat("x", MaxCommandSize)}}
	if err := c.Send(Command{Op: OpComm, Comm: big}); !errors.Is(err, ErrCommandTooLarge) {
		t.Fatalf("Send of a %d MiB comm message: %v, want ErrCommandTooLarge", MaxCommandSize>>20, err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != 0 {
		t.Fatalf("after the refused command the pipe holds %v bytes (%v), want 0", fi.Size(), err)
	}
	// The largest command Send accepts: its JSON line is MaxCommandSize-1 bytes.
	overhead, _ := json.Marshal(Command{Op: OpInput})
	value := strings.Repeat("y", MaxCommandSize-1-len(overhead)-len(`,"value":""`))
	if err := c.Send(Command{Op: OpInput, Value: value}); err != nil {
		t.Fatalf("Send of a command of MaxCommandSize-1 bytes: %v", err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	sc := commandScanner(f)
	if !sc.Scan() {
		t.Fatalf("the runner's reader could not read it: %v", sc.Err())
	}
	var got Command
	if err := json.Unmarshal(sc.Bytes(), &got); err != nil || got.Value != value {
		t.Fatalf("read back %d bytes of value (%v), want %d", len(got.Value), err, len(value))
	}
}
