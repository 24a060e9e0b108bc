package dropout

import (
	"fmt"
	"strconv"

	"github.com/gostudy/gostudy/pkg/ablation"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// SweepRow is one drop probability of a p-sweep: its test accuracy over the seeds.
type SweepRow struct {
	P       float64
	TestAcc experiment.Stat
}

// SweepRows reads a sweep's table (an ablation over the "dropout" key, as lesson.Sweep runs
// it) into rows, in the table's order.
func SweepRows(t *ablation.Table) ([]SweepRow, error) {
	if len(t.Axes) != 1 || t.Axes[0].Key != "dropout" {
		return nil, fmt.Errorf("p-sweep table: want one axis \"dropout\", got %v", t.Axes)
	}
	rows := make([]SweepRow, len(t.Rows))
	for i, r := range t.Rows {
		p, err := strconv.ParseFloat(r.Values[0], 64)
		if err != nil {
			return nil, fmt.Errorf("p-sweep row %d: %w", i, err)
		}
		rows[i] = SweepRow{P: p, TestAcc: r.Summary.Final["acc"]}
	}
	return rows, nil
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
