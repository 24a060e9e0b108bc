package imbalance

import (
	"fmt"
	"sort"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Outcome is what the lesson measures of one finished run: the notes' three problems of
// training on every sample of an imbalanced set, each as a number.
type Outcome struct {
	// Test scores the best checkpoint on the test images (balanced for MNIST): per-class
	// recall shows the majority bias (problem 1), MacroF1 and BalancedAccuracy sum it up.
	Test Scores
	// Train scores the same checkpoint on its own imbalanced training images; the train–test
	// gap (problem 3, redundancy → overfitting) is Train's balanced accuracy minus Test's.
	Train Scores
	// Easy is the fraction of training images whose true class the checkpoint gives a
	// probability above the easy threshold: images an epoch over all samples still trains
	// on although they teach nothing new (problem 2).
	Easy float64
	// Seen is the number of training samples drawn by the end of each epoch, ValAcc the
	// validation accuracy after it (balanced validation images: balanced accuracy).
	Seen   []int
	ValAcc []float64
}

// Gap is the train–test gap in balanced accuracy.
func (o Outcome) Gap() float64 { return o.Train.BalancedAccuracy - o.Test.BalancedAccuracy }

// SeenToReach is the number of training samples drawn by the end of the first epoch whose
// validation accuracy reached target, and false if no epoch did.
func (o Outcome) SeenToReach(target float64) (int, bool) {
	for i, a := range o.ValAcc {
		if a >= target {
			return o.Seen[i], true
		}
	}
	return 0, false
}

// Analyze measures a finished long-tailed MNIST run ([Outcome]): its best checkpoint predicts
// the balanced test digits and its own training digits on backend b.
func Analyze(b compute.Backend, t *lesson.Trained[RunConfig], easyQ float64) (Outcome, error) {
	trainSet, _, testSet, err := LongTail(t.Config.MNIST, t.Config.Ratio)
	if err != nil {
		return Outcome{}, err
	}
	net := t.Config.Net
	return analyze(b, t.Store, t.Record, func(s *model.Scope, x *graph.Node) *graph.Node { return net.Logits(s, x, MNISTClasses) },
		MNISTImages{trainSet}, MNISTImages{testSet}, MNISTClasses, t.Config.BatchSize, easyQ)
}

// AnalyzePhantoms measures a finished phantom run like [Analyze]; its test phantoms keep the
// generator's class mix.
func AnalyzePhantoms(b compute.Backend, t *lesson.Trained[PhantomRunConfig], easyQ float64) (Outcome, error) {
	trainSet, _, testSet, err := StepImbalance(t.Config.Phantoms, t.Config.Minority, t.Config.MinorityKeep)
	if err != nil {
		return Outcome{}, err
	}
	net := t.Config.Net
	return analyze(b, t.Store, t.Record, func(s *model.Scope, x *graph.Node) *graph.Node { return net.Logits(s, x, PhantomClasses) },
		PhantomImages{trainSet}, PhantomImages{testSet}, PhantomClasses, t.Config.BatchSize, easyQ)
}

func analyze(b compute.Backend, store *model.Store, rec *experiment.Record, logits func(*model.Scope, *graph.Node) *graph.Node,
	trainSet, testSet Images, classes, batch int, easyQ float64) (Outcome, error) {
	if easyQ <= 0 || easyQ >= 1 {
		return Outcome{}, fmt.Errorf("easy threshold %g outside (0, 1)", easyQ)
	}
	return lesson.Catch("analyze an imbalance run", func() (Outcome, error) {
		predict, done, err := StorePredictor(b, store, logits)
		if err != nil {
			return Outcome{}, err
		}
		defer done()
		var o Outcome
		score := func(set Images) (Scores, []float64, error) {
			pred, pTrue, err := Predict(predict, set)
			if err != nil {
				return Scores{}, nil, err
			}
			s, err := Score(pred, set.Labels(), classes)
			return s, pTrue, err
		}
		if o.Test, _, err = score(testSet); err != nil {
			return Outcome{}, fmt.Errorf("test images: %w", err)
		}
		var pTrue []float64
		if o.Train, pTrue, err = score(trainSet); err != nil {
			return Outcome{}, fmt.Errorf("training images: %w", err)
		}
		easy := 0
		for _, q := range pTrue {
			if q > easyQ {
				easy++
			}
		}
		o.Easy = float64(easy) / float64(len(pTrue))
		o.Seen = SamplesSeen(rec, batch)
		for _, e := range rec.Epochs {
			o.ValAcc = append(o.ValAcc, e.Val["acc"])
		}
		return o, nil
	})
}

// AnalyzeArms loads every run of a comparison on long-tailed MNIST (the runs under dir, ""
// for lesson.RunsDir) and measures each: out[arm][seed].
func AnalyzeArms(b compute.Backend, results []lesson.Result[RunConfig], dir string, easyQ float64) ([][]Outcome, error) {
	return analyzeArms(Experiment, results, dir, func(t *lesson.Trained[RunConfig]) (Outcome, error) { return Analyze(b, t, easyQ) })
}

// AnalyzePhantomArms is [AnalyzeArms] for the phantom study.
func AnalyzePhantomArms(b compute.Backend, results []lesson.Result[PhantomRunConfig], dir string, easyQ float64) ([][]Outcome, error) {
	return analyzeArms(PhantomExperiment, results, dir, func(t *lesson.Trained[PhantomRunConfig]) (Outcome, error) {
		return AnalyzePhantoms(b, t, easyQ)
	})
}

func analyzeArms[C any](e *experiment.Experiment[C], results []lesson.Result[C], dir string,
	measure func(*lesson.Trained[C]) (Outcome, error)) ([][]Outcome, error) {
	out := make([][]Outcome, len(results))
	for i, r := range results {
		for _, rec := range r.Summary.Records {
			t, err := lesson.Load(e, r.Config, rec.Seed, dir)
			if err != nil {
				return nil, err
			}
			o, err := measure(t)
			t.Close()
			if err != nil {
				return nil, fmt.Errorf("arm %q, seed %d: %w", r.Name, rec.Seed, err)
			}
			out[i] = append(out[i], o)
		}
	}
	return out, nil
}

// ArmStats are an arm's outcomes over its seeds, each as mean ± std.
type ArmStats struct {
	// MacroF1, BalancedAccuracy and Accuracy on the test images.
	MacroF1, BalancedAccuracy, Accuracy experiment.Stat
	// RareRecall is the test recall of the class with the fewest training samples, HeadRecall
	// the mean test recall of the most frequent third of the classes (at least one).
	RareRecall, HeadRecall experiment.Stat
	// Gap is the train–test gap in balanced accuracy; Easy the fraction of easy training
	// samples; Seen the training samples drawn over the whole run.
	Gap, Easy, Seen experiment.Stat
}

// Summarize reduces an arm's outcomes over seeds to [ArmStats]; counts are the training
// samples per class (which classes are rare).
func Summarize(outcomes []Outcome, counts []int) (ArmStats, error) {
	if len(outcomes) == 0 {
		return ArmStats{}, fmt.Errorf("summarize: no outcomes")
	}
	order := ByFrequency(counts)
	head := order[:max(1, len(order)/3)]
	rare := order[len(order)-1]
	var f1, bal, acc, rareR, headR, gap, easy, seen []float64
	for _, o := range outcomes {
		if len(o.Test.Recall) != len(counts) {
			return ArmStats{}, fmt.Errorf("summarize: %d classes scored, %d counted", len(o.Test.Recall), len(counts))
		}
		f1 = append(f1, o.Test.MacroF1)
		bal = append(bal, o.Test.BalancedAccuracy)
		acc = append(acc, o.Test.Accuracy)
		rareR = append(rareR, o.Test.Recall[rare])
		h := 0.0
		for _, c := range head {
			h += o.Test.Recall[c]
		}
		headR = append(headR, h/float64(len(head)))
		gap = append(gap, o.Gap())
		easy = append(easy, o.Easy)
		total := 0
		if len(o.Seen) > 0 {
			total = o.Seen[len(o.Seen)-1]
		}
		seen = append(seen, float64(total))
	}
	return ArmStats{MacroF1: experiment.NewStat(f1), BalancedAccuracy: experiment.NewStat(bal), Accuracy: experiment.NewStat(acc),
		RareRecall: experiment.NewStat(rareR), HeadRecall: experiment.NewStat(headR), Gap: experiment.NewStat(gap),
		Easy: experiment.NewStat(easy), Seen: experiment.NewStat(seen)}, nil
}

// ByFrequency lists the classes from the most to the least frequent (ties by class index).
func ByFrequency(counts []int) []int {
	order := make([]int, len(counts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return counts[order[i]] > counts[order[j]] })
	return order
}

// MeanRecall is the mean over seeds of each class's test recall.
func MeanRecall(outcomes []Outcome) []float64 {
	if len(outcomes) == 0 {
		return nil
	}
	out := make([]float64, len(outcomes[0].Test.Recall))
	for _, o := range outcomes {
		for c, r := range o.Test.Recall {
			out[c] += r / float64(len(outcomes))
		}
	}
	return out
}
