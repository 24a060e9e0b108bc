// Package acmix is lesson 8 (notebooks/08-acmix.ipynb): ACmix (Pan et al. 2022, "On the
// Integration of Self-Attention and Convolution"), as the notes read it (Transfomer, ACmix).
//
// The notes' claims and where each is measured:
//
//   - "对一张特征图进行传统的3*3的卷积 等价于：对原特征图进行9种1*1的卷积…相加" (a 3×3 conv equals nine
//     1×1 convs, added): [ProveShifted1x1] — true only with the shifts the notes leave out.
//   - The notes' four vectorisation steps, ending in a shift-initialised group conv:
//     [ProveVectorisation].
//   - "代码实现与这里的图描述得有所不同" (the code differs from the figure): [CompareCodeAndFigure]
//     counts both forms' parameters (nn.ACmixConfig.FigureFC builds the figure's).
//   - The cost of a conv, of local attention and of ACmix: [Costs], by formula and on the graph.
//   - ResNet's bottleneck vs ResNet-ACmix vs either path alone, trained ([Config.Arms]), and the
//     learned α, β of every ACmix module by depth ([Rates]).
//   - The Swin note "早期基于滑动窗口的自注意力则保持低延迟" (sliding-window attention keeps a low
//     latency) states the paper's point backwards: [TimeAttention] (and the package's
//     benchmark) times W-MSA against sliding windows at equal multiply-accumulates.
//
// One registered experiment, [Experiment] ("acmix"), trains every network (`gostudy ablate acmix
// -grid block=bottleneck,acmix,attention,conv`) and exports with `gostudy export`.
package acmix
