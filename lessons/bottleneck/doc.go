// Package bottleneck is lesson 3 (notebooks/03-bottlenecks.ipynb): bottleneck blocks
// (瓶颈结构) in ResNet, ResNeXt and ConvNeXt, built from pkg/nn and measured.
//
// The notes' claims and where each is measured:
//
//   - "Two ends wide, middle narrow" cuts FLOPs: [BottleneckSaving] counts ResNet-50's block
//     against two 3×3 convs at the same width (16.94× fewer multiply-accumulates), by
//     formula and on the built graph.
//   - The bottleneck downsamples with stride 2 on its 3×3 and a 1×1 stride-2 projection
//     shortcut, which is added: [DownsamplingBlock].
//   - ResNeXt's split-transform-merge equals a grouped convolution (the notes' variants 1 and
//     2): [ProveEquivalence] runs the paper's three forms on the same variables, and the
//     grouped 3×3 against its block-diagonal dense twin ([BlockDiagonalKernel],
//     [Connectivity]).
//   - ConvNeXt's patchify stem is one linear map per patch ([ProvePatchify]); its block is a
//     depthwise conv plus an inverted-bottleneck MLP ([ConvNeXtBlockAnatomy]); its 3:3:9:3
//     stage ratio lands on Swin-T's compute ([StageRatios]).
//   - Basic vs bottleneck vs ResNeXt (cardinality at equal parameters, [MatchedGroupWidth])
//     vs ConvNeXt on MNIST: [Costs], [TrainTable]; the cardinality ablation
//     ([CardinalityAblation], pkg/ablation) and the paper's deeper/wider/more-paths question
//     ([ComplexityComparison]), with mean ± std over seeds and an honest verdict ([Compare]).
//
// All networks share one macro layout ([Net]) and one registered experiment, [Experiment]
// ("bottleneck"), so every one of them runs in `gostudy ablate bottleneck -grid ...` and
// exports with `gostudy export`. [ForBudget] sizes everything for the test budget (the
// notebook test, two CPU cores) or the full one; the code path is the same.
package bottleneck
