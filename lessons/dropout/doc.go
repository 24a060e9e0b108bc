// Package dropout is lesson 01, "Dropout scaling" (速记: dropout; notebooks/01-dropout.ipynb):
// why dropout divides the kept units by 1−p — or, as the original paper did, multiplies by the
// keep probability at test time instead — what train and eval mode do, what dropping means for
// one tensor and for a whole network, how Dropout differs from DropPath (stochastic depth, the
// second kind of drop in ViT and Swin configs), and how much dropout helps or hurts a small
// residual network on MNIST.
//
// The notes' statement (速记): a drop multiplies each unit a by a 0/1 variable that keeps it
// with probability 1−p, so E[out] = (1−p)·a; dividing the kept units by 1−p makes E[out] = a,
// so nothing has to change at test time ("inverted" dropout). Srivastava et al. (2014) train
// without the factor and multiply the weights by the keep probability at test time
// ("original"): the same expectation, reached on the other side. Only dropping without either
// correction is wrong. Here a is one unit, not the whole tensor — the lesson measures the
// ratio per unit, over many draws.
//
// The package, built on the lesson kit (lessons/lesson):
//
//   - [RunConfig], [Classifier], [Model] and the registered [Experiment] ([Name] "dropout"): a
//     small residual CNN with timm-style names — DropPath on every residual branch, optional
//     Dropout on the input and inside the branches, Dropout on the classifier's hidden layer,
//     each in the [Inverted], [Original] or [None] convention.
//   - [Config] and [ForBudget]: the notebook's sizes for the test, quick and full budgets.
//   - Dropout on a tensor: [MeasureScaling] (the 1/(1−p) factor over many draws),
//     [MeasureTrainEval] (training vs evaluation mode in the three conventions),
//     [MeasureDropKinds] (what Dropout and DropPath zero).
//   - Dropout on a network: [StageMaps] (feature maps and hidden units, with and without the
//     drops), [MeasureInNetwork] (the op inside the trained network, Monte-Carlo dropout).
//   - The p-sweep's verdict: [SweepRows] and [Judge].
package dropout
