package nn

import (
	"github.com/gomlx/gomlx/core/graph"
)

// This file: the segmentation losses of the GG-Net notes ("分割损失使用的是 二元交叉熵损失 +
// 1 − dice score"): binary cross-entropy on logits, the soft Dice loss, and their sum.
// GoMLX's loss package has the cross-entropy but no Dice loss.

// DiceSmooth is the ε of [DiceLoss]: it keeps the ratio defined on an all-background batch
// and is one pixel's worth, small next to any lesion.
const DiceSmooth = 1.0

// BCEWithLogits is the mean binary cross-entropy between σ(logits) and target (same shape,
// values in [0, 1]), computed stably as max(l, 0) − l·t + log(1 + e^−|l|).
func BCEWithLogits(logits, target *graph.Node) *graph.Node {
	l := logits
	per := graph.Add(graph.Sub(ReLU(l), graph.Mul(l, target)), graph.Log1p(graph.Exp(graph.Neg(graph.Abs(l)))))
	return graph.ReduceAllMean(per)
}

// DiceLoss is 1 − soft Dice between p = σ(logits) and target over the whole batch:
// 1 − (2·Σ p·t + ε) / (Σ p + Σ t + ε), with ε = [DiceSmooth]. Summing over the batch (rather
// than averaging per-image ratios) keeps images without a lesion from dominating it, as most
// segmentation code does.
func DiceLoss(logits, target *graph.Node) *graph.Node {
	p := graph.Sigmoid(logits)
	inter := graph.ReduceAllSum(graph.Mul(p, target))
	sum := graph.Add(graph.ReduceAllSum(p), graph.ReduceAllSum(target))
	eps := graph.Scalar(logits.Graph(), logits.DType(), DiceSmooth)
	return graph.OneMinus(graph.Div(graph.AddScalar(graph.MulScalar(inter, 2), DiceSmooth), graph.Add(sum, eps)))
}

// BCEDiceLoss is [BCEWithLogits] + [DiceLoss]: the notes' mask loss (BCE + 1 − Dice), for
// GG-Net's final mask and its boundary modules' masks alike.
func BCEDiceLoss(logits, target *graph.Node) *graph.Node {
	return graph.Add(BCEWithLogits(logits, target), DiceLoss(logits, target))
}
