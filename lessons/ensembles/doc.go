// Package ensembles is lesson 11 (notebooks/11-residual-ensembles.ipynb): residual networks as
// ensembles of shallow networks, and the notes' other ResNet remarks (resnet).
//
// The notes' claims and where each is measured:
//
//   - "残差网络可以看做多个网络模型的ensemble" (a residual network can be seen as an ensemble) and
//     "VGG删除一个层性能都会下降得很多" (deleting one layer of a VGG hurts a lot): [Delete] removes
//     each block of a trained network at test time — the block replaced by its shortcut, one
//     compiled graph with a keep vector ([Net.LogitsKeeping]) — for the ResNet and for the same
//     network without shortcuts, and deletes several blocks at once to see whether the damage
//     grows smoothly, as an ensemble's would.
//   - "改变特征图大小的一些网络层是比较关键的" (the layers that change the map size are critical):
//     [MeanDrops] separates the blocks that downsample from the others.
//   - "预激活残差网络" (pre-activation ResNets): the same network with pre-activation blocks,
//     trained and deleted the same way.
//   - "densenet是通道叠加，而不是直接像resnet一样相加的" (DenseNet concatenates, ResNet adds):
//     [ConcatVsAdd] measures what each keeps of its input and of its first layer, and their
//     parameters; a DenseNet of about the ResNet's parameters is trained beside it.
//
// [Judge] turns the runs into verdicts over seeds. One registered experiment, [Experiment]
// ("ensembles"), trains every network (`gostudy ablate ensembles -grid
// arch=resnet,plain,preact`) and exports with `gostudy export`.
package ensembles
