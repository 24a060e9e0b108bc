// Package patchembed is lesson 2, patch embedding (the stem of a Vision Transformer): how ViT
// turns an image into a sequence of token vectors, and what its position embeddings and class
// token do, measured on MNIST.
//
// The claims it measures, each by a function returning numbers:
//
//   - patchify is a convolution with stride = kernel size, and equals cutting the image into
//     patches and applying one linear layer ([CheckEquivalence]; an overlapping convolution
//     equals overlapping patches + one linear layer, the general case);
//   - an overlapping convolutional stem costs more parameters and MACs than patchify
//     ([Costs]) — and what it buys in accuracy is measured by training both (the "patchembed"
//     experiment with stem=patch and stem=overlap);
//   - learned 1D position embeddings come out 2D-structured: neighbouring positions are more
//     similar than distant ones ([PosEmbedSimilarity], ViT Fig. 7);
//   - to use another resolution, ViT interpolates the position embeddings in 2D
//     ([ResolutionTransfer]: 2D vs 1D interpolation vs none, evaluated at 56×56);
//   - the class token gathers from the digit ([ClassTokenAttention]) and competes with global
//     average pooling (the experiment with pool=token and pool=avg, over seeds).
//
// The model is pkg/nn's ViT (nn.ViTTiny28's transformer) with a choice of stem and pooling;
// with the patch stem it is exactly nn.ViT, so runs export to timm. The notebook is
// notebooks/02-patch-embedding.ipynb; [ForBudget] sizes everything for the test or the full
// budget.
package patchembed
