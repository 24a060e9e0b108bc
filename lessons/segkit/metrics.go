package segkit

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/metric"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// DiceGraph is the per-image Dice score of the predicted mask (logits ≥ 0, i.e. σ ≥ 1/2) against
// the ground-truth mask labels[0] (≥ 1/2), averaged over the batch: 2|P∩G| / (|P|+|G|), and 1
// when both are empty (a normal image left empty is a perfect answer; one with a false lesion
// scores 0). [Dice] computes the same in Go.
func DiceGraph(_ *model.Scope, labels, predictions []*Node) *Node {
	logits, gt := predictions[0], labels[0]
	if !logits.Shape().Equal(gt.Shape()) {
		panic(fmt.Errorf("dice: predictions %s and mask %s differ in shape", logits.Shape(), gt.Shape()))
	}
	g := logits.Graph()
	p := ConvertDType(GreaterOrEqual(logits, ZerosLike(logits)), logits.DType())
	t := ConvertDType(GreaterOrEqual(gt, Scalar(g, gt.DType(), 0.5)), logits.DType())
	axes := make([]int, logits.Rank()-1)
	for i := range axes {
		axes[i] = i + 1
	}
	inter := ReduceSum(Mul(p, t), axes...)
	sum := Add(ReduceSum(p, axes...), ReduceSum(t, axes...))
	empty := Equal(sum, ZerosLike(sum))
	safe := Where(empty, OnesLike(sum), sum)
	dice := Where(empty, OnesLike(sum), Div(MulScalar(inter, 2), safe))
	return ReduceAllMean(dice)
}

// Metrics is the metric list of the segmentation lessons' experiments: the per-image Dice
// ("dice", [DiceGraph]) averaged over the evaluated images.
func Metrics[C any](C) []metric.Interface {
	return []metric.Interface{metric.NewMeanMetric("Dice", "dice", "dice", DiceGraph, nil)}
}

// BestDice picks a run's checkpoint by the highest validation Dice.
var BestDice = experiment.Selection{Metric: "dice", Maximize: true}

// Shrink averages a [B, S, S, C] map down to [B, size, size, C] (S a multiple of size): a
// mask's ground truth at a coarser scale, each coarse pixel the lesion's share of its block.
func Shrink(x *Node, size int) *Node {
	f := x.Shape().Dimensions[1] / size
	if f == 1 {
		return x
	}
	return MeanPool(x).Window(f).Strides(f).NoPadding().Done()
}
