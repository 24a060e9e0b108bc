package windowattention

import (
	"context"
	"fmt"
	"strings"

	"github.com/gostudy/gostudy/pkg/display"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/plots"
)

// Live shows a run in a notebook while it trains: a progress bar and a curve, redrawn in
// place, of the training loss (every step) and the validation accuracy and loss (every
// epoch). Pass its Progress method as experiment.Options.Progress.
type Live struct {
	Curves *plots.LiveCurves
	bar    *display.Progress
	label  string
	// Points counts the points drawn (0 when the run was already done and was skipped).
	Points int
}

// NewLive starts a live view with a title.
func NewLive(title string) *Live {
	return &Live{Curves: plots.NewLiveCurves(title, "training step", "loss / accuracy"), label: title}
}

// Progress receives the run's events.
func (l *Live) Progress(ev experiment.Event) {
	switch ev.Kind {
	case experiment.EventStart, experiment.EventResume:
		if l.bar == nil && ev.TotalSteps > 0 {
			l.bar = display.NewProgress(ev.TotalSteps, l.label)
			l.bar.Add(ev.Step)
		}
	case experiment.EventStep:
		l.Curves.Add("train loss", float64(ev.Step), ev.Loss)
		l.Points++
		if l.bar != nil {
			l.bar.SetNote(fmt.Sprintf("epoch %d/%d, loss %.3f", ev.Epoch+1, ev.Epochs, ev.Loss))
			l.bar.Add(1)
		}
	case experiment.EventEpoch:
		l.Curves.Add("val accuracy", float64(ev.Step), ev.Metrics["acc"])
		l.Curves.Add("val loss", float64(ev.Step), ev.Metrics["loss"])
		l.Points += 2
	}
}

// Finish draws the final state. A run that was already done (and so was skipped) is drawn
// from its record: the logged training losses and the per-epoch validation metrics.
func (l *Live) Finish(rec *experiment.Record) {
	if l.Points == 0 && rec != nil {
		for _, p := range rec.Steps {
			l.Curves.Add("train loss", float64(p.Step), p.Loss)
		}
		for _, e := range rec.Epochs {
			l.Curves.Add("val accuracy", float64(e.Step), e.Val["acc"])
			l.Curves.Add("val loss", float64(e.Step), e.Val["loss"])
		}
	}
	if l.bar != nil {
		l.bar.Done()
	}
	l.Curves.Flush()
}

// Variant is one model of the ablation.
type Variant struct {
	Name    string
	Shift   bool
	RelBias bool
}

// Variants are the ablation's models, one switch off at a time, as the paper's Table 4 ablates
// them: the full Swin, the same without shifted windows, and without the relative position
// bias. (`gostudy ablate windowattention -grid shift=true,false -grid rel_bias=true,false`
// runs the full 2×2 grid.)
var Variants = []Variant{
	{Name: "shift + rel. bias (Swin)", Shift: true, RelBias: true},
	{Name: "no shift (W-MSA only)", Shift: false, RelBias: true},
	{Name: "no rel. bias", Shift: true, RelBias: false},
}

// AblationRow is one variant's result over the seeds.
type AblationRow struct {
	Variant
	// Acc is the test accuracy of each seed's best checkpoint, mean ± std.
	Acc experiment.Stat
	// Seconds is the mean wall time of one run.
	Seconds float64
	// ConfigID names the runs' folder under RunsDir()/windowattention.
	ConfigID string
}

// Ablate trains every variant of [Variants] on base with each seed (runs already done are
// read back, not retrained) and returns one row per variant. onRow, when not nil, is called
// after each variant with the rows so far.
func Ablate(ctx context.Context, base Config, seeds []int64, opts experiment.Options,
	onRow func([]AblationRow)) ([]AblationRow, error) {
	var rows []AblationRow
	for _, v := range Variants {
		c := base
		c.Shift, c.RelBias = v.Shift, v.RelBias
		sum, err := Experiment.Repeat(ctx, c, seeds, opts)
		if err != nil {
			return rows, fmt.Errorf("ablation %q: %w", v.Name, err)
		}
		rows = append(rows, AblationRow{Variant: v, Acc: sum.Final["acc"], Seconds: sum.WallSeconds.Mean,
			ConfigID: sum.ConfigID})
		if onRow != nil {
			onRow(rows)
		}
	}
	return rows, nil
}

// AblationMarkdown formats the rows as a Markdown table.
func AblationMarkdown(rows []AblationRow) string {
	var b strings.Builder
	b.WriteString("| model | test accuracy (mean ± std) | seeds | per-seed | s/run |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		var per []string
		for _, v := range r.Acc.Values {
			per = append(per, fmt.Sprintf("%.4f", v))
		}
		fmt.Fprintf(&b, "| %s | %.4f ± %.4f | %d | %s | %.0f |\n", r.Name, r.Acc.Mean, r.Acc.Std, r.Acc.N(),
			strings.Join(per, ", "), r.Seconds)
	}
	return b.String()
}

// AblationBars draws the rows as bars with ±std error bars.
func AblationBars(rows []AblationRow, title string) plots.Bars {
	var names []string
	var mean, std []float64
	for _, r := range rows {
		names = append(names, r.Name)
		mean = append(mean, r.Acc.Mean)
		std = append(std, r.Acc.Std)
	}
	return plots.Bars{Title: title, Categories: names, YLabel: "test accuracy",
		Series: []plots.BarSeries{{Name: "test accuracy", Values: mean, Err: std}}, ShowValues: true}
}
