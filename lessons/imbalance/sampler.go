package imbalance

import (
	"fmt"
	"math"
	"slices"

	"github.com/gostudy/gostudy/datasets/sampling"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// The samplers: which training samples an epoch uses.
const (
	// All trains on every sample every epoch (the notes' "每个epoch在所有的样本上进行训练").
	All = "all"
	// Balanced keeps a sample of class c with probability (n_min/n_c)^power, fixed for the
	// whole run: power 1 gives every class n_min samples per epoch in expectation, 0.5 half
	// way in log scale (static class-balanced undersampling).
	Balanced = "balanced"
	// F1 sets each class's share of the next epoch in proportion to 1 − F1 of that class on
	// the validation images after the previous epoch (the rule of Pouyanfar et al., MIPR 2018,
	// the paper the notes link); a class keeps at most all its samples.
	F1 = "f1"
	// Error keeps each sample with probability floor + (1 − floor)·(1 − q), q the model's
	// probability of its true class after the previous epoch: samples the network already gets
	// right are drawn less (per-sample dynamic sampling in the spirit of Lin et al., TNNLS
	// 2013, the paper the notes name).
	Error = "error"
)

// Samplers lists the samplers in the order the lesson compares them.
var Samplers = []string{All, Balanced, F1, Error}

// Sampling is the sampler part of a run config.
type Sampling struct {
	Sampler string  `json:"sampler" help:"which samples an epoch trains on: all, balanced, f1 or error"`
	Power   float64 `json:"power" help:"balanced: keep a sample of class c with probability (n_min/n_c)^power"`
	Floor   float64 `json:"floor" help:"f1 and error: the smallest keep probability (no sample is starved)"`
}

// Validate reports an unknown sampler or a setting out of range.
func (s Sampling) Validate() error {
	switch {
	case !slices.Contains(Samplers, s.Sampler):
		return fmt.Errorf("sampler %q: want one of %v", s.Sampler, Samplers)
	case s.Power < 0 || s.Power > 4:
		return fmt.Errorf("power %g outside [0, 4]", s.Power)
	case s.Floor < 0 || s.Floor > 1:
		return fmt.Errorf("floor %g outside [0, 1]", s.Floor)
	case (s.Sampler == F1 || s.Sampler == Error) && s.Floor == 0:
		return fmt.Errorf("sampler %s needs a floor > 0, or a sample it drops once is never seen again", s.Sampler)
	}
	return nil
}

// Adaptive reports whether the sampler follows the model (needs experiment.Data.Adapt).
func (s Sampling) Adaptive() bool { return s.Sampler == F1 || s.Sampler == Error }

// Label is "all samples", "balanced, power 0.5", "dynamic by per-class F1", "dynamic by
// per-sample error".
func (s Sampling) Label() string {
	switch s.Sampler {
	case Balanced:
		return fmt.Sprintf("balanced, power %g", s.Power)
	case F1:
		return "dynamic by per-class F1"
	case Error:
		return "dynamic by per-sample error"
	}
	return "all samples"
}

// StaticKeep returns the keep probability of every sample for the samplers that do not follow
// the model: 1 for All, the class-balanced probabilities for Balanced. Adaptive samplers start
// from All (their Adapt sets the first epoch's probabilities from the untrained model).
func (s Sampling) StaticKeep(labels []int, classes int) ([]float64, error) {
	if s.Sampler == Balanced {
		return sampling.ClassBalanced(labels, classes, s.Power)
	}
	p := make([]float64, len(labels))
	for i := range p {
		p[i] = 1
	}
	return p, nil
}

// F1Keep is the F1 sampler's rule: class c's share of an epoch is (1 − F1_c)/Σ(1 − F1_j) of
// all the training samples, so a keep probability share·N/n_c, clamped to [floor, 1] (the
// notes' rule u < p can drop a sample but never show it twice). Equal F1s give equal shares.
func F1Keep(f1 []float64, counts []int, floor float64) ([]float64, error) {
	if len(f1) != len(counts) {
		return nil, fmt.Errorf("f1 keep: %d F1 scores for %d classes", len(f1), len(counts))
	}
	total, errSum := 0, 0.0
	for c, n := range counts {
		total += n
		errSum += 1 - f1[c]
	}
	keep := make([]float64, len(counts))
	for c, n := range counts {
		share := 1 / float64(len(counts))
		if errSum > 0 {
			share = (1 - f1[c]) / errSum
		}
		if n == 0 {
			keep[c] = 1
			continue
		}
		keep[c] = min(1, max(floor, share*float64(total)/float64(n)))
	}
	return keep, nil
}

// PerSample expands per-class keep probabilities to the samples.
func PerSample(classKeep []float64, labels []int) []float64 {
	p := make([]float64, len(labels))
	for i, l := range labels {
		p[i] = classKeep[l]
	}
	return p
}

// SamplesSeen is the number of training samples a run's record trained on by the end of each
// epoch: its steps × the batch size.
func SamplesSeen(rec *experiment.Record, batch int) []int {
	out := make([]int, len(rec.Epochs))
	for i, e := range rec.Epochs {
		out[i] = e.Step * batch
	}
	return out
}

// softmaxTrue is the softmax probability of class label in a row of logits.
func softmaxTrue(row []float32, label int) float64 {
	m := slices.Max(row)
	sum := 0.0
	for _, l := range row {
		sum += math.Exp(float64(l - m))
	}
	return math.Exp(float64(row[label]-m)) / sum
}
