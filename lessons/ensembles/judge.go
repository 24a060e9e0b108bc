package ensembles

import (
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Verdicts are the lesson's comparisons, each a lesson.Versus over the seeds.
type Verdicts struct {
	// PlainVsResNet compares the mean accuracy drop of deleting one block that keeps the map
	// size: the network without shortcuts against the ResNet. Veit et al.: small for the
	// ResNet, ruinous for the plain network.
	PlainVsResNet lesson.Diff
	// DownVsOthers compares, in the ResNet, the mean drop of deleting a block that changes the
	// map size with that of the others ("改变特征图大小的一些网络层是比较关键的").
	DownVsOthers lesson.Diff
	// PreVsPost compares test accuracies: pre-activation against the original ResNet.
	PreVsPost lesson.Diff
	// PreVsPostDrop compares the mean drop of deleting a block that keeps the map size.
	PreVsPostDrop lesson.Diff
	// DenseVsRes compares test accuracies: the DenseNet against the ResNet.
	DenseVsRes lesson.Diff
}

// Judge computes the verdicts from the networks' deletions (per seed) and test accuracies.
func Judge(resnet, plain, preact []Deletion, resAcc, preAcc, denseAcc experiment.Stat) Verdicts {
	resKeep, resChange := MeanDrops(resnet)
	plainKeep, _ := MeanDrops(plain)
	preKeep, _ := MeanDrops(preact)
	return Verdicts{
		PlainVsResNet: lesson.Versus(plainKeep, resKeep),
		DownVsOthers:  lesson.Versus(resChange, resKeep),
		PreVsPost:     lesson.Versus(preAcc, resAcc),
		PreVsPostDrop: lesson.Versus(preKeep, resKeep),
		DenseVsRes:    lesson.Versus(denseAcc, resAcc),
	}
}
