package lesson

import (
	"fmt"
	"sync"

	"github.com/gostudy/gostudy/pkg/display"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/plots"
)

// Live shows a notebook cell's training as it happens: one progress bar over every step the
// cell may train, and a chart of the training loss (smoothed, one curve per label) redrawn in
// place. Only the first seed of each label is drawn, so a comparison over seeds shows one curve
// per arm; later seeds move the bar. A run that was already done is drawn from its record and
// its steps count on the bar as skipped work (left out of the rate), so a rerun after a restart
// shows the same figure and an honest rate.
//
// Pass its Progress method as [Options].Progress and call Done when the training call returns.
type Live struct {
	Curves *plots.LiveCurves
	bar    *display.Progress

	mu    sync.Mutex
	drawn map[string]int64 // label → the seed whose curve is drawn
}

// NewLive starts a live view titled title (the chart's title says it is the training loss)
// for a cell that trains at most totalSteps steps in all.
func NewLive(title string, totalSteps int) *Live { return newLive(title, totalSteps, false) }

// NewLiveAtMost is [NewLive] for a cell whose runs may train fewer steps than maxSteps (epochs
// a sampler shortens as the model learns): its bar ends done at the steps really trained.
func NewLiveAtMost(title string, maxSteps int) *Live { return newLive(title, maxSteps, true) }

func newLive(title string, steps int, atMost bool) *Live {
	return &Live{
		Curves: plots.NewLiveCurvesWith(plots.Curves{Title: title + ": training loss (smoothed)",
			XLabel: "training step", YLabel: "batch loss", Smooth: 0.8}, plots.LiveOptions{}),
		bar: display.NewProgressWith(display.ProgressOptions{Total: steps, AtMost: atMost, Label: title,
			Unit: "steps"}),
		drawn: map[string]int64{},
	}
}

// draws reports whether label's run with seed is the one whose curve is drawn.
func (l *Live) draws(label string, seed int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.drawn[label]
	if !ok {
		l.drawn[label] = seed
		return true
	}
	return s == seed
}

// Progress receives one run's events under label.
func (l *Live) Progress(label string, ev experiment.Event) {
	switch ev.Kind {
	case experiment.EventStart, experiment.EventResume:
		l.draws(label, ev.Seed)
		l.bar.Skip(ev.Step) // steps a resumed run had done: not in the rate
		l.bar.SetNote(fmt.Sprintf("%s, seed %d: compiling", label, ev.Seed))
	case experiment.EventStep:
		if l.draws(label, ev.Seed) {
			l.Curves.Add(label, float64(ev.Step), ev.Loss)
		}
		l.bar.Add(1)
		l.bar.SetNote(fmt.Sprintf("%s, seed %d: loss %.3f", label, ev.Seed, ev.Loss))
	case experiment.EventEpoch:
		l.bar.SetNote(fmt.Sprintf("%s, seed %d: epoch %d/%d%s", label, ev.Seed, ev.Epoch+1, ev.Epochs, scoreNote("validation", ev.Metrics)))
	case experiment.EventSkip:
		rec, err := experiment.ReadRecord(ev.RunDir)
		if err != nil {
			l.bar.SetNote(fmt.Sprintf("%s, seed %d: done before (record unreadable: %v)", label, ev.Seed, err))
			return
		}
		if l.draws(label, ev.Seed) {
			for _, p := range rec.Steps {
				l.Curves.Add(label, float64(p.Step), p.Loss)
			}
		}
		l.bar.Skip(rec.Step)
		l.bar.SetNote(fmt.Sprintf("%s, seed %d: done before%s", label, ev.Seed, scoreNote("test", rec.Final)))
	}
}

// scoreNote is ", <split> accuracy 0.9812" for a classifier's metrics, ", <split> Dice 0.7437"
// for a segmentation lesson's (which has no accuracy), "" when neither is there.
func scoreNote(split string, metrics map[string]float64) string {
	if v, ok := metrics["acc"]; ok {
		return fmt.Sprintf(", %s accuracy %.4f", split, v)
	}
	if v, ok := metrics["dice"]; ok {
		return fmt.Sprintf(", %s Dice %.4f", split, v)
	}
	return ""
}

// Done draws the final chart and closes the bar.
func (l *Live) Done() {
	l.Curves.Flush()
	l.bar.Done()
}
