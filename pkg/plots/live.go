package plots

import (
	"fmt"
	"sync"
	"time"

	"github.com/gostudy/gostudy/pkg/display"
)

// DefaultLiveInterval is the shortest time between two redraws of a [LiveCurves]: drawing an
// SVG of a few thousand points takes milliseconds, but a notebook gains nothing from more
// than a few frames a second.
const DefaultLiveInterval = 250 * time.Millisecond

// LiveOptions configures [NewLiveCurvesWith]. Zero fields take the defaults.
type LiveOptions struct {
	// Interval is the shortest time between redraws (default [DefaultLiveInterval]).
	Interval time.Duration
	// Now is the clock (default time.Now); tests inject a fake one.
	Now func() time.Time
}

// LiveCurves is a [Curves] chart that redraws itself in place (one display id, updated with
// update_display_data) as points arrive, at most once per Interval; Flush draws the latest
// state. Without a kernel the default publisher keeps rewriting one SVG file. It is safe for
// concurrent use.
type LiveCurves struct {
	opts   LiveOptions
	handle *display.Handle

	mu      sync.Mutex
	curves  Curves
	last    time.Time
	pending bool
	failed  bool
}

// NewLiveCurves starts a live chart with the given labels. Nothing is shown until the first
// point arrives.
func NewLiveCurves(title, xlabel, ylabel string) *LiveCurves {
	return NewLiveCurvesWith(Curves{Title: title, XLabel: xlabel, YLabel: ylabel}, LiveOptions{})
}

// NewLiveCurvesWith starts a live chart from c (its labels, options and any initial series).
func NewLiveCurvesWith(c Curves, opts LiveOptions) *LiveCurves {
	if opts.Interval <= 0 {
		opts.Interval = DefaultLiveInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &LiveCurves{opts: opts, handle: display.New(), curves: c}
}

// ID returns the display id the chart updates.
func (l *LiveCurves) ID() string { return l.handle.ID() }

// Add appends (x, y) to the named series and redraws if Interval has passed since the last
// redraw (the first point is drawn at once).
func (l *LiveCurves) Add(series string, x, y float64) { l.AddMetric("", series, x, y) }

// AddMetric appends (x, y) to the named series of a metric (see [Series.Metric]: each metric
// gets its own labelled panel) and redraws like Add.
func (l *LiveCurves) AddMetric(metric, series string, x, y float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.curves.AddMetric(metric, series, x, y)
	l.pending = true
	now := l.opts.Now()
	if !l.handle.Shown() || now.Sub(l.last) >= l.opts.Interval {
		l.redraw(now)
	}
}

// Flush redraws now if points arrived since the last redraw. Call it when the loop ends.
func (l *LiveCurves) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending || !l.handle.Shown() {
		l.redraw(l.opts.Now())
	}
}

// Curves returns a copy of the chart's data as it stands.
func (l *LiveCurves) Curves() Curves {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.curves
	c.Series = make([]Series, len(l.curves.Series))
	for i, s := range l.curves.Series {
		c.Series[i] = Series{
			Name:   s.Name,
			Metric: s.Metric,
			X:      append([]float64(nil), s.X...),
			Y:      append([]float64(nil), s.Y...),
			Err:    append([]float64(nil), s.Err...),
		}
		if s.Err == nil {
			c.Series[i].Err = nil
		}
	}
	return c
}

// MIMEBundle implements display.Bundler: a cell that ends with a LiveCurves shows a snapshot.
func (l *LiveCurves) MIMEBundle() (display.Bundle, map[string]any) { return l.Curves().MIMEBundle() }

// redraw publishes the chart; the caller holds l.mu. A failure to publish is reported once on
// stderr and otherwise ignored, so that a broken display does not stop training.
func (l *LiveCurves) redraw(now time.Time) {
	l.last = now
	l.pending = false
	b, md := bundle(l.curves) // an undrawable chart shows why, in place
	err := l.handle.Publish(b, md)
	if err != nil && !l.failed {
		l.failed = true
		fmt.Fprintf(stderr(), "plots: live curves: %v\n", err)
	}
}
