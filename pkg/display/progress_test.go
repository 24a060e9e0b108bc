package display

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock                   { return &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)} }
func dataCount(t *testing.T, m Message) (int, int) {
	return attrInt(t, m, "data-count"), attrInt(t, m, "data-total")
}

func attrInt(t *testing.T, m Message, attr string) int {
	t.Helper()
	h, _ := m.Data[MIMEHTML].(string)
	match := regexp.MustCompile(attr + `="(-?\d+)"`).FindStringSubmatch(h)
	if match == nil {
		t.Fatalf("no %s in %q", attr, h)
	}
	n, _ := strconv.Atoi(match[1])
	return n
}

func TestProgressUpdatesInPlaceWithRisingCounts(t *testing.T) {
	f := &fakePublisher{}
	clk := newClock()
	p := NewProgressWith(ProgressOptions{Total: 100, Label: "epoch 1", Now: clk.now, Publisher: f})
	// 100 steps of 30 ms: 3 s in all, so at most one redraw per 100 ms gives about 30.
	for range 100 {
		clk.advance(30 * time.Millisecond)
		p.Add(1)
	}
	p.Done()
	msgs := f.messages()
	if len(msgs) < 25 || len(msgs) > 35 {
		t.Fatalf("%d messages for 3 s at ≤10 redraws/s, want about 30", len(msgs))
	}
	if msgs[0].Type != TypeDisplayData {
		t.Errorf("first message is %q, want display_data", msgs[0].Type)
	}
	prev := -1
	for i, m := range msgs {
		if i > 0 && m.Type != TypeUpdateDisplayData {
			t.Errorf("message %d is %q, want update_display_data", i, m.Type)
		}
		if m.DisplayID != p.ID() || m.DisplayID == "" {
			t.Errorf("message %d has id %q, want %q", i, m.DisplayID, p.ID())
		}
		count, total := dataCount(t, m)
		if total != 100 {
			t.Errorf("message %d total %d", i, total)
		}
		if count < prev {
			t.Errorf("count fell from %d to %d at message %d", prev, count, i)
		}
		prev = count
		if !strings.Contains(m.Data[MIMEText].(string), "epoch 1") {
			t.Errorf("text/plain %q lacks the label", m.Data[MIMEText])
		}
	}
	if first, _ := dataCount(t, msgs[0]); first != 0 {
		t.Errorf("first count %d, want 0", first)
	}
	last := msgs[len(msgs)-1]
	if c, _ := dataCount(t, last); c != 100 {
		t.Errorf("last count %d, want 100", c)
	}
	// 100 items in 3 s: 33.33 it/s, nothing left.
	if txt := last.Data[MIMEText].(string); !strings.Contains(txt, "100%") || !strings.Contains(txt, "33.33 it/s") ||
		!strings.Contains(txt, "[00:03<00:00") {
		t.Errorf("final text %q, want 100%%, 33.33 it/s and 00:03<00:00", txt)
	}
	if !strings.Contains(last.Data[MIMEHTML].(string), `<progress value="100" max="100"`) {
		t.Errorf("final HTML %q lacks a full <progress>", last.Data[MIMEHTML])
	}
	// After Done nothing more is sent.
	p.Add(5)
	if len(f.messages()) != len(msgs) {
		t.Error("Add after Done published")
	}
}

func TestProgressRateAndETA(t *testing.T) {
	f := &fakePublisher{}
	clk := newClock()
	p := NewProgressWith(ProgressOptions{Total: 200, Label: "train", Unit: "img", Now: clk.now, Publisher: f})
	clk.advance(10 * time.Second)
	p.Set(50) // 5 img/s, 150 left: 30 s
	p.SetNote("loss 0.231")
	txt := p.String()
	for _, want := range []string{" 25% |######------------------| 50/200", "[00:10<00:30, 5.00 img/s]", "loss 0.231"} {
		if !strings.Contains(txt, want) {
			t.Errorf("text %q lacks %q", txt, want)
		}
	}
	// A slow loop shows seconds per item.
	clk.advance(90 * time.Second)
	p.Set(60) // 60 in 100 s = 0.6/s
	if txt := p.String(); !strings.Contains(txt, "1.67 s/img") {
		t.Errorf("slow text %q, want 1.67 s/img", txt)
	}
}

func TestProgressUnknownTotal(t *testing.T) {
	f := &fakePublisher{}
	clk := newClock()
	p := NewProgressWith(ProgressOptions{Label: "batches", Now: clk.now, Publisher: f})
	clk.advance(2 * time.Second)
	p.Add(8)
	txt := p.String()
	if strings.Contains(txt, "%") || !strings.Contains(txt, "batches 8 [00:02, 4.00 it/s]") {
		t.Errorf("text %q, want a count and a rate and no percentage", txt)
	}
	p.Done()
	last := f.messages()[len(f.messages())-1]
	if strings.Contains(last.Data[MIMEHTML].(string), "<progress") {
		t.Error("a bar without a total drew a <progress> element")
	}
}

func TestProgressTextBarWithoutKernel(t *testing.T) {
	var errBuf, outBuf bytes.Buffer
	fp := &FilePublisher{Dir: t.TempDir(), Out: &outBuf, Err: &errBuf}
	clk := newClock()
	p := NewProgressWith(ProgressOptions{Total: 10, Label: "copy", Now: clk.now, Publisher: fp})
	for range 10 {
		clk.advance(time.Second)
		p.Add(1)
	}
	p.Done()
	lines := strings.Split(strings.TrimSpace(errBuf.String()), "\n")
	// Not a terminal: one line at start, then at most one per 2 s of the 10 s, then the final.
	if len(lines) < 4 || len(lines) > 8 {
		t.Fatalf("%d lines, want 4..8:\n%s", len(lines), errBuf.String())
	}
	if !strings.HasPrefix(lines[0], "copy   0% |") {
		t.Errorf("first line %q", lines[0])
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "100% |########################| 10/10 [00:10<00:00, 1.00 it/s]") {
		t.Errorf("last line %q", last)
	}
	if outBuf.Len() != 0 {
		t.Errorf("a text bar wrote to stdout: %q", outBuf.String())
	}
	if p.ID() != "" {
		t.Errorf("a text bar has display id %q", p.ID())
	}
}

func TestRangeDrivesABar(t *testing.T) {
	f, _ := install(t)
	sum := 0
	for i := range Range(5, "items") {
		sum += i
	}
	if sum != 10 {
		t.Fatalf("Range(5) summed to %d, want 10", sum)
	}
	msgs := f.messages()
	last := msgs[len(msgs)-1]
	if c, tot := dataCount(t, last); c != 5 || tot != 5 {
		t.Errorf("final state %d/%d, want 5/5", c, tot)
	}
	// Breaking out still finishes the bar.
	before := len(f.messages())
	for i := range Range(100, "early") {
		if i == 3 {
			break
		}
	}
	after := f.messages()[before:]
	if c, _ := dataCount(t, after[len(after)-1]); c != 3 {
		t.Errorf("after break the bar shows %d, want 3", c)
	}
}

func TestProgressConcurrentAdds(t *testing.T) {
	f := &fakePublisher{}
	p := NewProgressWith(ProgressOptions{Total: 1000, Publisher: f})
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 250 {
				p.Add(1)
			}
		}()
	}
	for range 4 {
		<-done
	}
	p.Done()
	if p.Count() != 1000 {
		t.Fatalf("count %d after 4×250 concurrent adds", p.Count())
	}
	msgs := f.messages()
	if c, _ := dataCount(t, msgs[len(msgs)-1]); c != 1000 {
		t.Errorf("final message shows %d", c)
	}
}

// dataState returns the data-state attribute of a progress message.
func dataState(t *testing.T, m Message) string {
	t.Helper()
	h, _ := m.Data[MIMEHTML].(string)
	match := regexp.MustCompile(`data-state="(\w+)"`).FindStringSubmatch(h)
	if match == nil {
		t.Fatalf("no data-state in %q", h)
	}
	return match[1]
}

func lastMessage(t *testing.T, f *fakePublisher) Message {
	t.Helper()
	msgs := f.messages()
	if len(msgs) == 0 {
		t.Fatal("nothing published")
	}
	return msgs[len(msgs)-1]
}

func TestProgressLeftRunningIsFinishedWhenItsCellEnds(t *testing.T) {
	for _, c := range []struct {
		interrupted, failed bool
		count               int
		want                ProgressState
	}{
		{false, false, 10, Done},   // the cell forgot Done but the work is complete
		{false, false, 4, Stopped}, // the cell returned early
		{true, false, 4, Interrupted},
		{true, true, 4, Interrupted}, // a panic after an interrupt is the interrupt's doing
		{false, true, 4, Failed},
	} {
		f := &fakePublisher{}
		p := NewProgressWith(ProgressOptions{Total: 10, Label: "work", Publisher: f})
		p.Set(c.count)
		if st := dataState(t, lastMessage(t, f)); st != string(Running) {
			t.Fatalf("state %q before the cell ended, want running", st)
		}
		CellFinished(c.interrupted, c.failed)
		last := lastMessage(t, f)
		if st := dataState(t, last); st != string(c.want) || p.State() != c.want {
			t.Errorf("interrupted=%v failed=%v count=%d: state %q (%q), want %q", c.interrupted, c.failed, c.count, st, p.State(), c.want)
		}
		if txt := last.Data[MIMEText].(string); !strings.Contains(txt, string(c.want)) {
			t.Errorf("final text %q does not say %q", txt, c.want)
		}
		// Finished for good: a second cell end or a late Add changes nothing.
		n := len(f.messages())
		CellFinished(false, true)
		p.Add(1)
		if len(f.messages()) != n {
			t.Errorf("a finished bar was redrawn")
		}
	}
}

func TestProgressFinishedByTheCellIsLeftAlone(t *testing.T) {
	f := &fakePublisher{}
	p := NewProgressWith(ProgressOptions{Total: 3, Publisher: f})
	p.Add(3)
	p.Done()
	n := len(f.messages())
	CellFinished(true, false)
	if p.State() != Done || len(f.messages()) != n {
		t.Errorf("a bar finished by its cell changed at the cell's end: %q", p.State())
	}
	var err error = errTest("out of memory")
	q := NewProgressWith(ProgressOptions{Total: 3, Publisher: f})
	q.Fail(err)
	if last := lastMessage(t, f); dataState(t, last) != "failed" || !strings.Contains(last.Data[MIMEHTML].(string), "out of memory") {
		t.Errorf("Fail(err): %q", last.Data[MIMEHTML])
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

func TestProgressRateCountsOnlyWorkDone(t *testing.T) {
	// A sweep of 3 runs × 1000 steps whose first run was already done: the skipped 1000
	// reach the total but not the rate. Before Skip existed, lessons added them with Add and
	// the bar reported hundreds of thousands of steps per second.
	f := &fakePublisher{}
	clk := newClock()
	p := NewProgressWith(ProgressOptions{Total: 3000, Label: "sweep", Unit: "step", Now: clk.now, Publisher: f})
	clk.advance(10 * time.Millisecond)
	p.Skip(1000)
	if txt := p.String(); strings.Contains(txt, "step/s") && !strings.Contains(txt, "– step/s") {
		t.Errorf("after skipping only: %q, want no rate", txt)
	}
	for range 2000 {
		clk.advance(10 * time.Millisecond)
		p.Add(1)
	}
	p.Done()
	last := lastMessage(t, f)
	txt := last.Data[MIMEText].(string)
	// 2000 steps in 20.01 s: 99.95 step/s, whatever was skipped.
	if !strings.Contains(txt, "99.95 step/s") || !strings.Contains(txt, "3000/3000") || !strings.Contains(txt, "1000 already done") {
		t.Errorf("final text %q, want 3000/3000, 99.95 step/s and 1000 already done", txt)
	}
	if dataState(t, last) != string(Done) || attrInt(t, last, "data-skipped") != 1000 {
		t.Errorf("final HTML %q, want done with 1000 skipped", last.Data[MIMEHTML])
	}
}

func TestProgressLongTextsStayOnOneLine(t *testing.T) {
	f := &fakePublisher{}
	label := "ablation (runs already done are skipped) of shifted windows and relative position bias"
	p := NewProgressWith(ProgressOptions{Total: 10, Label: label, Publisher: f})
	p.SetNote(strings.Repeat("a long note about the current run ", 5))
	p.Add(1)
	p.Done()
	last := lastMessage(t, f)
	txt := last.Data[MIMEText].(string)
	if strings.Contains(txt, label) || !strings.Contains(txt, label[:maxLabelRunes-1]+"…") {
		t.Errorf("text %q does not truncate the label with an ellipsis", txt)
	}
	h := last.Data[MIMEHTML].(string)
	for _, want := range []string{"white-space:nowrap", "text-overflow:ellipsis", `title="` + label + `"`} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML lacks %q: %s", want, h)
		}
	}
}

func TestProgressAtMostEndsDoneAtTheCountReached(t *testing.T) {
	// A cell whose runs may train fewer steps than planned (a sampler shortens its epochs):
	// with AtMost, Done at 302 of at most 384 is done, and the total becomes 302; without it,
	// the same count reads "stopped at 302 of 384".
	for _, atMost := range []bool{true, false} {
		f := &fakePublisher{}
		clk := newClock()
		p := NewProgressWith(ProgressOptions{Total: 384, AtMost: atMost, Label: "long tail", Unit: "step", Now: clk.now, Publisher: f})
		clk.advance(time.Second)
		p.Skip(228)
		p.Add(74)
		p.Done()
		last := lastMessage(t, f)
		txt := last.Data[MIMEText].(string)
		if atMost {
			if dataState(t, last) != string(Done) || !strings.Contains(txt, "302/302") || !strings.Contains(txt, "done") {
				t.Errorf("AtMost: final %q (state %s), want done at 302/302", txt, dataState(t, last))
			}
		} else if dataState(t, last) != string(Stopped) || !strings.Contains(txt, "stopped at 302 of 384") {
			t.Errorf("without AtMost: final %q, want stopped at 302 of 384", txt)
		}
	}
	// AtMost does not turn a failure or an interrupt into done.
	f := &fakePublisher{}
	p := NewProgressWith(ProgressOptions{Total: 10, AtMost: true, Publisher: f})
	p.Add(3)
	p.Interrupt()
	p.Done()
	if p.State() != Interrupted {
		t.Errorf("interrupted AtMost bar became %s after Done", p.State())
	}
}
