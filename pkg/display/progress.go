package display

import (
	"fmt"
	"html"
	"io"
	"iter"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultProgressInterval is the shortest time between two redraws of a live progress bar:
// about ten a second, enough to look live without flooding the kernel's iopub channel.
const DefaultProgressInterval = 100 * time.Millisecond

// DefaultLogInterval is the shortest time between two lines of a text progress bar written to
// something that is not a terminal (a go test log, a file): those cannot redraw a line.
const DefaultLogInterval = 2 * time.Second

// ProgressOptions configures [NewProgressWith]. Zero fields take the defaults.
type ProgressOptions struct {
	// Total is the count that means done; 0 or less means unknown (no bar, no ETA).
	Total int
	// AtMost says Total is an upper bound, not a promise: work that may end early (training
	// on epochs a sampler shortens as the model learns). Done then finishes the bar as done at
	// whatever count it reached, and the total shrinks to that count, instead of the bar
	// reading "stopped".
	AtMost bool
	// Label is shown before the bar.
	Label string
	// Unit names what is counted, for the rate ("it" by default: "12.5 it/s").
	Unit string
	// Interval is the shortest time between redraws (default [DefaultProgressInterval]; for a
	// text bar written to a non-terminal, [DefaultLogInterval]).
	Interval time.Duration
	// Now is the clock (default time.Now); tests inject a fake one.
	Now func() time.Time
	// Publisher receives the updates (default: the current publisher when the bar is created).
	Publisher Publisher
}

// ProgressState is where a progress bar stands. A bar is running until it is finished; then
// it shows one of the final states for good.
type ProgressState string

// The states of a progress bar.
const (
	// Running: work is under way.
	Running ProgressState = "running"
	// Done: the work is complete (the count reached the total, or the total is unknown).
	Done ProgressState = "done"
	// Stopped: the work ended without an error before reaching its total (a loop that broke
	// early, early stopping).
	Stopped ProgressState = "stopped"
	// Interrupted: the user interrupted the cell.
	Interrupted ProgressState = "interrupted"
	// Failed: the work ended with an error or a panic.
	Failed ProgressState = "failed"
)

// Final reports whether s is a final state.
func (s ProgressState) Final() bool { return s != Running && s != "" }

// Progress is a live progress bar: in a notebook an HTML bar with count, rate and ETA,
// redrawn in place (update_display_data) at most every Interval; without a kernel (a
// publisher implementing [Terminal]) a text bar on stderr. It is safe for concurrent use.
//
// A bar always ends in a final state ([Done], [Stopped], [Interrupted], [Failed]): through
// Done, Fail or Interrupt, or, for a bar its cell left running, when the cell ends (the
// kernel's runner calls [CellFinished]). Work found already done ([Progress.Skip]) moves the
// bar but not the rate, which counts only work done while the bar watched.
type Progress struct {
	opts   ProgressOptions
	handle *Handle
	term   io.Writer // nil when publishing messages
	tty    bool

	mu       sync.Mutex
	count    int // units done, skipped ones included
	skipped  int // units found already done
	note     string
	start    time.Time
	lastDraw time.Time
	drawn    bool
	state    ProgressState
	failed   bool // publishing failed; reported once
}

// running are the bars not yet finished, for CellFinished.
var running = struct {
	sync.Mutex
	bars map[*Progress]struct{}
}{bars: map[*Progress]struct{}{}}

// CellFinished finishes every progress bar still running. The kernel's runner calls it when
// a cell ends, so that no bar stays half-drawn after its cell: a bar of an interrupted cell
// ends [Interrupted], of a failed one [Failed], and one a successful cell forgot to finish
// [Done] or [Stopped] by its count.
func CellFinished(interrupted, failed bool) {
	running.Lock()
	bars := make([]*Progress, 0, len(running.bars))
	for p := range running.bars {
		bars = append(bars, p)
	}
	running.Unlock()
	for _, p := range bars {
		switch {
		case interrupted:
			p.Interrupt()
		case failed:
			p.Fail(nil)
		default:
			p.Done()
		}
	}
}

// Label and note lengths, in characters, beyond which the text form truncates them with an
// ellipsis (the HTML form truncates to the space it has and keeps the full text in a tooltip).
const (
	maxLabelRunes = 40
	maxNoteRunes  = 60
)

// NewProgress starts a progress bar counting to total (0 or less: unknown) and shows it.
func NewProgress(total int, label string) *Progress {
	return NewProgressWith(ProgressOptions{Total: total, Label: label})
}

// NewProgressWith starts a progress bar with the given options and shows it.
func NewProgressWith(opts ProgressOptions) *Progress {
	if opts.Unit == "" {
		opts.Unit = "it"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Publisher == nil {
		opts.Publisher = CurrentPublisher()
	}
	p := &Progress{opts: opts, state: Running}
	if t, ok := opts.Publisher.(Terminal); ok {
		p.term = t.TerminalWriter()
		if f, ok := p.term.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				p.tty = true
			}
		}
		if p.opts.Interval == 0 && !p.tty {
			p.opts.Interval = DefaultLogInterval
		}
	} else {
		p.handle = New()
	}
	if p.opts.Interval == 0 {
		p.opts.Interval = DefaultProgressInterval
	}
	p.start = opts.Now()
	running.Lock()
	running.bars[p] = struct{}{}
	running.Unlock()
	p.mu.Lock()
	p.draw(p.start)
	p.mu.Unlock()
	return p
}

// Add advances the count by n and redraws if Interval has passed since the last redraw (or the
// count reached Total).
func (p *Progress) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setLocked(p.count + n)
}

// Set sets the count.
func (p *Progress) Set(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setLocked(n)
}

// Skip counts n units of work found already done (a finished run that is reused, steps a
// resumed run had done): they advance the bar towards its total but are left out of the rate
// and the ETA, which measure only the work done under the bar.
func (p *Progress) Skip(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state.Final() || n <= 0 {
		return
	}
	p.skipped += n
	p.setLocked(p.count + n)
}

func (p *Progress) setLocked(n int) {
	if p.state.Final() {
		return
	}
	p.count = n
	now := p.opts.Now()
	if now.Sub(p.lastDraw) >= p.opts.Interval || (p.opts.Total > 0 && n >= p.opts.Total) {
		p.draw(now)
	}
}

// SetNote sets a short text shown after the numbers, such as "loss 0.231"; it appears at the
// next redraw.
func (p *Progress) SetNote(note string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.note = note
}

// Count returns the current count.
func (p *Progress) Count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

// ID returns the display id the bar updates (empty for a text bar).
func (p *Progress) ID() string {
	if p.handle == nil {
		return ""
	}
	return p.handle.ID()
}

// Done finishes the bar: [Done] when the count reached the total (or the total is unknown,
// or only an upper bound: [ProgressOptions.AtMost]), else [Stopped]. Later calls to Add, Set,
// Skip or any finishing method are ignored.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Done
	if p.opts.Total > 0 && p.count < p.opts.Total {
		if p.opts.AtMost && !p.state.Final() {
			p.opts.Total = p.count
		} else {
			st = Stopped
		}
	}
	p.finishLocked(st)
}

// Fail finishes the bar as [Failed]; err, when not nil, becomes its note.
func (p *Progress) Fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil && !p.state.Final() {
		p.note = err.Error()
	}
	p.finishLocked(Failed)
}

// Interrupt finishes the bar as [Interrupted].
func (p *Progress) Interrupt() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked(Interrupted)
}

// State returns the bar's state.
func (p *Progress) State() ProgressState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

func (p *Progress) finishLocked(st ProgressState) {
	if p.state.Final() {
		return
	}
	p.state = st
	running.Lock()
	delete(running.bars, p)
	running.Unlock()
	p.draw(p.opts.Now())
	if p.term != nil && p.tty {
		_, _ = io.WriteString(p.term, "\n")
	}
}

// String returns the text form of the bar as it stands now.
func (p *Progress) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.text(p.opts.Now())
}

type progressStats struct {
	frac    float64 // NaN when the total is unknown
	rate    float64 // units of work done under the bar per second; NaN when there is none
	elapsed time.Duration
	eta     time.Duration // negative when unknown
}

func (p *Progress) stats(now time.Time) progressStats {
	s := progressStats{frac: math.NaN(), rate: math.NaN(), elapsed: now.Sub(p.start), eta: -1}
	if p.opts.Total > 0 {
		s.frac = math.Min(1, math.Max(0, float64(p.count)/float64(p.opts.Total)))
	}
	worked := p.count - p.skipped
	if secs := s.elapsed.Seconds(); secs > 0 && (worked > 0 || p.skipped == 0) {
		s.rate = float64(worked) / secs
	}
	switch {
	case p.opts.Total > 0 && p.count >= p.opts.Total:
		s.eta = 0
	case p.opts.Total > 0 && s.rate > 0 && !p.state.Final():
		left := float64(p.opts.Total-p.count) / s.rate
		s.eta = time.Duration(math.Max(0, left) * float64(time.Second))
	}
	return s
}

// truncate shortens s to at most n characters, ending it with an ellipsis when cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func formatDuration(d time.Duration) string {
	if d < 0 {
		return "?"
	}
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%02d:%02d", m, s)
}

func formatRate(rate float64, unit string) string {
	switch {
	case math.IsNaN(rate):
		return "– " + unit + "/s"
	case rate >= 100:
		return fmt.Sprintf("%.0f %s/s", rate, unit)
	case rate >= 1 || rate == 0:
		return fmt.Sprintf("%.2f %s/s", rate, unit)
	default:
		return fmt.Sprintf("%.2f s/%s", 1/rate, unit)
	}
}

// stateText is what a finished bar says after its numbers, "" while it runs.
func (p *Progress) stateText() string {
	switch p.state {
	case Done:
		return "done"
	case Stopped:
		return fmt.Sprintf("stopped at %d of %d", p.count, p.opts.Total)
	case Interrupted:
		return "interrupted"
	case Failed:
		return "failed"
	}
	return ""
}

// skippedText says how much of the count was found already done, "" when nothing was.
func (p *Progress) skippedText() string {
	if p.skipped == 0 {
		return ""
	}
	return fmt.Sprintf("%d already done", p.skipped)
}

// text is the plain form: "label  42% |########------------| 42/100 [00:04<00:05, 9.87 it/s] note",
// with the final state ("done", "failed", ...) after the numbers once the bar is finished.
func (p *Progress) text(now time.Time) string {
	s := p.stats(now)
	var sb strings.Builder
	if p.opts.Label != "" {
		sb.WriteString(truncate(p.opts.Label, maxLabelRunes) + " ")
	}
	if p.opts.Total > 0 {
		const width = 24
		filled := int(s.frac * width)
		fmt.Fprintf(&sb, "%3.0f%% |%s%s| %d/%d ", 100*s.frac,
			strings.Repeat("#", filled), strings.Repeat("-", width-filled), p.count, p.opts.Total)
		fmt.Fprintf(&sb, "[%s<%s, %s]", formatDuration(s.elapsed), formatDuration(s.eta), formatRate(s.rate, p.opts.Unit))
	} else {
		fmt.Fprintf(&sb, "%d [%s, %s]", p.count, formatDuration(s.elapsed), formatRate(s.rate, p.opts.Unit))
	}
	for _, part := range []string{p.skippedText(), p.stateText(), truncate(p.note, maxNoteRunes)} {
		if part != "" {
			sb.WriteString(" " + part)
		}
	}
	return sb.String()
}

// progressStyle lays the HTML bar out on one line whatever its texts: fixed-width numbers,
// and a label and a note that end in an ellipsis when they are too long (their full text in
// a tooltip) instead of wrapping into ragged columns. Colours are inherited, so the bar
// follows JupyterLab's theme.
const (
	progressStyle = "display:flex;align-items:center;gap:0.6em;white-space:nowrap;overflow:hidden;max-width:100%;" +
		"font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,13px);font-variant-numeric:tabular-nums"
	labelStyle = "flex:0 1 auto;min-width:3em;max-width:22em;overflow:hidden;text-overflow:ellipsis"
	fixedStyle = "flex:none"
	noteStyle  = "flex:1 1 0;min-width:0;overflow:hidden;text-overflow:ellipsis"
)

// htmlForm is the notebook form: a <progress> element and the same numbers. The state and the
// counts are also in data attributes, for tests and for front-end styling.
func (p *Progress) htmlForm(now time.Time) string {
	s := p.stats(now)
	var sb strings.Builder
	fmt.Fprintf(&sb, `<div class="gostudy-progress" data-state="%s" data-count="%d" data-total="%d" data-skipped="%d" style="%s">`,
		p.state, p.count, p.opts.Total, p.skipped, progressStyle)
	span := func(style, title, text string) {
		if title != "" {
			fmt.Fprintf(&sb, `<span style="%s" title="%s">%s</span>`, style, html.EscapeString(title), html.EscapeString(text))
			return
		}
		fmt.Fprintf(&sb, `<span style="%s">%s</span>`, style, html.EscapeString(text))
	}
	if p.opts.Label != "" {
		span(labelStyle, p.opts.Label, p.opts.Label)
	}
	if p.opts.Total > 0 {
		fmt.Fprintf(&sb, `<progress value="%d" max="%d" style="flex:none;width:14em"></progress>`, min(p.count, p.opts.Total), p.opts.Total)
		span(fixedStyle, "", fmt.Sprintf("%3.0f%%", 100*s.frac))
		span(fixedStyle, "", fmt.Sprintf("%d/%d", p.count, p.opts.Total))
		span(fixedStyle, "", fmt.Sprintf("[%s<%s, %s]", formatDuration(s.elapsed), formatDuration(s.eta), formatRate(s.rate, p.opts.Unit)))
	} else {
		span(fixedStyle, "", strconv.Itoa(p.count))
		span(fixedStyle, "", fmt.Sprintf("[%s, %s]", formatDuration(s.elapsed), formatRate(s.rate, p.opts.Unit)))
	}
	if t := p.skippedText(); t != "" {
		span(fixedStyle, "", t)
	}
	if t := p.stateText(); t != "" {
		fmt.Fprintf(&sb, `<span class="gostudy-progress-state" style="%s;font-weight:bold">%s</span>`, fixedStyle, html.EscapeString(t))
	}
	if p.note != "" {
		span(noteStyle, p.note, p.note)
	}
	sb.WriteString("</div>")
	return sb.String()
}

// draw publishes the current state; the caller holds p.mu. Publishing errors are reported
// once on stderr and then ignored: a broken display must not stop a training loop.
func (p *Progress) draw(now time.Time) {
	p.lastDraw = now
	var err error
	switch {
	case p.term != nil && p.tty:
		_, err = fmt.Fprintf(p.term, "\r\x1b[K%s", p.text(now))
	case p.term != nil:
		_, err = fmt.Fprintln(p.term, p.text(now))
	default:
		b := HTMLBundle(p.htmlForm(now))
		b[MIMEText] = p.text(now)
		typ := TypeUpdateDisplayData
		if !p.drawn {
			typ = TypeDisplayData
		}
		m := Message{Type: typ, Data: b, DisplayID: p.handle.ID()}
		if err = m.Validate(); err == nil {
			err = p.opts.Publisher.Publish(m)
		}
	}
	if err != nil {
		if !p.failed {
			report(fmt.Errorf("display: progress %q: %w", p.opts.Label, err))
		}
		p.failed = true
		return
	}
	p.drawn = true
}

// Range returns an iterator over 0..n-1 that drives a progress bar, so a loop gets one by
// changing its range clause: for i := range display.Range(epochs, "epochs") { ... }.
// The bar is finished when the loop ends, even by break.
func Range(n int, label string) iter.Seq[int] {
	return func(yield func(int) bool) {
		p := NewProgress(n, label)
		defer p.Done()
		for i := range n {
			if !yield(i) {
				return
			}
			p.Add(1)
		}
	}
}
