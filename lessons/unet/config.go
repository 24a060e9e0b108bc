package unet

import (
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/lessons/segkit"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Config is everything the notebook runs at one budget; only sizes change between budgets.
type Config struct {
	Budget lesson.Budget
	// Run is the main run: the U-Net every comparison starts from.
	Run RunConfig
	// Seeds is the number of seeds (0, 1, …) of every comparison.
	Seeds int
	// AppearanceSize is the number of test phantoms per appearance shift.
	AppearanceSize int
	// Overlays is the number of test images drawn with their predictions.
	Overlays int
}

// ForBudget returns the lesson's configuration for a budget: a 3-level U-Net (base 8) on 32×32
// phantoms at test and quick (160 images × 4 epochs, one seed; 256 × 6, two seeds), a 4-level one on
// 64×64 phantoms at full (1024 images × 12 epochs, three seeds).
func ForBudget(b lesson.Budget) Config {
	run := RunConfig{
		Train:      experiment.Train{Epochs: lesson.Pick(b, 4, 6, 12), BatchSize: 16, LearningRate: 3e-3, LogEvery: 5},
		Base:       8,
		Levels:     lesson.Pick(b, 3, 3, 4),
		Downsample: "avgpool",
		Skips:      true,
		Images: segkit.FromEnv(lesson.Phantoms{ImageSize: lesson.Pick(b, 32, 32, 64), TrainSize: lesson.Pick(b, 160, 256, 1024),
			ValSize: 50, TestSize: lesson.Pick(b, 50, 100, 200), FlipH: true}),
	}
	return Config{Budget: b, Run: run, Seeds: lesson.Pick(b, 1, 2, 3), AppearanceSize: lesson.Pick(b, 50, 100, 200),
		Overlays: 6}
}
