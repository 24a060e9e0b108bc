package bottleneck

import (
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Config is everything the notebook and the tests run: one code path, whose sizes the budget
// sets.
type Config struct {
	Budget lesson.Budget
	// Run is the config every training run starts from: data sizes, epochs, batch, learning
	// rate, and the plain bottleneck network (ResNet-50's block) whose parameter count the
	// other networks match.
	Run RunConfig
	// Basic and ConvNeXt are the basic-block ResNet and the ConvNeXt of the comparison table,
	// sized to about the bottleneck network's parameters.
	Basic, ConvNeXt Net
	// Cardinalities are the ResNeXt rows of the table and the axis of the cardinality
	// ablation, each at about the parameters of the plain bottleneck (cardinality 1).
	Cardinalities []int
	// Seeds is the number of seeds (0, 1, …) of the cardinality ablation, the complexity
	// comparison and the ConvNeXt-gap controls (mean ± std over them).
	Seeds int
	// Complexity lists the networks of the paper's "deeper or wider or more paths?" question
	// (Table 4), the plain bottleneck first: each other one about twice its cost.
	Complexity []Net
	// Gap is how many of [Config.GapArms] the ConvNeXt-gap section trains (all of them, 7,
	// at the full budget).
	Gap int
	// FeatureDigit is the index, in the MNIST test split, of the digit whose feature maps the
	// lesson draws.
	FeatureDigit int
}

// ForBudget returns the lesson's configuration for a budget. Full: 20,000 training images ×
// 3 epochs (936 steps per run), five cardinalities, the complexity comparison and the ConvNeXt
// gap's controls with three seeds each. Quick: 3,072 images × 1 epoch (96 steps), one seed,
// three cardinalities, the base and the deeper network, the gap's references but no control (6
// runs; each ConvNeXt spends most of its time in XLA compiling, about two minutes on two cores). Test: 2,560 images × 1 epoch (80 steps), fewer points still.
func ForBudget(b lesson.Budget) Config {
	bottleneck := Net{Arch: ArchBottleneck, Planes: []int{16, 32, 64}, Blocks: []int{1, 1, 1}, StemWidth: 16}
	run := RunConfig{
		Train:    experiment.Train{Epochs: 3, BatchSize: 64, LearningRate: 2e-3, LogEvery: 10},
		Net:      bottleneck,
		MNIST:    lesson.MNIST{TrainSize: 20000, ValSize: 2000, TestSize: 0, MaxShift: 1},
		Schedule: ScheduleCosine,
	}
	if b != lesson.Full {
		run.Epochs, run.BatchSize, run.LogEvery = 1, 32, 2
		run.TrainSize, run.ValSize, run.TestSize = lesson.Pick(b, 2560, 3072, 0), 500, 1000
	}
	complexity := ComplexityNets(bottleneck)
	return Config{
		Budget: b,
		Run:    run,
		// Two 3×3 convs per block at 20/40/80 channels: about the bottleneck net's parameters.
		Basic: Net{Arch: ArchBasic, Planes: []int{20, 40, 80}, Blocks: []int{1, 1, 1}, StemWidth: 16},
		// pkg/nn's ConvNeXt blocks at 16/32/64 channels, stage depths 1:1:3 (the paper's 1:1:3:1
		// without the fourth stage), about the same parameters. γ starts at 1, not the paper's
		// 1e-6: the ConvNeXt-gap section measures what 1e-6 does in a run this short.
		ConvNeXt:      Net{Arch: ArchConvNeXt, Planes: []int{16, 32, 64}, Blocks: []int{1, 1, 3}, LayerScale: 1},
		Cardinalities: lesson.Pick(b, []int{1, 4}, []int{1, 4, 32}, []int{1, 2, 4, 8, 32}),
		Seeds:         lesson.Pick(b, 1, 1, 3),
		Complexity:    lesson.Pick(b, complexity[:2], complexity[:2], complexity),
		Gap:           lesson.Pick(b, 2, 3, 7),
		FeatureDigit:  0,
	}
}

// ResNeXt returns the base network with its 3×3 split into `cardinality` paths, each as wide
// as keeps the block's parameters at costScale × the plain bottleneck's.
func ResNeXt(base Net, cardinality int, costScale float64) Net {
	n := base
	n.Arch = ArchResNeXt
	n.Cardinality = cardinality
	n.GroupWidth = 0
	n.CostScale = costScale
	return n
}

// ComplexityNets are the paper's Table 4 question at this scale: starting from the plain
// bottleneck network (1×d), spend about twice the parameters by going deeper (two blocks per
// stage), wider (one path of ~1.5d), or to more paths (2×d, and 8 narrower paths).
func ComplexityNets(base Net) []Net {
	deeper := ResNeXt(base, 1, 1)
	deeper.Blocks = []int{2 * base.Blocks[0], 2 * base.Blocks[1], 2 * base.Blocks[2]}
	return []Net{ResNeXt(base, 1, 1), deeper, ResNeXt(base, 1, 2), ResNeXt(base, 2, 2), ResNeXt(base, 8, 2)}
}

// TableNets are the networks of the comparison table, in order: basic, the ResNeXt family at
// the configured cardinalities (cardinality 1 is the plain bottleneck), ConvNeXt.
func (c Config) TableNets() []Net {
	nets := []Net{c.Basic}
	for _, card := range c.Cardinalities {
		nets = append(nets, ResNeXt(c.Run.Net, card, 1))
	}
	return append(nets, c.ConvNeXt)
}

// RunOf is the run config that trains net.
func (c Config) RunOf(net Net) RunConfig {
	cfg := c.Run
	cfg.Net = net
	return cfg
}

// GapArms are the runs of the ConvNeXt-gap section, the first Gap of them in this order: the
// table's ConvNeXt; the plain-bottleneck ResNet the gap is measured against and the
// basic-block one (both the table's networks); then the same ConvNeXt with one thing changed
// towards the ResNets or towards the paper — the ResNets' stem, padded downsampling (its last
// stage on 4×4 like the ResNets', not 3×3), AdamW (weight decay 0.05, the paper's), the
// paper's LayerScale init 1e-6.
func (c Config) GapArms() []lesson.Arm[RunConfig] {
	base := c.RunOf(c.ConvNeXt)
	stem, pad, adamw, ls := base, base, base, base
	stem.Stem = StemResNet
	pad.PadDownsample = true
	adamw.WeightDecay = 0.05
	ls.LayerScale = 1e-6
	arms := []lesson.Arm[RunConfig]{
		{Name: "convnext", Config: base},
		{Name: "resnet (plain bottleneck)", Config: c.RunOf(ResNeXt(c.Run.Net, 1, 1))},
		{Name: "resnet (basic block)", Config: c.RunOf(c.Basic)},
		{Name: "convnext + the ResNets' stem", Config: stem},
		{Name: "convnext + padded downsampling (4×4 last stage)", Config: pad},
		{Name: "convnext + AdamW (weight decay 0.05)", Config: adamw},
		{Name: "convnext + LayerScale init 1e-6", Config: ls},
	}
	return arms[:min(max(c.Gap, 2), len(arms))]
}
