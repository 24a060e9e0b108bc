package experiment

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Stat is a metric over repeated runs.
type Stat struct {
	// Mean and Std (the sample standard deviation, n−1 in the denominator; 0 for one value).
	Mean, Std float64
	// Values are the per-seed values, in seed order.
	Values []float64
}

// NewStat summarizes values.
func NewStat(values []float64) Stat {
	s := Stat{Values: append([]float64(nil), values...)}
	n := float64(len(values))
	if n == 0 {
		return s
	}
	for _, v := range values {
		s.Mean += v
	}
	s.Mean /= n
	if n > 1 {
		var ss float64
		for _, v := range values {
			ss += (v - s.Mean) * (v - s.Mean)
		}
		s.Std = math.Sqrt(ss / (n - 1))
	}
	return s
}

// N is the number of values.
func (s Stat) N() int { return len(s.Values) }

// String formats the stat as "mean ± std" with 4 significant digits.
func (s Stat) String() string {
	return fmt.Sprintf("%.4g ± %.2g", s.Mean, s.Std)
}

// Summary is the outcome of repeating one config over several seeds.
type Summary struct {
	Experiment string          `json:"experiment"`
	ConfigID   string          `json:"config_id"`
	Config     json.RawMessage `json:"config"`
	Seeds      []int64         `json:"seeds"`
	// Records are the runs' records, in seed order.
	Records []*Record `json:"-"`
	// Final aggregates each final metric; BestVal the selection metric's best validation value.
	Final   map[string]Stat `json:"final"`
	BestVal Stat            `json:"best_val"`
	// WallSeconds aggregates the runs' wall times.
	WallSeconds Stat `json:"wall_seconds"`
}

// MetricNames lists the final metrics, sorted, "loss" first.
func (s *Summary) MetricNames() []string {
	names := keys(s.Final)
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "loss") != (names[j] == "loss") {
			return names[i] == "loss"
		}
		return names[i] < names[j]
	})
	return names
}

// String is one line per metric: "acc: 0.9123 ± 0.004 (n=3)".
func (s *Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s, seeds %v\n", s.Experiment, s.ConfigID, s.Seeds)
	for _, m := range s.MetricNames() {
		fmt.Fprintf(&b, "  %s: %s (n=%d)\n", m, s.Final[m], s.Final[m].N())
	}
	return b.String()
}

// Seeds returns n consecutive seeds starting at first.
func Seeds(n int, first int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = first + int64(i)
	}
	return out
}

// Summarize aggregates done records of one config.
func Summarize(recs []*Record) (*Summary, error) {
	if len(recs) == 0 {
		return nil, fmt.Errorf("summarize: no records")
	}
	s := &Summary{Experiment: recs[0].Experiment, ConfigID: recs[0].ConfigID, Config: recs[0].Config,
		Records: recs, Final: map[string]Stat{}}
	perMetric := map[string][]float64{}
	var best, wall []float64
	for _, r := range recs {
		if r.ConfigID != s.ConfigID || r.Experiment != s.Experiment {
			return nil, fmt.Errorf("summarize: records of different configs (%s/%s and %s/%s)",
				s.Experiment, s.ConfigID, r.Experiment, r.ConfigID)
		}
		if r.Status != StatusDone {
			return nil, fmt.Errorf("summarize: run seed %d is %s", r.Seed, r.Status)
		}
		s.Seeds = append(s.Seeds, r.Seed)
		for k, v := range r.Final {
			perMetric[k] = append(perMetric[k], v)
		}
		if r.Best != nil {
			best = append(best, r.Best.Value)
		}
		wall = append(wall, r.WallSeconds)
	}
	for k, vs := range perMetric {
		if len(vs) != len(recs) {
			return nil, fmt.Errorf("summarize: metric %q missing from some runs", k)
		}
		s.Final[k] = NewStat(vs)
	}
	s.BestVal = NewStat(best)
	s.WallSeconds = NewStat(wall)
	return s, nil
}

// Repeat runs cfg once per seed (skipping seeds already done, resuming an interrupted one) and
// summarizes the final metrics as mean ± std. opts.Seed is ignored; opts.Progress sees every
// run's events.
func (e *Experiment[C]) Repeat(ctx context.Context, cfg C, seeds []int64, opts Options) (*Summary, error) {
	return RepeatRunnable(ctx, e, &cfg, seeds, opts)
}

// RepeatRunnable is [Experiment.Repeat] for a type-erased experiment.
func RepeatRunnable(ctx context.Context, r Runnable, cfgPtr any, seeds []int64, opts Options) (*Summary, error) {
	if len(seeds) == 0 {
		return nil, fmt.Errorf("repeat %s: no seeds", r.ExperimentName())
	}
	recs := make([]*Record, 0, len(seeds))
	for _, seed := range seeds {
		o := opts
		o.Seed = seed
		rec, err := r.RunConfig(ctx, cfgPtr, o)
		if err != nil {
			return nil, fmt.Errorf("repeat %s seed %d: %w", r.ExperimentName(), seed, err)
		}
		recs = append(recs, rec)
	}
	return Summarize(recs)
}
