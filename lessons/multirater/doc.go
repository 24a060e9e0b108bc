// Package multirater is lesson 7 (notebooks/07-multi-rater.ipynb): the fatty-liver paper's
// multi-rater auto-decoder as the notes read it — one segmentation network plus a learned latent
// per rater, projected and added to the features — trained on simulated raters with known biases
// (datasets/raters) over speckled phantoms, so that what each latent learned can be measured.
//
// Where each of the questions is measured:
//
//   - Does each latent recover its rater's bias: [PredictRaters] asks a trained model for every
//     rater's mask, [RecoverBiases] reads the biases of those masks next to the raters' own,
//     [FitOffsets] summarizes model offset against true offset.
//   - Pooled model, one model per rater, one label per image vs all raters at an equal label
//     count, the latents' initial std, once vs every decoder level, the L2 weight: one
//     registered experiment, [Experiment] ("multirater"), whose [RunConfig] has a knob per
//     question; the arms are [Config.Arms].
//   - A new rater fitted from k images with the backbone frozen or not: [FitNewcomer].
//   - Concatenate-then-1×1 equals add-a-projected-latent: shown numerically in the notebook.
//
// [ForBudget] sizes everything; the test budget trains the main run and the equal-label-count
// arms, full every section with three seeds.
package multirater
