package unet

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gostudy/gostudy/datasets/phantom"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/lessons/segkit"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// Arm names of the comparison, in [Config.Arms] order.
const (
	ArmUNet       = "U-Net (avg-pool)"
	ArmNoSkips    = "no skips"
	ArmMaxPool    = "max-pool"
	ArmNoSkipsMax = "no skips, max-pool"
	ArmConv       = "strided conv"
	ArmDeepSup    = "deep supervision"
	evalVersion   = 1
)

// Arms are the networks the lesson compares, each the main run with one or two things
// changed: the skip connections dropped, the downsampling by max-pool or a learned stride-2
// convolution, both (max-pool without skips: pooling that keeps no trace of where in its 2×2
// block the maximum was), auxiliary heads on the decoder levels (weight 1).
func (c Config) Arms() []lesson.Arm[RunConfig] {
	noSkips, maxPool, noSkipsMax, conv, ds := c.Run, c.Run, c.Run, c.Run, c.Run
	noSkips.Skips = false
	maxPool.Downsample = string(nn.DownMaxPool)
	noSkipsMax.Skips, noSkipsMax.Downsample = false, string(nn.DownMaxPool)
	conv.Downsample = string(nn.DownConv)
	ds.DeepSupervision = 1
	return []lesson.Arm[RunConfig]{
		{Name: ArmUNet, Config: c.Run}, {Name: ArmNoSkips, Config: noSkips}, {Name: ArmMaxPool, Config: maxPool},
		{Name: ArmNoSkipsMax, Config: noSkipsMax}, {Name: ArmConv, Config: conv}, {Name: ArmDeepSup, Config: ds},
	}
}

// Lesson is the lesson's experiment as segkit's shared measures take it.
var Lesson = segkit.Lesson[RunConfig]{Experiment: Experiment, Logits: Logits, Cost: Cost,
	Test: func(c RunConfig) ([]*phantom.Sample, error) {
		_, _, test, err := c.Splits()
		return test, err
	}}

// ArmRow is one network of the comparison, over the seeds.
type ArmRow = segkit.ArmRow[RunConfig]

// Cost is the network's parameters and compute for one image of the run's size.
func Cost(cfg RunConfig) (nn.Cost, error) { return segkit.Cost(nn.UNet(cfg.UNet()), cfg.ImageSize) }

// ValCurve is a run's validation Dice after each epoch, against the training step.
func ValCurve(rec *experiment.Record) (steps, dice []float64) {
	for _, e := range rec.Epochs {
		steps = append(steps, float64(e.Step))
		dice = append(dice, e.Val["dice"])
	}
	return steps, dice
}

// StepsToReach is the first training step after which the run's validation Dice was at least
// target (checked at the end of every epoch), or −1 when it never was.
func StepsToReach(rec *experiment.Record, target float64) int {
	for _, e := range rec.Epochs {
		if e.Val["dice"] >= target {
			return e.Step
		}
	}
	return -1
}

// Speed compares how fast two arms learn.
type Speed struct {
	// Target is the validation Dice both must reach: ReachFraction of the reference arm's
	// best validation Dice, averaged over seeds.
	Target float64
	// Ref and Other are the steps each seed needed (−1: not reached).
	Ref, Other []int
	// FirstRef and FirstOther are the validation Dice after the first epoch, over seeds: the
	// earliest point the runs are compared at.
	FirstRef, FirstOther experiment.Stat
}

// ReachFraction sets [Speed]'s target: this fraction of the plain U-Net's best validation
// Dice.
const ReachFraction = 0.9

// MeasureSpeed finds how many steps the runs of ref and other needed to reach
// [ReachFraction] of ref's best validation Dice.
func MeasureSpeed(ref, other *ArmRow) Speed {
	var best []float64
	for _, r := range ref.Records {
		best = append(best, r.Best.Value)
	}
	s := Speed{Target: ReachFraction * experiment.NewStat(best).Mean}
	first := func(recs []*experiment.Record) experiment.Stat {
		var v []float64
		for _, r := range recs {
			if len(r.Epochs) > 0 {
				v = append(v, r.Epochs[0].Val["dice"])
			}
		}
		return experiment.NewStat(v)
	}
	for _, r := range ref.Records {
		s.Ref = append(s.Ref, StepsToReach(r, s.Target))
	}
	for _, r := range other.Records {
		s.Other = append(s.Other, StepsToReach(r, s.Target))
	}
	s.FirstRef, s.FirstOther = first(ref.Records), first(other.Records)
	return s
}

// Appearance is a change of the phantoms' appearance at test time, the scenes unchanged where the
// generator allows (see [AppearanceSet]).
type Appearance struct {
	Name  string
	Apply func(*phantom.Config)
}

// Appearances are the appearance changes the lesson tests the trained U-Net on: the notes' "when
// the appearance differs, deep models tend to do badly even on a corpus of the same kind of
// objects" (the survey's GAN family).
func Appearances() []Appearance {
	return []Appearance{
		{Name: "as trained", Apply: func(*phantom.Config) {}},
		{Name: "fainter lesions (contrast 0.45–0.65)", Apply: func(c *phantom.Config) { c.ContrastMin, c.ContrastMax = 0.45, 0.65 }},
		{Name: "blurrier margins (blur 2–3.5 px)", Apply: func(c *phantom.Config) { c.BlurMin, c.BlurMax = 2, 3.5 }},
		{Name: "stronger attenuation (α 1.5–2.5)", Apply: func(c *phantom.Config) { c.AttenuationMin, c.AttenuationMax = 1.5, 2.5 }},
		{Name: "more look-alikes (every image)", Apply: func(c *phantom.Config) { c.ProbLookalike, c.ProbLigamentShadow = 1, 1 }},
	}
}

// AppearanceSet generates n test phantoms of the run's size with the appearance changed, from the test
// split's generator. Contrast, blur and attenuation are drawn in the same order whatever
// their range, so those sets show the test scenes with only their appearance changed; more
// look-alikes draws more random numbers, so its scenes differ.
func AppearanceSet(cfg RunConfig, s Appearance, n int) ([]*phantom.Sample, error) {
	if cfg.Real() {
		return nil, fmt.Errorf("appearance shifts need phantoms: the run uses the real images of %s", cfg.BUSI)
	}
	g := cfg.Generator(2)
	s.Apply(&g)
	out, err := phantom.Generate(g, n)
	if err != nil {
		return nil, fmt.Errorf("appearance %q: %w", s.Name, err)
	}
	return out, nil
}

// AppearanceRow is the main run's U-Net, over seeds, on one appearance.
type AppearanceRow struct {
	Condition string          `display:"test images"`
	Dice      experiment.Stat `display:"test Dice"`
	// Change is the Dice change from "as trained", with its verdict.
	Change string `display:"change"`
	// Fooled is the fraction of look-alikes mistaken for a lesion, InsideRate and
	// BackgroundRate the fraction of look-alike and of other background pixels predicted as
	// lesion.
	Fooled         experiment.Stat `display:"look-alikes fooled"`
	InsideRate     experiment.Stat `display:"FP rate in look-alikes"`
	BackgroundRate experiment.Stat `display:"FP rate elsewhere"`
	Evals          []*segkit.Eval  `display:"-"`
}

// MeasureAppearance evaluates the main run of every seed on each appearance shift.
func MeasureAppearance(b compute.Backend, c Config, opts lesson.Options) ([]AppearanceRow, error) {
	var preds []*segkit.Predictor
	defer func() {
		for _, p := range preds {
			p.Close()
		}
	}()
	for seed := range c.Seeds {
		tr, err := lesson.Load(Experiment, c.Run, int64(seed), opts.Dir)
		if err != nil {
			return nil, err
		}
		p, err := segkit.NewPredictor(b, tr.Store, Logits(c.Run), false)
		if err != nil {
			tr.Close()
			return nil, err
		}
		// The predictor reads the variables when it runs; the store must stay open until then.
		defer tr.Close()
		preds = append(preds, p)
	}
	var rows []AppearanceRow
	for _, s := range Appearances() {
		set, err := AppearanceSet(c.Run, s, c.AppearanceSize)
		if err != nil {
			return nil, err
		}
		row := AppearanceRow{Condition: s.Name}
		var dice, fooled, in, bg []float64
		for _, p := range preds {
			probs, err := p.Predict(set, nil)
			if err != nil {
				return nil, err
			}
			e, err := segkit.Measure(probs, set)
			if err != nil {
				return nil, err
			}
			row.Evals = append(row.Evals, e)
			dice = append(dice, e.MeanDice())
			fooled = append(fooled, e.Lookalikes.Fooled)
			in = append(in, e.Lookalikes.InsideRate)
			bg = append(bg, e.Lookalikes.BackgroundRate)
		}
		row.Dice, row.Fooled = experiment.NewStat(dice), experiment.NewStat(fooled)
		row.InsideRate, row.BackgroundRate = experiment.NewStat(in), experiment.NewStat(bg)
		if len(rows) == 0 {
			row.Change = "reference"
		} else {
			row.Change = lesson.Versus(row.Dice, rows[0].Dice).String()
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// ReceptiveField is the span, in input pixels, of the pixels that can influence the output
// pixel at column (or row) centre of the run's U-Net: exact, by following index intervals
// backwards through every 3×3 convolution (±1), 2×2 downsampling (×2), nearest upsampling (÷2)
// and skip (the union of both paths). It ignores the image border, so it may exceed the image:
// then every output pixel can see the whole image.
func ReceptiveField(cfg RunConfig, centre int) (lo, hi int) {
	type span struct{ lo, hi int }
	union := func(a, b span) span { return span{min(a.lo, b.lo), max(a.hi, b.hi)} }
	// enc returns the input span on which encoder level l's outputs s depend.
	var enc func(l int, s span) span
	enc = func(l int, s span) span {
		s = span{s.lo - 2, s.hi + 2} // DoubleConv: two 3×3 convs
		if l == 0 {
			return s
		}
		return enc(l-1, span{2 * s.lo, 2*s.hi + 1}) // 2×2 stride-2 downsampling
	}
	// dec returns the input span of decoder level l's outputs s (l = Levels−1 is the bottleneck).
	var dec func(l int, s span) span
	dec = func(l int, s span) span {
		if l == cfg.Levels-1 {
			return enc(l, s)
		}
		s = span{s.lo - 2, s.hi + 2}                                 // DoubleConv
		up := span{s.lo - 1, s.hi + 1}                               // the 3×3 conv after upsampling
		in := dec(l+1, span{floorDiv(up.lo, 2), floorDiv(up.hi, 2)}) // nearest 2× upsampling
		if cfg.Skips {
			in = union(in, enc(l, s))
		}
		return in
	}
	r := dec(0, span{centre, centre})
	return r.lo, r.hi
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
