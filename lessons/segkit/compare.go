package segkit

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomlx/compute"
	"github.com/gostudy/gostudy/datasets/phantom"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/ablation"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// Lesson is what the shared measures need to know about a segmentation lesson's experiment.
type Lesson[C any] struct {
	// Experiment is the registered experiment that trains the runs.
	Experiment *experiment.Experiment[C]
	// Logits is the run's inference model; Test its test images; Cost counts its network.
	Logits func(C) LogitsFn
	Test   func(C) ([]*phantom.Sample, error)
	Cost   func(C) (nn.Cost, error)
}

// Eval is what the lessons measure on one trained run's test predictions.
type Eval struct {
	// Dice holds the per-image Dice scores of the test images, in order.
	Dice []float64 `json:"dice"`
	// Boundary is the distance from the predicted margins to the true ones.
	Boundary Boundary `json:"boundary"`
	// Lookalikes says where the false positives fall (zero counts on real images).
	Lookalikes Lookalikes `json:"lookalikes"`
	// TestSize and Version identify what was measured, so that a cached Eval is reused only
	// for the same test set and code.
	TestSize int `json:"test_size"`
	Version  int `json:"version"`
}

// evalVersion changes when Eval's measures change, so cached ones are recomputed.
const evalVersion = 2

// MeanDice is the mean of the per-image Dice scores.
func (e *Eval) MeanDice() float64 { return experiment.NewStat(e.Dice).Mean }

// Measure computes the lessons' measures of predictions on samples, against the samples' masks.
func Measure(probs [][]float32, samples []*phantom.Sample) (*Eval, error) {
	masks := make([][]uint8, len(probs))
	for i, p := range probs {
		masks[i] = Binarize(p)
	}
	dice, err := Dice(masks, samples, nil)
	if err != nil {
		return nil, err
	}
	bd, err := BoundaryError(masks, samples)
	if err != nil {
		return nil, err
	}
	la, err := MeasureLookalikes(masks, samples)
	if err != nil {
		return nil, err
	}
	return &Eval{Dice: dice, Boundary: bd, Lookalikes: la, TestSize: len(samples), Version: evalVersion}, nil
}

// evalFile keeps a run's Eval next to its record: a rerun of a notebook reads it instead of
// predicting again.
const evalFile = "lesson_eval.json"

// Evaluate measures the finished run of cfg and seed (under the runs folder dir, "" for the
// default) on its test images. The result is kept in the run's folder and reused.
func Evaluate[C any](b compute.Backend, l Lesson[C], cfg C, seed int64, dir string) (*Eval, error) {
	tr, err := lesson.Load(l.Experiment, cfg, seed, dir)
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	test, err := l.Test(cfg)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(tr.Dir, evalFile)
	if data, err := os.ReadFile(file); err == nil {
		var e Eval
		if json.Unmarshal(data, &e) == nil && e.Version == evalVersion && e.TestSize == len(test) {
			return &e, nil
		}
	}
	probs, err := Predict(b, tr.Store, l.Logits(cfg), test, nil)
	if err != nil {
		return nil, err
	}
	e, err := Measure(probs, test)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return nil, fmt.Errorf("save the evaluation of %s: %w", tr.Dir, err)
	}
	return e, nil
}

// ArmRow is one network of a comparison, over the seeds.
type ArmRow[C any] struct {
	Arm    string `display:"network"`
	Params int64  `display:"parameters"`
	// MFLOPs is per image (2 × multiply-accumulates).
	MFLOPs float64 `display:"FLOPs;unit=M;format=%.2f"`
	// Dice is the test Dice (the runs' final metric, the mean of the per-image scores).
	Dice experiment.Stat `display:"test Dice"`
	// Boundary and P95 are the mean and 95th-percentile distance of the predicted margins
	// from the true ones.
	Boundary experiment.Stat `display:"boundary error;unit=px"`
	P95      experiment.Stat `display:"95th pct.;unit=px"`
	// Near is the placement of the margins found (the mean over places near a true margin),
	// Stray the share of predicted margin far from any (false blobs).
	Near  experiment.Stat `display:"margin placement;unit=px"`
	Stray experiment.Stat `display:"stray margin"`
	// Fooled is the fraction of look-alike spots and shadows mistaken for a lesion.
	Fooled experiment.Stat `display:"look-alikes fooled"`
	// Config, Evals (one per seed) and Records are the runs behind the row.
	Config  C                    `display:"-"`
	Evals   []*Eval              `display:"-"`
	Records []*experiment.Record `display:"-"`
}

// CompareArms trains (or reuses) every arm with seeds 0 … seeds−1 through pkg/ablation
// (lesson.Compare) and measures each run on its test images.
func CompareArms[C any](ctx context.Context, b compute.Backend, l Lesson[C], arms []lesson.Arm[C], seeds int, opts lesson.Options,
	onRow func(i int, t *ablation.Table)) ([]ArmRow[C], *ablation.Table, error) {
	res, table, err := lesson.Compare(ctx, l.Experiment, arms, seeds, opts, onRow)
	if err != nil {
		return nil, table, err
	}
	var rows []ArmRow[C]
	for _, r := range res {
		cost, err := l.Cost(r.Config)
		if err != nil {
			return nil, table, err
		}
		row := ArmRow[C]{Arm: r.Name, Params: cost.Params, MFLOPs: float64(cost.FLOPs) / 1e6, Dice: r.Final("dice"),
			Config: r.Config, Records: r.Summary.Records}
		var bd, p95, near, stray, fooled []float64
		for _, rec := range r.Summary.Records {
			e, err := Evaluate(b, l, r.Config, rec.Seed, opts.Dir)
			if err != nil {
				return nil, table, fmt.Errorf("evaluate %s, seed %d: %w", r.Name, rec.Seed, err)
			}
			row.Evals = append(row.Evals, e)
			bd = append(bd, e.Boundary.Mean)
			p95 = append(p95, e.Boundary.P95)
			near = append(near, e.Boundary.Near)
			stray = append(stray, e.Boundary.Stray)
			fooled = append(fooled, e.Lookalikes.Fooled)
		}
		row.Boundary, row.P95, row.Fooled = experiment.NewStat(bd), experiment.NewStat(p95), experiment.NewStat(fooled)
		row.Near, row.Stray = experiment.NewStat(near), experiment.NewStat(stray)
		rows = append(rows, row)
	}
	return rows, table, nil
}

// Row returns the row of the named arm (nil when absent).
func Row[C any](rows []ArmRow[C], arm string) *ArmRow[C] {
	for i := range rows {
		if rows[i].Arm == arm {
			return &rows[i]
		}
	}
	return nil
}

// VersusIn is lesson.Versus for a measure in its own unit (pixels, say) rather than a
// fraction: "−0.29 px (standard error 0.05): lower".
func VersusIn(a, ref experiment.Stat, unit string) string {
	d := lesson.Versus(a, ref)
	diff := a.Mean - ref.Mean
	if d.Verdict == lesson.OneSeed {
		return fmt.Sprintf("%+.2f %s (%s)", diff, unit, d.Verdict)
	}
	return fmt.Sprintf("%+.2f %s (standard error %.2f): %s", diff, unit, d.StdErr/100, d.Verdict)
}
