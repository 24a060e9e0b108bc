package dropout

import (
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
var Experiment = lesson.Classifier(Name, "lesson 01: residual CNN on MNIST with element-wise Dropout and DropPath (stochastic depth)",
	func() RunConfig { return ForBudget(lesson.Full).Run }, Model)

func init() { experiment.MustRegister(Experiment) }
