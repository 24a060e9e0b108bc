package experiment

import "github.com/gostudy/gostudy/pkg/display"

// BarProgress returns a Progress that drives a progress bar counting training steps: one
// unit per step trained, and the steps of a run found already done (EventSkip) or done
// before a resume (EventResume) as skipped work, so that a sweep that reuses finished runs
// still reaches its total and its rate counts only the steps trained now. next, when not
// nil, receives every event too (a live chart, say).
//
// The bar's total should be the steps of every run it watches; finish it with Done (or let
// the cell's end finish it) when they are all done.
func BarProgress(bar *display.Progress, next Progress) Progress {
	return func(ev Event) {
		switch ev.Kind {
		case EventStep:
			bar.Add(1)
		case EventSkip, EventResume:
			bar.Skip(ev.Step)
		}
		if next != nil {
			next(ev)
		}
	}
}
