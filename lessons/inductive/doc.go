// Package inductive is lesson 12, "Inductive bias and data hunger" (notebooks/12-inductive-bias.ipynb):
// a convolutional network builds in locality and translation equivariance, a Vision Transformer
// has to learn them from data. The lesson measures two consequences on MNIST: how test accuracy
// grows with the number of training images for a small ResNet, lesson 02's ViT and the hybrid
// ViT with a convolutional stem (data hunger), and how accuracy falls when the test digits are
// shifted by 0–4 pixels that training never showed (translation bias).
//
// The package, on the lesson kit (lessons/lesson):
//
//   - [RunConfig], [Model] and the registered [Experiment] ([Name] "inductive"): the
//     architecture is a switch ([ArchResNet], [ArchViT], [ArchHybrid]); the ViTs are nn.ViT with
//     lesson 02's settings (nn.ViTTiny28, fewer blocks), the hybrid differing in its stem only.
//   - [Config] and [ForBudget]: the training sizes of the sweep and the shifts, per budget;
//     [Config.SweepArms] the runs of the sweep, each trained for the same number of steps.
//   - [MeasureEquivariance]: a 3×3 convolution vs the 4×4 patchify stem under pixel shifts.
//   - [Shifted] (a digit set moved by whole pixels, background filled in), [MeasureShift]
//     (a trained run's accuracy at each shift) and [ShiftDrop].
//   - [MeasureUniformity]: the notes' "token uniformity without skip connection and FFN",
//     the mean pairwise token cosine per block of a ViT at initialization, with and without
//     its skip connections and MLPs (nn.ViTConfig's NoSkip and NoMLP).
package inductive
