package lesson

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// ClassifierRun is what [Classifier] needs of a run config C, through its pointer P: the
// training settings (embed experiment.Train) and data that batches by them (embed [MNIST] or
// [Classification]).
type ClassifierRun[C any] interface {
	*C
	TrainSettings() *experiment.Train
	Data(batch int, seed int64) (*experiment.Data, error)
}

// Classifier is the experiment a classification lesson registers, with what every such lesson
// shares filled in: cross-entropy on the logits, accuracy ([Metrics]), the config's own data
// in batches of its batch size, and the best checkpoint by validation accuracy
// ([BestAccuracy]). name, description, defaults (the full budget's run) and model are the
// lesson's; a lesson that also sets an optimizer or a timm name sets that field on the result.
func Classifier[C any, P ClassifierRun[C]](name, description string, defaults func() C, model experiment.ModelFn[C]) *experiment.Experiment[C] {
	return &experiment.Experiment[C]{
		Name:        name,
		Description: description,
		Defaults:    defaults,
		Model:       model,
		Loss:        loss.SparseCategoricalCrossEntropyLogits,
		Metrics:     Metrics[C],
		Data: func(c C, seed int64) (*experiment.Data, error) {
			p := P(&c)
			return p.Data(p.TrainSettings().BatchSize, seed)
		},
		Select: BestAccuracy,
	}
}

// LogitsModel is the model function of a lesson whose run config C maps images to logits by
// itself (a Logits method): the experiment's only output is those logits.
func LogitsModel[C any, P interface {
	*C
	Logits(scope *model.Scope, x *graph.Node) *graph.Node
}]() experiment.ModelFn[C] {
	return func(scope *model.Scope, cfg C, inputs []*graph.Node) []*graph.Node {
		return []*graph.Node{P(&cfg).Logits(scope, inputs[0])}
	}
}
