package multirater

import (
	"fmt"

	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/lessons/segkit"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Config is everything the notebook runs at one budget; only sizes change between budgets.
type Config struct {
	Budget lesson.Budget
	// Run is the main run: a U-Net with a latent per rater, every training rater's labels.
	Run RunConfig
	// Seeds is the number of seeds (0, 1, …) of every comparison.
	Seeds int
	// Sections lists the questions whose arms are trained at this budget.
	Sections []string
	// FitImages are the k of the newcomer fitted from k images; FitSteps the steps of each
	// fit.
	FitImages []int
	FitSteps  int
}

// The sections whose arms a budget may train.
const (
	SecBaselines = "baselines" // pooled, and one model per rater
	SecLabels    = "labels"    // one label per image vs all raters, equal label count
	SecInit      = "init"      // the latents' initial std
	SecInject    = "inject"    // once vs every decoder level
	SecPrior     = "prior"     // the L2 weight
)

// AllSections lists them in notebook order.
var AllSections = []string{SecBaselines, SecLabels, SecInit, SecInject, SecPrior}

// ForBudget returns the lesson's configuration for a budget: a 3-level U-Net (base 8) with
// 8-dimensional latents on 32×32 phantoms at test and quick (60 or 125 training images, each
// labelled by the five training raters), a 4-level one on 64×64 phantoms (500 images) at full.
func ForBudget(b lesson.Budget) Config {
	run := RunConfig{
		Train:     experiment.Train{Epochs: lesson.Pick(b, 2, 4, 8), BatchSize: 16, LearningRate: 3e-3, LogEvery: 5},
		Base:      8,
		Levels:    lesson.Pick(b, 3, 3, 4),
		Mode:      ModeEmbedding,
		OnlyRater: -1,
		Labels:    LabelsAll,
		LatentDim: 8,
		InitStd:   0.01,
		LatentL2:  1e-3,
		Inject:    InjectOnce,
		Images: segkit.FromEnv(lesson.Phantoms{ImageSize: lesson.Pick(b, 32, 32, 64), TrainSize: lesson.Pick(b, 60, 125, 500),
			ValSize: 50, TestSize: lesson.Pick(b, 50, 100, 200), FlipH: true}),
	}
	return Config{Budget: b, Run: run, Seeds: lesson.Pick(b, 1, 1, 3),
		Sections:  lesson.Pick(b, []string{SecLabels}, []string{SecBaselines, SecLabels}, AllSections),
		FitImages: lesson.Pick(b, []int{5}, []int{5, 20}, []int{5, 20, 100}),
		FitSteps:  lesson.Pick(b, 20, 60, 150)}
}

// Runs reports whether the budget trains section's arms.
func (c Config) Runs(section string) bool {
	for _, s := range c.Sections {
		if s == section {
			return true
		}
	}
	return false
}

// Arm names.
const (
	ArmEmbedding = "latent per rater"
	ArmPooled    = "pooled (ids ignored)"
	ArmOneLabel  = "one label per image"
	ArmAllLabels = "all raters, 1/5 of the images"
	ArmEvery     = "latent at every decoder level"
)

// ArmRater names the model trained on rater r alone; ArmInit and ArmL2 the sweeps' arms.
func ArmRater(name string) string { return "only " + name }
func ArmInit(std float64) string  { return fmt.Sprintf("init std %g", std) }
func ArmL2(l2 float64) string     { return fmt.Sprintf("λ = %g", l2) }

// Arm is one network of a section.
type Arm struct {
	lesson.Arm[RunConfig]
	Section string
}

// Arms are every network of the lesson, the main run first.
func (c Config) Arms() []Arm {
	with := func(name, sec string, edit func(*RunConfig)) Arm {
		r := c.Run
		edit(&r)
		return Arm{Arm: lesson.Arm[RunConfig]{Name: name, Config: r}, Section: sec}
	}
	arms := []Arm{{Arm: lesson.Arm[RunConfig]{Name: ArmEmbedding, Config: c.Run}, Section: SecBaselines},
		with(ArmPooled, SecBaselines, func(r *RunConfig) { r.Mode = ModePooled })}
	panel := Panel(c.Run.ImageSize)
	for i := range TrainingRaters {
		arms = append(arms, with(ArmRater(panel[i].Name), SecBaselines, func(r *RunConfig) { r.Mode, r.OnlyRater = ModePooled, i }))
	}
	// Equal label count: one label for each of N images against every rater's for N/5.
	arms = append(arms,
		with(ArmOneLabel, SecLabels, func(r *RunConfig) { r.Labels = LabelsOne }),
		with(ArmAllLabels, SecLabels, func(r *RunConfig) { r.TrainSize /= TrainingRaters }))
	for _, std := range []float64{0, 0.1, 1} {
		arms = append(arms, with(ArmInit(std), SecInit, func(r *RunConfig) { r.InitStd = std }))
	}
	arms = append(arms, with(ArmEvery, SecInject, func(r *RunConfig) { r.Inject = InjectEvery }))
	for _, l2 := range []float64{0, 0.1, 10} {
		arms = append(arms, with(ArmL2(l2), SecPrior, func(r *RunConfig) { r.LatentL2 = l2 }))
	}
	return arms
}

// TrainedArms are the arms of the sections this budget trains, the main run first.
func (c Config) TrainedArms() []lesson.Arm[RunConfig] {
	var out []lesson.Arm[RunConfig]
	for i, a := range c.Arms() {
		if i == 0 || c.Runs(a.Section) {
			out = append(out, a.Arm)
		}
	}
	return out
}
