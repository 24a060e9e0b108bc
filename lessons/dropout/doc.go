// Package dropout is the lesson "Dropout scaling" (速记: dropout): why inverted dropout divides
// the kept units by 1−p, what train and eval mode do, what dropping means for one tensor and
// for a whole network, how Dropout differs from DropPath (stochastic depth, the second kind of
// drop in ViT and Swin configs), and how much dropout helps or hurts a small residual network
// on MNIST.
//
// The notes' statement (速记): a drop multiplies each unit a by a 0/1 variable that keeps it
// with probability 1−p, so E[out] = (1−p)·a + p·0 = (1−p)·a; dividing the kept units by 1−p
// makes E[out] = a, so nothing has to change at test time. Here a is one unit, not the whole
// tensor — the lesson measures the ratio per unit, over many draws.
//
// What the package offers, each returning numbers rather than printing:
//
//   - [Config] and [ForBudget]: the lesson's sizes for the test and full budgets (one code path).
//   - [NetConfig], [Classifier], [Model] and the registered experiment [Exp] ("dropout"): a small
//     residual CNN with timm-style names — DropPath on every residual branch, optional Dropout
//     inside the branches, Dropout on the classifier's hidden layer. `gostudy ablate dropout
//     -grid dropout=0,0.25,0.5` and `gostudy export` work on it.
//   - Dropout on a tensor: [MeasureScaling] (the 1/(1−p) factor over many draws),
//     [MeasureTrainEval] (training vs evaluation mode), [MeasureDropKinds] (what Dropout and
//     DropPath zero).
//   - Dropout on a network: [StageMaps] (feature maps and hidden units, with and without the
//     drops), [MeasureInNetwork] (the op inside the trained network, Monte-Carlo dropout).
//   - Training: [Watch] (live curves and progress), [CompareDrops] (none vs Dropout vs DropPath),
//     [Sweep] and [Judge] (the p-sweep with pkg/ablation and its verdict).
package dropout
