package hygiene

import (
	"fmt"
	"strings"

	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Change is one config key whose value differs between two runs.
type Change struct {
	Key, From, To string
}

// ConfigDiff lists the keys (the ablate flags) whose values differ from a to b, in the config's
// field order: the variables a comparison of the two runs changes. One entry is a controlled
// comparison; several are a confounded one, whatever the comparison is called.
func ConfigDiff(a, b RunConfig) ([]Change, error) {
	fa, err := experiment.Fields(&a)
	if err != nil {
		return nil, err
	}
	fb, err := experiment.Fields(&b)
	if err != nil {
		return nil, err
	}
	var out []Change
	for i, f := range fa {
		if v, w := f.Value(), fb[i].Value(); v != w {
			out = append(out, Change{Key: f.Key, From: v, To: w})
		}
	}
	return out, nil
}

// String is "stem: conv → patch, block: basic → convnext" ("nothing" for no change).
func (c Change) String() string { return fmt.Sprintf("%s: %s → %s", c.Key, c.From, c.To) }

// Changes joins a diff for a sentence.
func Changes(diff []Change) string {
	if len(diff) == 0 {
		return "nothing"
	}
	parts := make([]string, len(diff))
	for i, c := range diff {
		parts[i] = c.String()
	}
	return strings.Join(parts, ", ")
}

// The arms of the comparison, by name.
const (
	ArmBaseline   = "resnet-like (baseline)"
	ArmConfounded = "convnext-like: stem + block + norm"
	ArmBlock      = "block only"
	ArmStem       = "stem only"
	ArmNorm       = "norm only"
)

// Arms are the comparison's networks: the baseline (the main run's ResNet-like net), the
// confounded change (ConvNeXt's stem, block and norm at once, as lesson 03's ResNet-vs-ConvNeXt
// table compared them), then each of the three changed alone. n keeps the first n (at least
// the baseline, the confounded change and the block alone).
func Arms(base RunConfig, n int) []lesson.Arm[RunConfig] {
	confounded, block, stem, norm := base, base, base, base
	confounded.Stem, confounded.Block, confounded.Norm = StemPatch, BlockConvNeXt, NormLayer
	block.Block = BlockConvNeXt
	stem.Stem = StemPatch
	norm.Norm = NormLayer
	arms := []lesson.Arm[RunConfig]{
		{Name: ArmBaseline, Config: base},
		{Name: ArmConfounded, Config: confounded},
		{Name: ArmBlock, Config: block},
		{Name: ArmStem, Config: stem},
		{Name: ArmNorm, Config: norm},
	}
	return arms[:min(max(n, 3), len(arms))]
}

// Provenance is what a run's record says about the code that made it, against the checkout now.
type Provenance struct {
	// Recorded is the record's commit, Now the checkout's ([experiment.GitCommitIn]).
	Recorded, Now string
	// Dirty is whether the run was trained with uncommitted changes.
	Dirty bool
	// Warning is [experiment.StaleCode]'s sentence: empty when the record can be trusted to be
	// this code's.
	Warning string
}

// CheckProvenance compares a record's commit with the commit checked out now.
func CheckProvenance(rec *experiment.Record, now string) Provenance {
	return Provenance{Recorded: rec.GitCommit, Now: now, Dirty: strings.HasSuffix(rec.GitCommit, "+dirty"),
		Warning: experiment.StaleCode(rec.GitCommit, now)}
}
