// Package windowattention is lesson 4, window attention (Swin Transformer, Liu et al., 2021):
// attention inside non-overlapping M×M windows, shifted windows with their attention mask,
// the relative position bias and its index, patch merging, and what windows save over global
// attention. The notebook is notebooks/04-window-attention.ipynb.
//
// The model is pkg/nn's Swin configured by [RunConfig.Swin] (nn.SwinTiny28: 2×2 patches, a
// 14×14 map, M = 7) with the paper's two ablation switches, shifted windows and the relative
// position bias; [Experiment] trains it on MNIST (the kit's lesson.MNIST splits) and is
// registered as "windowattention", so `gostudy ablate windowattention -grid shift=true,false
// -grid rel_bias=true,false` and `gostudy export` work on its runs.
//
// Each claim has a function that measures it and returns numbers:
//
//   - [MeasurePadding]: padding one side vs both sides of the map;
//   - [MeasureMask]: which (query, key) pairs the shifted-window mask separates, measured as
//     distances in the original image, for both orders of shift and padding;
//   - [MeasureIndex]: the relative position index has no collisions, the naive sum does;
//   - [MeasureCost]: MSA and W-MSA cost by the paper's formulas and counted in the graphs;
//   - [Reach]: how far information travels through W-MSA / SW-MSA sequences;
//   - [MergingAsConv]: patch merging as a per-group normalization and a 2×2 stride-2 conv;
//   - [Analyze] and [Analysis.MeasureAttention]: stage feature maps and attention of a
//     trained model (nn.SwinForward's intermediates), and the attention mass left on masked
//     pairs;
//   - [EvalAtWindow]: a trained model run with another window size, its bias tables resized,
//     cropped or dropped;
//   - [Config.AblationArms]: shift and relative bias on/off, trained over seeds with
//     lesson.Compare.
//
// [ForBudget] sizes everything for the test, quick and full budgets.
package windowattention
