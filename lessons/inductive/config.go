package inductive

import (
	"fmt"
	"slices"

	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// The architectures the lesson compares.
const (
	// ArchResNet is a small ResNet (nn.ResNet): convolutions everywhere, built-in locality and
	// translation equivariance.
	ArchResNet = "resnet"
	// ArchViT is lesson 02's ViT (nn.ViT with nn.ViTTiny28's width, heads and MLP ratio): a
	// patchify stem, then attention between every pair of patches.
	ArchViT = "vit"
	// ArchHybrid is the same ViT with a convolutional stem (nn.ViTStemConv: stride-2 3×3
	// convolutions down to the patch grid), the "hybrid" of the ViT paper §3.1 in small.
	ArchHybrid = "hybrid"
)

// Archs lists the architectures in the order the lesson shows them.
var Archs = []string{ArchResNet, ArchViT, ArchHybrid}

// RunConfig is one training run: the architecture, the ViT's depth, and the MNIST sizes.
type RunConfig struct {
	experiment.Train
	Arch string `json:"arch" help:"resnet, vit (patchify stem) or hybrid (ViT with a conv stem)"`
	// Depth is the number of transformer blocks of the ViTs (ignored by the ResNet).
	Depth int `json:"depth" help:"transformer blocks of vit and hybrid"`
	// WarmupSteps ramps the learning rate up linearly from 0, then it follows a cosine to 0 at
	// the last step (lesson 02's schedule, the ViT paper's §B.1), for every architecture.
	WarmupSteps int `json:"warmup_steps" help:"linear warm-up steps before the cosine decay"`
	// NoSkip, NoMLP and SharedQK are the ViTs' ablation switches (nn.ViTConfig's): section 4
	// trains without skips or MLPs, section 5 with one projection for queries and keys.
	// Omitted from the JSON when false, so runs from before they existed keep their IDs.
	NoSkip   bool `json:"no_skip,omitempty" help:"ViT blocks without their skip connections"`
	NoMLP    bool `json:"no_mlp,omitempty" help:"ViT blocks without their MLP"`
	SharedQK bool `json:"shared_qk,omitempty" help:"one projection for queries and keys (k = q)"`
	lesson.MNIST
}

// Validate implements the check the runner calls before training.
func (c *RunConfig) Validate() error {
	if !slices.Contains(Archs, c.Arch) {
		return fmt.Errorf("arch %q: want one of %v", c.Arch, Archs)
	}
	if c.Arch == ArchResNet && (c.NoSkip || c.NoMLP || c.SharedQK) {
		return fmt.Errorf("no_skip, no_mlp and shared_qk switch ViT blocks; arch %q has none", c.Arch)
	}
	if c.Depth < 1 || c.BatchSize <= 0 || c.TrainSize < c.BatchSize {
		return fmt.Errorf("depth %d, batch %d, train size %d: need depth ≥ 1 and at least one batch", c.Depth, c.BatchSize, c.TrainSize)
	}
	if c.WarmupSteps < 0 || c.WarmupSteps >= c.TotalSteps() {
		return fmt.Errorf("warm-up of %d steps in a run of %d", c.WarmupSteps, c.TotalSteps())
	}
	return c.MNIST.Validate()
}

// TotalSteps is the number of training steps of the run.
func (c RunConfig) TotalSteps() int { return c.Steps(c.BatchSize, c.Epochs) }

// ViT is the ViT of the config: nn.ViTTiny28 (lesson 02's width, heads and MLP ratio, 4×4
// patches, class token) with Depth blocks, and the conv stem for the hybrid.
func (c RunConfig) ViT() nn.ViTConfig {
	v := nn.ViTTiny28()
	v.Depth = c.Depth
	v.NoSkip, v.NoMLP, v.SharedQK = c.NoSkip, c.NoMLP, c.SharedQK
	if c.Arch == ArchHybrid {
		v.Stem = nn.ViTStemConv
	}
	return v
}

// ResNet is the ResNet of the config: nn.ResNetTiny28's widths with one block per stage.
func (c RunConfig) ResNet() nn.ResNetConfig {
	r := nn.ResNetTiny28()
	r.Layers = []int{1, 1, 1}
	return r
}

// Config is everything the notebook does at one budget.
type Config struct {
	Budget lesson.Budget
	// Run is the ViT's run at the largest training size; the sweep changes Arch and TrainSize.
	Run RunConfig
	// Sizes are the training sizes of the sweep, smallest first.
	Sizes []int
	// Steps is the number of training steps of every run of the sweep: small sets repeat
	// their images for more epochs, so every run gets the same number of updates.
	Steps int
	// Seeds is the number of seeds of every run of the sweep.
	Seeds int
	// Shifts are the test-time shifts in pixels, 0 first; ShiftImages the test digits shifted.
	Shifts      []int
	ShiftImages int
	// UniformityDepth is the depth of the ViT whose token uniformity is measured at
	// initialization, on UniformityImages test digits; TrainedDepth the depth of the four
	// variants trained (Steps steps on the largest set, seed 0) to measure it after training.
	UniformityDepth, UniformityImages, TrainedDepth int
}

// ForBudget returns the lesson's configuration for a budget. Full: 500 to 55,000 training
// digits, 3,000 steps, 3 seeds, trained uniformity at 6 blocks. Quick: 500 and 4,000 digits,
// 300 steps, 1 seed, 3 blocks (two seeds of 400 steps and 4 blocks made the notebook 9.5
// minutes on two cores). Test: 500 and 2,000 digits, 300 steps, 1 seed, 3 blocks. Batches of
// 32, warm-up a tenth of the steps.
func ForBudget(b lesson.Budget) Config {
	sizes := lesson.Pick(b, []int{500, 2000}, []int{500, 4000}, []int{500, 2000, 6000, 20000, 55000})
	run := RunConfig{
		Train: experiment.Train{BatchSize: 32, LearningRate: 3e-3, LogEvery: 10},
		Arch:  ArchViT,
		Depth: 2,
		MNIST: lesson.MNIST{TrainSize: sizes[len(sizes)-1], ValSize: lesson.Pick(b, 500, 1000, 2000),
			TestSize: lesson.Pick(b, 1000, 2000, 0)},
	}
	c := Config{Budget: b, Run: run, Sizes: sizes, Steps: lesson.Pick(b, 300, 300, 3000), Seeds: lesson.Pick(b, 1, 1, 3),
		Shifts: []int{0, 1, 2, 3, 4}, ShiftImages: lesson.Pick(b, 500, 1000, 5000),
		UniformityDepth: 8, UniformityImages: lesson.Pick(b, 8, 16, 64), TrainedDepth: lesson.Pick(b, 3, 3, 6)}
	c.Run = c.At(ArchViT, run.TrainSize)
	return c
}

// At is the run of arch on size training images, trained for Steps steps.
func (c Config) At(arch string, size int) RunConfig {
	r := c.Run
	r.Arch, r.TrainSize = arch, size
	perEpoch := max(1, size/r.BatchSize) // full batches only
	r.Epochs = (c.Steps + perEpoch - 1) / perEpoch
	r.WarmupSteps = c.Steps / 10
	return r
}

// SweepArms are the runs of the data-hunger sweep for one architecture, named by the size.
func (c Config) SweepArms(arch string) []lesson.Arm[RunConfig] {
	var out []lesson.Arm[RunConfig]
	for _, n := range c.Sizes {
		out = append(out, lesson.Arm[RunConfig]{Name: fmt.Sprintf("%s, %d images", arch, n), Config: c.At(arch, n)})
	}
	return out
}

// UniformityVariants are the block variants of section 4 in the order it shows them, with
// their switches.
var UniformityVariants = []struct {
	Name          string
	NoSkip, NoMLP bool
}{{VariantFull, false, false}, {VariantNoSkip, true, false}, {VariantNoMLP, false, true}, {VariantAttention, true, true}}

// UniformityArms are the trained runs of section 4: the ViT at TrainedDepth blocks with each
// of [UniformityVariants], on the largest set.
func (c Config) UniformityArms() []lesson.Arm[RunConfig] {
	var out []lesson.Arm[RunConfig]
	for _, v := range UniformityVariants {
		r := c.At(ArchViT, c.Sizes[len(c.Sizes)-1])
		r.Depth, r.NoSkip, r.NoMLP = c.TrainedDepth, v.NoSkip, v.NoMLP
		out = append(out, lesson.Arm[RunConfig]{Name: v.Name, Config: r})
	}
	return out
}

// QKArms are the runs of section 5 on the largest set: the sweep's ViT (separate queries and
// keys, its runs reused) and the same ViT with SharedQK.
func (c Config) QKArms() []lesson.Arm[RunConfig] {
	qk := c.At(ArchViT, c.Sizes[len(c.Sizes)-1])
	shared := qk
	shared.SharedQK = true
	return []lesson.Arm[RunConfig]{{Name: VariantQK, Config: qk}, {Name: VariantSharedQK, Config: shared}}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if len(c.Sizes) < 2 || !slices.IsSorted(c.Sizes) || c.Steps < 1 || c.Seeds < 1 {
		return fmt.Errorf("sizes %v (want two or more, ascending), steps %d, seeds %d", c.Sizes, c.Steps, c.Seeds)
	}
	if c.UniformityDepth < 1 || c.UniformityImages < 1 || c.TrainedDepth < 1 {
		return fmt.Errorf("uniformity: depth %d (trained %d), %d images", c.UniformityDepth, c.TrainedDepth, c.UniformityImages)
	}
	if len(c.Shifts) < 2 || c.Shifts[0] != 0 || c.ShiftImages < 1 || c.ShiftImages > c.Run.Tests() {
		return fmt.Errorf("shifts %v (want 0 first), %d shifted images of %d", c.Shifts, c.ShiftImages, c.Run.Tests())
	}
	for _, a := range Archs {
		for _, n := range c.Sizes {
			r := c.At(a, n)
			if err := r.Validate(); err != nil {
				return fmt.Errorf("%s at %d images: %w", a, n, err)
			}
		}
	}
	for _, a := range append(c.UniformityArms(), c.QKArms()...) {
		if err := a.Config.Validate(); err != nil {
			return fmt.Errorf("%s: %w", a.Name, err)
		}
	}
	return nil
}
