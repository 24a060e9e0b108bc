// Package repvgg is lesson 9 (notebooks/09-repvgg-normalization.ipynb): RepVGG — train with
// branches, deploy one conv — and the normalization questions of the notes (Trick, 归一化).
//
// The notes' claims and where each is measured:
//
//   - "repvgg训练使用残差，但是推理只用单分支" (trains with residual branches, infers with a single
//     branch): [ProveFusion] fuses a trained block step by step — BN into the conv, the 1×1
//     padded to 3×3, the identity as a 3×3 kernel, the sum — and [FuseAndCompare] runs the
//     whole trained network both ways on real digits. [Costs] and [TimeInference] (and the
//     package's benchmarks) say what the fusion saves.
//   - Does training with branches help? [Config.Arms]: the RepVGG, the very same network
//     trained plain (3×3 + BN per layer), and a ResNet with as many 3×3 layers, over seeds,
//     judged by [Judge].
//   - Train ≠ inference for BatchNorm: [BatchNormModes] evaluates the trained network with batch
//     statistics at several batch sizes against its running statistics.
//   - "LN是需要进行训练的，还说只用计算就可以了" (is LN trained or only computed?): [NormParamTables]
//     lists what BN, LN and GN learn and keep.
//   - "LN在网络结构实现时实际上也是全连接层吗" (is LN a fully connected layer?): no —
//     [ProveScaleInvariance] shows LN ignores each sample's scale, which no linear layer does.
//   - GroupNorm(1, C) in PoolFormer's dump normalises over C·H·W: [ProveGroupNorm].
//
// One registered experiment, [Experiment] ("repvgg"), trains every network (`gostudy ablate
// repvgg -grid arch=repvgg,plain,resnet`, `-set dataset=phantom` for the phantoms' classes) and
// exports with `gostudy export`. [ForBudget] sizes everything; the code path is the same.
package repvgg
