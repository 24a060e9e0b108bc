// Package unet is lesson 5 (notebooks/05-ultrasound-unet.ipynb): a U-Net (Ronneberger et al.
// 2015) on speckled breast-ultrasound phantoms, the encoder–decoder family of the notes'
// survey of ultrasound segmentation (超声图像分割 综述), measured against the notes' claims.
//
// The claims and where each is measured:
//
//   - The decoder "recovers the pixel positions lost in pooling" (恢复在池化操作中丢失的像素位置信息):
//     the U-Net against the same network without skips ([Config.Arms], [CompareArms]) — Dice,
//     and the distance of the predicted margin from the true one, read off the phantoms' exact
//     signed distance (segkit.BoundaryError).
//   - Average pool vs max pool vs a strided convolution: the same comparison.
//   - Deep supervision (the survey's V-net "reduces the convergence time"): auxiliary heads on
//     the decoder levels ([RunConfig].DeepSupervision, [Loss]); steps to reach a validation
//     Dice ([MeasureSpeed]).
//   - "When the appearance differs, deep models tend to do badly" (the survey's GAN family):
//     the main run on phantoms with fainter lesions, blurrier margins, stronger attenuation,
//     more look-alikes ([Appearances], [MeasureAppearance]).
//   - "Speckles and shadows … easily mistaken for masses with a limited receptive field" (the
//     GG-Net note): false positives inside the phantoms' known look-alike regions
//     (segkit.MeasureLookalikes).
//
// One registered experiment, [Experiment] ("unet"), trains every network, so each runs in
// `gostudy ablate unet -grid ...` and exports with `gostudy export`. [ForBudget] sizes
// everything; the code path is the same at every budget. The images are phantoms unless
// GOSTUDY_BUSI names a BUSI-layout folder (segkit.Images).
package unet
