package display

import (
	"fmt"
	"html"
	"io"
	"iter"
	"math"
	"os"
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

// Progress is a live progress bar: in a notebook an HTML bar with count, rate and ETA,
// redrawn in place (update_display_data) at most every Interval; without a kernel (a
// publisher implementing [Terminal]) a text bar on stderr. It is safe for concurrent use.
type Progress struct {
	opts   ProgressOptions
	handle *Handle
	term   io.Writer // nil when publishing messages
	tty    bool

	mu       sync.Mutex
	count    int
	note     string
	start    time.Time
	lastDraw time.Time
	drawn    bool
	done     bool
	failed   bool
}

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
	p := &Progress{opts: opts}
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

func (p *Progress) setLocked(n int) {
	if p.done {
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

// Done draws the final state and stops the bar; later calls to Add or Set are ignored.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	p.done = true
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
	rate    float64 // units per second; NaN before any time has passed
	elapsed time.Duration
	eta     time.Duration // negative when unknown
}

func (p *Progress) stats(now time.Time) progressStats {
	s := progressStats{frac: math.NaN(), rate: math.NaN(), elapsed: now.Sub(p.start), eta: -1}
	if p.opts.Total > 0 {
		s.frac = math.Min(1, math.Max(0, float64(p.count)/float64(p.opts.Total)))
	}
	if secs := s.elapsed.Seconds(); secs > 0 {
		s.rate = float64(p.count) / secs
		if p.opts.Total > 0 && s.rate > 0 {
			left := float64(p.opts.Total-p.count) / s.rate
			s.eta = time.Duration(math.Max(0, left) * float64(time.Second))
		}
	}
	return s
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
		return "? " + unit + "/s"
	case rate >= 100:
		return fmt.Sprintf("%.0f %s/s", rate, unit)
	case rate >= 1 || rate == 0:
		return fmt.Sprintf("%.2f %s/s", rate, unit)
	default:
		return fmt.Sprintf("%.2f s/%s", 1/rate, unit)
	}
}

// text is the plain form: "label  42% |########------------| 42/100 [00:04<00:05, 9.87 it/s] note".
func (p *Progress) text(now time.Time) string {
	s := p.stats(now)
	var sb strings.Builder
	if p.opts.Label != "" {
		sb.WriteString(p.opts.Label + " ")
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
	if p.note != "" {
		sb.WriteString(" " + p.note)
	}
	return sb.String()
}

// htmlForm is the notebook form: a <progress> element and the same numbers. The count is
// also in data attributes, for tests and for front-end styling.
func (p *Progress) htmlForm(now time.Time) string {
	s := p.stats(now)
	var sb strings.Builder
	fmt.Fprintf(&sb, `<div class="gostudy-progress" data-count="%d" data-total="%d" style="font-family:monospace;display:flex;gap:0.6em;align-items:center">`,
		p.count, p.opts.Total)
	if p.opts.Label != "" {
		fmt.Fprintf(&sb, "<span>%s</span>", html.EscapeString(p.opts.Label))
	}
	if p.opts.Total > 0 {
		fmt.Fprintf(&sb, `<progress value="%d" max="%d" style="width:20em"></progress><span>%3.0f%%</span><span>%d/%d</span>`,
			min(p.count, p.opts.Total), p.opts.Total, 100*s.frac, p.count, p.opts.Total)
		fmt.Fprintf(&sb, "<span>[%s&lt;%s, %s]</span>", formatDuration(s.elapsed), formatDuration(s.eta),
			html.EscapeString(formatRate(s.rate, p.opts.Unit)))
	} else {
		fmt.Fprintf(&sb, "<span>%d</span><span>[%s, %s]</span>", p.count, formatDuration(s.elapsed),
			html.EscapeString(formatRate(s.rate, p.opts.Unit)))
	}
	if p.note != "" {
		fmt.Fprintf(&sb, "<span>%s</span>", html.EscapeString(p.note))
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
