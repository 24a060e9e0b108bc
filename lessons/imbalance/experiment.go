package imbalance

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gostudy/gostudy/datasets/batching"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/datasets/phantom"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Names of the lesson's registered experiments: `gostudy ablate imbalance -grid sampler=all,f1`.
const (
	Name        = "imbalance"
	PhantomName = "imbalance-phantoms"
)

// Classes of the two data sets.
const (
	MNISTClasses   = mnist.NumClasses
	PhantomClasses = 3
)

// RunConfig is one run on long-tailed MNIST: the network, the sampler, the imbalance ratio and
// the MNIST sizes (the long tail is cut from the TrainSize training images; validation and
// test stay balanced).
type RunConfig struct {
	experiment.Train
	Net
	Sampling
	// Ratio is the imbalance ratio: digit 0 keeps all its training images, digit 9 1/Ratio of
	// them, the digits between geometrically fewer (1: balanced).
	Ratio float64 `json:"ratio" help:"long tail: training images of digit 0 / of digit 9 (1: balanced)"`
	lesson.MNIST
}

// Validate implements the check the runner calls before training.
func (c *RunConfig) Validate() error {
	if err := c.Net.Validate(); err != nil {
		return err
	}
	if err := c.Sampling.Validate(); err != nil {
		return err
	}
	if c.Ratio < 1 || c.BatchSize <= 0 {
		return fmt.Errorf("ratio %g must be ≥ 1 and batch_size %d positive", c.Ratio, c.BatchSize)
	}
	return c.MNIST.Validate()
}

// Model maps digits to 10 logits.
func Model(scope *model.Scope, cfg RunConfig, inputs []*graph.Node) []*graph.Node {
	return []*graph.Node{cfg.Logits(scope, inputs[0], MNISTClasses)}
}

// Data is the run's data: the long-tailed training digits drawn by the sampler, balanced
// validation and test digits.
func Data(cfg RunConfig, seed int64) (*experiment.Data, error) {
	trainSet, valSet, testSet, err := LongTail(cfg.MNIST, cfg.Ratio)
	if err != nil {
		return nil, err
	}
	if trainSet.Len() < cfg.BatchSize {
		return nil, fmt.Errorf("the long tail kept %d training images, fewer than a batch of %d", trainSet.Len(), cfg.BatchSize)
	}
	val, err := mnist.EvalDataset(valSet, lesson.EvalBatch)
	if err != nil {
		return nil, err
	}
	test, err := mnist.EvalDataset(testSet, lesson.EvalBatch)
	if err != nil {
		return nil, err
	}
	src := &mnist.Source{Set: trainSet, Augment: mnist.Augment{MaxShift: cfg.MaxShift}, LabelColumn: true}
	return sampledData(cfg.Sampling, fmt.Sprintf("mnist-longtail-%g", cfg.Ratio), src, trainSet.LabelsInt(), MNISTClasses,
		val, test, MNISTImages{valSet}, MNISTImages{trainSet}, cfg.BatchSize, seed)
}

// Experiment is the registered experiment on long-tailed MNIST: Adam, the best checkpoint by
// validation accuracy (the validation digits are balanced, so that is balanced accuracy),
// tested on the balanced test digits. Its default config is the full budget's main run.
var Experiment = &experiment.Experiment[RunConfig]{
	Name:        Name,
	Description: "lesson 13: long-tailed MNIST with all samples, class-balanced or dynamic sampling (per-class F1, per-sample error)",
	Defaults:    func() RunConfig { return ForBudget(lesson.Full).Run },
	Model:       Model,
	Loss:        loss.SparseCategoricalCrossEntropyLogits,
	Metrics:     lesson.Metrics[RunConfig],
	Data:        Data,
	Select:      lesson.BestAccuracy,
}

// PhantomRunConfig is one run on the synthetic ultrasound phantoms' classes (normal, benign,
// malignant) with a step imbalance: the Minority class keeps MinorityKeep of its training
// phantoms, the others all of theirs.
type PhantomRunConfig struct {
	experiment.Train
	Net
	Sampling
	Minority     int     `json:"minority" help:"the rare class: 0 normal, 1 benign, 2 malignant"`
	MinorityKeep float64 `json:"minority_keep" help:"fraction of the rare class's training phantoms kept"`
	lesson.Phantoms
}

// Validate implements the check the runner calls before training.
func (c *PhantomRunConfig) Validate() error {
	if err := c.Net.Validate(); err != nil {
		return err
	}
	if err := c.Sampling.Validate(); err != nil {
		return err
	}
	switch {
	case c.Minority < 0 || c.Minority >= PhantomClasses:
		return fmt.Errorf("minority class %d outside [0, %d)", c.Minority, PhantomClasses)
	case c.MinorityKeep <= 0 || c.MinorityKeep > 1:
		return fmt.Errorf("minority_keep %g outside (0, 1]", c.MinorityKeep)
	case c.BatchSize <= 0:
		return fmt.Errorf("batch_size %d", c.BatchSize)
	}
	return c.Phantoms.Validate()
}

// PhantomModel maps phantom images to 3 logits.
func PhantomModel(scope *model.Scope, cfg PhantomRunConfig, inputs []*graph.Node) []*graph.Node {
	return []*graph.Node{cfg.Logits(scope, inputs[0], PhantomClasses)}
}

// PhantomData is the run's data: the step-imbalanced training phantoms drawn by the sampler,
// validation and test phantoms as generated.
func PhantomData(cfg PhantomRunConfig, seed int64) (*experiment.Data, error) {
	trainSet, valSet, testSet, err := StepImbalance(cfg.Phantoms, cfg.Minority, cfg.MinorityKeep)
	if err != nil {
		return nil, err
	}
	eval := func(name string, set []*phantom.Sample) (*batching.Dataset, error) {
		return batching.New("phantom-class-"+name, &classSource{inner: &phantom.Source{Samples: set}},
			batching.Options{BatchSize: lesson.EvalBatch})
	}
	val, err := eval("val", valSet)
	if err != nil {
		return nil, err
	}
	test, err := eval("test", testSet)
	if err != nil {
		return nil, err
	}
	src := &classSource{inner: &phantom.Source{Samples: trainSet, Augment: phantom.Augment{FlipH: cfg.FlipH, MaxShift: cfg.MaxShift}}}
	return sampledData(cfg.Sampling, "phantom-class-train", src, PhantomLabels(trainSet), PhantomClasses, val, test,
		PhantomImages{valSet}, PhantomImages{trainSet}, cfg.BatchSize, seed)
}

// PhantomExperiment is the registered experiment on the phantoms' classes, like [Experiment].
var PhantomExperiment = &experiment.Experiment[PhantomRunConfig]{
	Name:        PhantomName,
	Description: "lesson 13: phantom classes (normal/benign/malignant) with a step imbalance, under the lesson's samplers",
	Defaults:    func() PhantomRunConfig { return ForBudget(lesson.Full).Phantom },
	Model:       PhantomModel,
	Loss:        loss.SparseCategoricalCrossEntropyLogits,
	Metrics:     lesson.Metrics[PhantomRunConfig],
	Data:        PhantomData,
	Select:      lesson.BestAccuracy,
}

func init() {
	experiment.MustRegister(Experiment)
	experiment.MustRegister(PhantomExperiment)
}
