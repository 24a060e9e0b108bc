package kernel

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"
)

// lastBarState is the data-state of the last progress-bar message a cell published.
func lastBarState(rec *recorder) string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	state := ""
	re := regexp.MustCompile(`class="gostudy-progress" data-state="(\w+)"`)
	for _, m := range rec.displays {
		h, _ := m.Data["text/html"].(string)
		if s := re.FindStringSubmatch(h); s != nil {
			state = s[1]
		}
	}
	return state
}

// TestProgressBarsEndWithTheirCell checks that a bar its cell leaves running is finished by
// the runner when the cell ends, in the state that says how the cell ended.
func TestProgressBarsEndWithTheirCell(t *testing.T) {
	e := newTestEngine(t)
	c := &cellRun{e: e, t: t}
	// Forgotten Done: complete work is done, the rest stopped.
	if st := lastBarState(c.ok(`bar := display.NewProgress(3, "full"); bar.Add(3)`)); st != "done" {
		t.Errorf("complete bar without Done: state %q, want done", st)
	}
	if st := lastBarState(c.ok(`bar := display.NewProgress(3, "early"); bar.Add(1)`)); st != "stopped" {
		t.Errorf("incomplete bar without Done: state %q, want stopped", st)
	}
	// A panic fails the bar.
	rec, err := c.exec(`bar := display.NewProgress(3, "boom"); bar.Add(1); panic("boom")`)
	if err == nil {
		t.Fatal("the panicking cell succeeded")
	}
	if st := lastBarState(rec); st != "failed" {
		t.Errorf("bar of a panicking cell: state %q, want failed", st)
	}
	// An interrupt interrupts it.
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	rec = &recorder{started: started}
	go func() {
		<-started
		cancel()
	}()
	err = e.Execute(ctx, 100, "bar := display.NewProgress(10, \"wait\")\nfmt.Println(\"waiting\")\nfor ctx.Err() == nil { time.Sleep(10*time.Millisecond) }\nbar.Add(1)", rec)
	var ee *ExecError
	if !errors.As(err, &ee) || ee.Name != "Interrupted" {
		t.Fatalf("want Interrupted, got %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for lastBarState(rec) != "interrupted" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if st := lastBarState(rec); st != "interrupted" {
		t.Errorf("bar of an interrupted cell: state %q, want interrupted", st)
	}
}
