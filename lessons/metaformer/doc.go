// Package metaformer is lesson 10 (notebooks/10-metaformer.ipynb): MetaFormer and PoolFormer
// (PoolTransformer, MLP-like model, mlp in the notes).
//
// The notes' claims and questions and where each is measured:
//
//   - The printout of poolformer_s12 ("中间的四个阶段一共7个组件：4个Transformer + 3个PatchEmbed"):
//     [CompareDump] puts nn.PoolFormerS12's summary beside the notes' dump, line by line.
//   - "pool（x）需要减去原始的输入x" (pool(x) must subtract x): [ProvePoolIdentity] shows the
//     residual adds x back, so x + (pool(x) − x) = pool(x).
//   - "代码实现中所有的PatchEmbed最后都是没有经过norm层的" and "patchembed负责改变通道数和特征图的大小"
//     (no norm in PatchEmbed; it alone changes width and map size): [Anatomy] reads both off
//     the built model's variables.
//   - Does the skeleton matter more than the mixer? The same skeleton with every token mixer of
//     nn.TokenMixers at equal parameters ([Config.MixerArms], [MatchedRatio]), judged by
//     [JudgeMixers].
//   - "MLP-like model ... 所有的model不都是基于mlp来的吗？" (aren't all models MLP-based?) and the
//     notes' doubt about "一个全部为参数、与图片等大的attention map" (a fully learned, image-sized
//     attention map): the spatial-MLP mixer is exactly that; [MixingMatrices] shows its matrix
//     is fixed while attention's follows the image, and [ShiftedAccuracy] tests every mixer on
//     shifted digits.
//   - "mlp层之间通道数比例关系是怎么影响模型的结果的？" (how does the MLP's width ratio matter?):
//     [Config.RatioArms], MLP ratio 1, 2, 4.
//
// One registered experiment, [Experiment] ("metaformer"), trains every network (`gostudy ablate
// metaformer -grid token_mixer=...`) and exports with `gostudy export`.
package metaformer
