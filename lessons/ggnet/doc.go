// Package ggnet is lesson 6 (notebooks/06-gg-net.ipynb): GG-Net (Xue et al., "Global guidance
// network for breast lesion segmentation in ultrasound images", Medical Image Analysis 2021) as
// the notes read it, built from pkg/nn at a small scale on speckled phantoms, and the notes'
// questions answered by experiments.
//
// Where each question is measured:
//
//   - Is the guidance map needed (softmax(W⊙W′) vs W vs W′ vs no GGBs), from which encoder
//     levels, shared or one per block, BD loss weight 0 vs 1, the ×10 edge weight, shrunk vs
//     upsampled vs natively rendered low-resolution ground truth ([RenderMask],
//     [NativeSource]), the 4× bilinear head, the BD subtraction order: one registered
//     experiment, [Experiment] ("ggnet"), whose [RunConfig] has a knob per question; the arms
//     are [Config.Arms], compared with segkit.CompareArms and [Against].
//   - The GGBs' cost next to the U-Net's, and how it grows with the map: [Costs], [GGBScaling].
//   - Is the channel affinity symmetric (the notes say "without doubt"): [MeasureAffinities]
//     writes both blocks out on a trained network's variables, checks them against pkg/nn's,
//     and measures the asymmetry of the logits and of the row-softmax weights; it also reads
//     what the guidance map holds.
//   - Why F − maxpool(F) is an edge and which order matches Canny or the morphological
//     gradient: [EdgeTruth] on the true masks; what a trained BD module's F and E are:
//     [ProbeBD].
//
// The losses are the notes' ([Loss]): BCE + (1 − Dice) on the mask and on each BD module's
// F + E, 10 × MSE on E, the ground truth at each BD scale. [ForBudget] sizes everything; the
// test and quick budgets train some of the questions' arms, full all of them with three seeds.
package ggnet
