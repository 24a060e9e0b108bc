package nn

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads like math.
)

// This file: the segmentation losses of the GG-Net notes ("分割损失使用的是 二元交叉熵损失 +
// 1 − dice score"): binary cross-entropy on logits, the soft Dice loss, and their sum.
// GoMLX's loss package has the cross-entropy but no Dice loss.

// DiceSmooth is the ε of [DiceLoss]: it keeps the ratio defined on an all-background batch
// and is one pixel's worth, small next to any lesion.
const DiceSmooth = 1.0

// BCEWithLogits is the mean binary cross-entropy between σ(logits) and target (same shape,
// values in [0, 1]), computed stably as max(l, 0) − l·t + log(1 + e^−|l|).
func BCEWithLogits(logits, target *Node) *Node {
	l := logits
	per := Add(Sub(ReLU(l), Mul(l, target)), Log1p(Exp(Neg(Abs(l)))))
	return ReduceAllMean(per)
}

// DiceLoss is 1 − soft Dice between p = σ(logits) and target over the whole batch:
// 1 − (2·Σ p·t + ε) / (Σ p + Σ t + ε), with ε = [DiceSmooth]. Summing over the batch (rather
// than averaging per-image ratios) keeps images without a lesion from dominating it, as most
// segmentation code does.
func DiceLoss(logits, target *Node) *Node {
	p := Sigmoid(logits)
	inter := ReduceAllSum(Mul(p, target))
	sum := Add(ReduceAllSum(p), ReduceAllSum(target))
	eps := Scalar(logits.Graph(), logits.DType(), DiceSmooth)
	return OneMinus(Div(AddScalar(MulScalar(inter, 2), DiceSmooth), Add(sum, eps)))
}

// BCEDiceLoss is [BCEWithLogits] + [DiceLoss]: the notes' mask loss (BCE + 1 − Dice), for
// GG-Net's final mask and its boundary modules' masks alike.
func BCEDiceLoss(logits, target *Node) *Node {
	return Add(BCEWithLogits(logits, target), DiceLoss(logits, target))
}
