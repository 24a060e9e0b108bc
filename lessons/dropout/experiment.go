package dropout

import (
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Name is the name the lesson's experiment is registered under:
// `gostudy ablate dropout -grid dropout=0,0.2,0.5 -seeds 3`.
const Name = "dropout"

// Experiment is the lesson's registered experiment: the residual network of [RunConfig]
// trained on MNIST with Adam, the best checkpoint chosen by validation accuracy and scored on
// the test images. The model has timm-style names but no timm twin (its stem is a stride-2
// 3×3 conv), so it exports as safetensors or ONNX without a timm_model entry. Its default
// config is the full budget's main run.
var Experiment = &experiment.Experiment[RunConfig]{
	Name:        Name,
	Description: "lesson 01: residual CNN on MNIST with element-wise Dropout and DropPath (stochastic depth)",
	Defaults:    func() RunConfig { return ForBudget(lesson.Full).Run },
	Model:       Model,
	Loss:        loss.SparseCategoricalCrossEntropyLogits,
	Metrics:     lesson.Metrics[RunConfig],
	Data:        func(c RunConfig, seed int64) (*experiment.Data, error) { return c.Data(c.BatchSize, seed) },
	Select:      lesson.BestAccuracy,
}

func init() { experiment.MustRegister(Experiment) }
