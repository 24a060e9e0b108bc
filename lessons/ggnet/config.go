package ggnet

import (
	"fmt"

	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/lessons/segkit"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// Config is everything the notebook runs at one budget; only sizes change between budgets.
type Config struct {
	Budget lesson.Budget
	// Run is the main run: the paper's GG-Net at this scale, every arm starts from it.
	Run RunConfig
	// Seeds is the number of seeds (0, 1, …) of every comparison.
	Seeds int
	// Sections lists the questions whose arms are trained at this budget (all at full).
	Sections []string
	// Probe is the number of test images the analyses run on (affinities, edges, F).
	Probe int
}

// The questions, each a section of the notebook and a group of arms.
const (
	SecGuidance = "guidance" // is the guidance map needed? (W⊙W′ vs W vs W′ vs no GGB)
	SecLevels   = "levels"   // from which levels should the guidance come?
	SecShared   = "shared"   // one guidance map for both GGBs, or one each?
	SecBD       = "bd"       // do BD outputs help when they do not feed the mask?
	SecEdge     = "edge"     // the ×10 edge weight
	SecTarget   = "target"   // shrink the GT, upsample the outputs, or native GT?
	SecHead     = "head"     // is a 4× upsampling too much?
	SecOrder    = "order"    // F − maxpool(F) or maxpool(F) − F?
)

// AllSections lists the sections in notebook order.
var AllSections = []string{SecGuidance, SecLevels, SecShared, SecBD, SecEdge, SecTarget, SecHead, SecOrder}

// ForBudget returns the lesson's configuration for a budget: GG-Net on 32×32 phantoms (3
// encoder levels: 32, 16, 8; ASPP and the GGBs on the 8×8 map, the guidance at 16×16, BD
// modules at 16 and 8) at test and quick, 64×64 (4 levels) at full. The test budget trains the
// subtraction-order question's arm, quick four questions' (one seed each), full every arm with
// three seeds.
func ForBudget(b lesson.Budget) Config {
	size := lesson.Pick(b, 32, 32, 64)
	run := RunConfig{
		Train:      experiment.Train{Epochs: lesson.Pick(b, 3, 6, 16), BatchSize: 16, LearningRate: 3e-3, LogEvery: 5},
		Base:       8,
		Levels:     lesson.Pick(b, 3, 3, 4),
		Guidance:   string(nn.GuideBoth),
		ASPP:       true,
		Head:       string(nn.HeadUNet),
		BDOrder:    OrderFMinusMax,
		BDWeight:   1,
		EdgeWeight: 10,
		BDTarget:   TargetShrink,
		Images: segkit.FromEnv(lesson.Phantoms{ImageSize: size, TrainSize: lesson.Pick(b, 160, 256, 1024),
			ValSize: 50, TestSize: lesson.Pick(b, 50, 100, 200), FlipH: true}),
	}
	return Config{Budget: b, Run: run, Seeds: lesson.Pick(b, 1, 1, 3),
		Sections: lesson.Pick(b, []string{SecOrder}, []string{SecGuidance, SecBD, SecHead, SecOrder}, AllSections),
		Probe:    lesson.Pick(b, 25, 50, 100)}
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

// Arm is one network of a section.
type Arm struct {
	lesson.Arm[RunConfig]
	Section string
}

// Arm names.
const (
	ArmGGNet     = "GG-Net (softmax(W⊙W′))"
	ArmSelf      = "W only (self-attention)"
	ArmGuide     = "W′ only (guidance alone)"
	ArmOff       = "no GGBs"
	ArmSeparate  = "a guidance map per GGB"
	ArmBDOff     = "BD weight 0"
	ArmHead4x    = "4× bilinear head"
	ArmMaxMinusF = "E = maxpool(F) − F"
	ArmUpsample  = "BD outputs upsampled"
	ArmNative    = "native low-res GT"
)

// ArmEdge names the arm with edge weight w; ArmLevels the one with guidance from levels.
func ArmEdge(w float64) string      { return fmt.Sprintf("edge weight %g", w) }
func ArmLevels(levels []int) string { return fmt.Sprintf("guidance from levels %v", levels) }

// Arms are every network of the lesson, the main run first, each tagged with its section.
func (c Config) Arms() []Arm {
	with := func(name, sec string, edit func(*RunConfig)) Arm {
		r := c.Run
		edit(&r)
		return Arm{Arm: lesson.Arm[RunConfig]{Name: name, Config: r}, Section: sec}
	}
	arms := []Arm{
		{Arm: lesson.Arm[RunConfig]{Name: ArmGGNet, Config: c.Run}, Section: SecGuidance},
		with(ArmSelf, SecGuidance, func(r *RunConfig) { r.Guidance = string(nn.GuideSelf) }),
		with(ArmGuide, SecGuidance, func(r *RunConfig) { r.Guidance = string(nn.GuideOnly) }),
		with(ArmOff, SecGuidance, func(r *RunConfig) { r.Guidance = string(nn.GuideOff) }),
	}
	last := c.Run.Levels - 1
	shallow, deep := make([]int, last), []int{last}
	for i := range shallow {
		shallow[i] = i
	}
	for _, lv := range [][]int{shallow, deep} {
		arms = append(arms, with(ArmLevels(lv), SecLevels, func(r *RunConfig) { r.GuidanceLevels = lv }))
	}
	arms = append(arms,
		with(ArmSeparate, SecShared, func(r *RunConfig) { r.SeparateGuidance = true }),
		with(ArmBDOff, SecBD, func(r *RunConfig) { r.BDWeight = 0 }))
	for _, w := range []float64{0, 1, 100} {
		arms = append(arms, with(ArmEdge(w), SecEdge, func(r *RunConfig) { r.EdgeWeight = w }))
	}
	arms = append(arms,
		with(ArmUpsample, SecTarget, func(r *RunConfig) { r.BDTarget = TargetUpsample }),
		with(ArmNative, SecTarget, func(r *RunConfig) { r.BDTarget = TargetNative }),
		with(ArmHead4x, SecHead, func(r *RunConfig) { r.Head = string(nn.HeadBilinear4x) }),
		with(ArmMaxMinusF, SecOrder, func(r *RunConfig) { r.BDOrder = OrderMaxMinusF }))
	return arms
}

// TrainedArms are the arms of the sections this budget trains, the main run first; on real
// images the native-target arm is left out (it needs the phantoms' geometry).
func (c Config) TrainedArms() []lesson.Arm[RunConfig] {
	var out []lesson.Arm[RunConfig]
	for i, a := range c.Arms() {
		if i > 0 && !c.Runs(a.Section) {
			continue
		}
		if a.Config.BDTarget == TargetNative && c.Run.Real() {
			continue
		}
		out = append(out, a.Arm)
	}
	return out
}
