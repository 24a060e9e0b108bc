package dropout

import (
	"context"
	"fmt"
	"strconv"

	"github.com/gostudy/gostudy/pkg/ablation"
	"github.com/gostudy/gostudy/pkg/display"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
	"github.com/gostudy/gostudy/pkg/plots"
)

// This file: training the network — live progress, Dropout vs DropPath on MNIST, the p-sweep.

// Steps is the number of training steps of one run of cfg.
func (c NetConfig) Steps() int { return c.TrainSize / c.BatchSize * c.Epochs }

// Watch returns an experiment.Progress that draws a run's batch loss (x: step) and its
// validation accuracy after every epoch on live, as the series "<label> loss" and
// "<label> val acc", and advances bar by one per step (by a whole run when the run was already
// done and is skipped). live and bar may be nil.
func Watch(live *plots.LiveCurves, bar *display.Progress, label string, steps int) experiment.Progress {
	return func(ev experiment.Event) {
		switch ev.Kind {
		case experiment.EventStep:
			if live != nil {
				live.Add(label+" loss", float64(ev.Step), ev.Loss)
			}
			if bar != nil {
				bar.Add(1)
				bar.SetNote(fmt.Sprintf("%s loss %.3f", label, ev.Loss))
			}
		case experiment.EventEpoch:
			if live != nil {
				live.Add(label+" val acc", float64(ev.Step), ev.Metrics["acc"])
			}
			if bar != nil {
				bar.SetNote(fmt.Sprintf("%s epoch %d val acc %.4f", label, ev.Epoch+1, ev.Metrics["acc"]))
			}
		case experiment.EventSkip:
			if bar != nil {
				bar.Skip(steps)
				bar.SetNote(fmt.Sprintf("%s already done: test acc %.4f", label, ev.Metrics["acc"]))
			}
		}
	}
}

// Variant is one network of a comparison: a name and its two drop knobs.
type Variant struct {
	Name     string
	Dropout  float64
	DropPath float64
}

// Apply returns base with the variant's knobs.
func (v Variant) Apply(base NetConfig) NetConfig {
	base.Dropout, base.DropPath = v.Dropout, v.DropPath
	return base
}

// Variants are the three networks the lesson compares: no drop, element-wise Dropout with
// probability p, and DropPath (stochastic depth) with last-block rate q.
func Variants(p, q float64) []Variant {
	return []Variant{
		{Name: "none", Dropout: 0, DropPath: 0},
		{Name: fmt.Sprintf("Dropout p=%g", p), Dropout: p},
		{Name: fmt.Sprintf("DropPath q=%g", q), DropPath: q},
	}
}

// CompareRow is one variant trained with several seeds.
type CompareRow struct {
	Variant Variant
	// MeanBlockDropPath is the mean of the per-block stochastic-depth rates (the schedule grows
	// linearly from 0 to DropPath).
	MeanBlockDropPath float64
	// TestAcc and TestLoss are the best checkpoint's test metrics.
	TestAcc, TestLoss experiment.Stat
	// TrainLoss is the last epoch's mean training loss, measured with the drops active;
	// ValLoss the validation loss after the last epoch (drops off). Their difference shows the
	// regularizer at work: drops make the training task harder than the test-time one.
	TrainLoss, ValLoss experiment.Stat
	Summary            *experiment.Summary
}

// CompareDrops trains every variant with every seed (runs already done under opts.Dir are
// skipped, so the notebook's main run is reused) and summarizes them. progress, when not nil,
// gives the Progress of each variant's runs.
func CompareDrops(ctx context.Context, base NetConfig, variants []Variant, seeds []int64, opts experiment.Options,
	progress func(v Variant) experiment.Progress) ([]CompareRow, error) {
	var rows []CompareRow
	for _, v := range variants {
		cfg := v.Apply(base)
		o := opts
		if progress != nil {
			o.Progress = progress(v)
		}
		sum, err := Exp.Repeat(ctx, cfg, seeds, o)
		if err != nil {
			return rows, fmt.Errorf("compare drops, %s: %w", v.Name, err)
		}
		row := CompareRow{Variant: v, Summary: sum, TestAcc: sum.Final["acc"], TestLoss: sum.Final["loss"]}
		rates := 0.0
		n := 0
		for _, st := range nn.DropPathRates(cfg.DropPath, cfg.Depths...) {
			for _, r := range st {
				rates += r
				n++
			}
		}
		row.MeanBlockDropPath = rates / float64(max(n, 1))
		var tl, vl []float64
		for _, r := range sum.Records {
			if len(r.Epochs) == 0 {
				continue
			}
			last := r.Epochs[len(r.Epochs)-1]
			tl = append(tl, last.TrainLoss)
			vl = append(vl, last.Val["loss"])
		}
		row.TrainLoss, row.ValLoss = experiment.NewStat(tl), experiment.NewStat(vl)
		rows = append(rows, row)
	}
	return rows, nil
}

// SweepRow is one drop probability of the p-sweep.
type SweepRow struct {
	P                 float64
	TestAcc, TestLoss experiment.Stat
}

// Verdict summarizes a p-sweep against the claim "moderate dropout does not hurt": the
// accuracy without dropout, the largest loss of accuracy at a moderate p (0 < p ≤ Moderate),
// the best p, and the accuracy at the largest p.
type Verdict struct {
	Moderate float64
	Acc0     experiment.Stat
	// ModerateWorstDrop is max over moderate p of acc(0) − acc(p), as a fraction (0.01 = one
	// percentage point); negative when every moderate p helped. It is −1, with ModerateWorstP 0,
	// when the sweep has no moderate p.
	ModerateWorstDrop float64
	ModerateWorstP    float64
	BestP             float64
	BestAcc           experiment.Stat
	HighestP          float64
	HighestAcc        experiment.Stat
	// HighestDrop is acc(0) − acc(largest p).
	HighestDrop float64
}

// SweepSpec is the ablation [Sweep] runs: base with the dropout knob set to each of ps.
func SweepSpec(base NetConfig, ps []float64, seeds int, firstSeed int64, opts experiment.Options) ablation.Spec {
	values := make([]string, len(ps))
	for i, p := range ps {
		values[i] = strconv.FormatFloat(p, 'g', -1, 64)
	}
	return ablation.Spec{
		Runnable:  Exp,
		Base:      &base,
		Grid:      []ablation.Axis{{Key: "dropout", Values: values}},
		Seeds:     seeds,
		FirstSeed: firstSeed,
		Dir:       opts.Dir,
		Backend:   opts.Backend,
		Progress:  opts.Progress,
	}
}

// Sweep runs the p-sweep with pkg/ablation (the same grid `gostudy ablate dropout -grid
// dropout=...` runs; finished runs are reused) and returns the table, one row per p, and the
// verdict for the moderate range (0, moderate]. Seeds are firstSeed, firstSeed+1, ...
// onRow, when not nil, sees the table after every finished p.
func Sweep(ctx context.Context, base NetConfig, ps []float64, seeds int, firstSeed int64, moderate float64,
	opts experiment.Options, onRow func(int, *ablation.Table)) (*ablation.Table, []SweepRow, *Verdict, error) {
	spec := SweepSpec(base, ps, seeds, firstSeed, opts)
	spec.OnRow = onRow
	tab, err := ablation.Run(ctx, spec)
	if err != nil {
		return tab, nil, nil, fmt.Errorf("dropout sweep: %w", err)
	}
	rows := make([]SweepRow, len(tab.Rows))
	for i, r := range tab.Rows {
		rows[i] = SweepRow{P: ps[i], TestAcc: r.Summary.Final["acc"], TestLoss: r.Summary.Final["loss"]}
	}
	v, err := Judge(rows, moderate)
	return tab, rows, v, err
}

// Judge computes the [Verdict] of sweep rows; the rows must include p = 0.
func Judge(rows []SweepRow, moderate float64) (*Verdict, error) {
	v := &Verdict{Moderate: moderate}
	found := false
	for _, r := range rows {
		if r.P == 0 {
			v.Acc0, found = r.TestAcc, true
		}
	}
	if !found {
		return nil, fmt.Errorf("judge sweep: no p = 0 row to compare with")
	}
	v.ModerateWorstDrop = -1
	for i, r := range rows {
		if i == 0 || r.TestAcc.Mean > v.BestAcc.Mean {
			v.BestP, v.BestAcc = r.P, r.TestAcc
		}
		if r.P > 0 && r.P <= moderate {
			if d := v.Acc0.Mean - r.TestAcc.Mean; d > v.ModerateWorstDrop {
				v.ModerateWorstDrop, v.ModerateWorstP = d, r.P
			}
		}
		if i == 0 || r.P > v.HighestP {
			v.HighestP, v.HighestAcc = r.P, r.TestAcc
		}
	}
	v.HighestDrop = v.Acc0.Mean - v.HighestAcc.Mean
	return v, nil
}

// SweepCurves draws test accuracy (mean ± std over seeds) against p.
func SweepCurves(rows []SweepRow) plots.Curves {
	s := plots.Series{Name: "test accuracy"}
	for _, r := range rows {
		s.X = append(s.X, r.P)
		s.Y = append(s.Y, r.TestAcc.Mean)
		s.Err = append(s.Err, r.TestAcc.Std)
	}
	return plots.Curves{Title: "MNIST test accuracy vs dropout probability p (mean ± std over seeds)",
		XLabel: "dropout probability p", YLabel: "test accuracy", Series: []plots.Series{s}}
}
