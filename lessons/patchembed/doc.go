// Package patchembed is lesson 2, patch embedding (the stem of a Vision Transformer): how ViT
// turns an image into a sequence of token vectors, and what its position embeddings and class
// token do, measured on MNIST. The notebook is notebooks/02-patch-embedding.ipynb.
//
// The model is pkg/nn's ViT configured by [RunConfig.ViT] (nn.ViTTiny28's width with 2 blocks)
// with a choice of stem and pooling; with the patch stem it is timm's VisionTransformer, so
// runs export to timm. [Experiment] trains it on the kit's MNIST splits and is registered as
// "patchembed" (`gostudy ablate patchembed -grid stem=patch,overlap -grid pool=token,avg`).
//
// The claims it measures, each by a function returning numbers:
//
//   - patchify is a convolution with stride = kernel size, and equals cutting the image into
//     patches and applying one linear layer ([ProvePatchify]; an overlapping convolution
//     equals overlapping patches + one linear layer, the general case);
//   - an overlapping convolutional stem costs more parameters and MACs than patchify
//     ([MeasureCosts]) — and what it buys in accuracy is measured by training both
//     ([Config.StemArms] through lesson.Compare);
//   - learned 1D position embeddings come out 2D-structured: neighbouring positions are more
//     similar than distant ones ([MeasurePosSimilarity], ViT Fig. 7);
//   - to use another resolution, ViT interpolates the position embeddings in 2D
//     ([MeasureResolutionTransfer]: ViT's linear and timm's bicubic 2D interpolation vs 1D vs
//     none, evaluated at 56×56; [MeasureResampleGap]: how far the two 2D conventions differ);
//   - a convolutional stem carries position itself ([MeasurePositionReliance]);
//   - the class token gathers from the digit ([MeasureClassTokenAttention]) and competes with
//     global average pooling ([Config.PoolArms], over seeds).
//
// [ForBudget] sizes everything for the test, quick and full budgets.
package patchembed
