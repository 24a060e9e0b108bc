package repvgg

import (
	"fmt"

	"github.com/gostudy/gostudy/lessons/lesson"
)

// Verdicts are the comparison's two questions, each a lesson.Versus of test accuracies over
// the seeds.
type Verdicts struct {
	// BranchesVsPlain is RepVGG against the same network trained plain: do the training-time
	// branches help?
	BranchesVsPlain lesson.Diff
	// RepVGGVsResNet is RepVGG against the ResNet of equal depth, whose shortcuts stay at
	// inference.
	RepVGGVsResNet lesson.Diff
}

// Judge compares the arms of Config.Arms (in that order: repvgg, plain, resnet).
func Judge(results []lesson.Result[RunConfig]) (Verdicts, error) {
	byArch := map[string]lesson.Result[RunConfig]{}
	for _, r := range results {
		byArch[r.Config.Arch] = r
	}
	for _, a := range Archs {
		if _, ok := byArch[a]; !ok {
			return Verdicts{}, fmt.Errorf("judge: no %s arm among %d results", a, len(results))
		}
	}
	rep := byArch[ArchRepVGG].Acc()
	return Verdicts{
		BranchesVsPlain: lesson.Versus(rep, byArch[ArchPlain].Acc()),
		RepVGGVsResNet:  lesson.Versus(rep, byArch[ArchResNet].Acc()),
	}, nil
}
