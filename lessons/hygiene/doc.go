// Package hygiene is lesson 14, "Experiment hygiene and reproducibility" (速记, Code;
// notebooks/14-experiment-hygiene.ipynb): what a seed fixes and what it does not, why the same
// run differs between machines, how far a lucky run is from a typical one and how many seeds a
// small difference needs, which source of randomness moves a result, what a run's record says
// about the code that made it, and why a comparison that changes three things at once says
// nothing about any one of them.
//
// The notes (速记) say: "一直以为如果模型中没有随机参数的话模型的反向传播应该是固定的，但是在训练模型时
// 发现貌似是经典模型同一epoch的重复次运行结果不一致，暂未理解原因，有时候模型在不同的设备比如谷歌的colab和
// 服务器上的运行结果也有所差别。如果某个模型某次结果跑的很好，需要重复进行实验来验证。" — and, of results that
// flip between experiments, that the cause is "没有控制好变量"; and (Code) that training and testing
// should be called from one place so that the best checkpoint's path is passed on, not copied
// by hand.
//
// The package, on the lesson kit (lessons/lesson):
//
//   - [Net], [RunConfig], [Model] and the registered [Experiment] ([Name] "hygiene"): a small
//     CNN for MNIST whose stem, block and norm are independent switches (lesson 03's ResNet
//     and ConvNeXt differ in all three at once), and a data seed that separates the batch
//     order from the initial weights.
//   - [Config] and [ForBudget]: the notebook's sizes for the test, quick and full budgets.
//   - Reproducibility: [Compare] (two records, number by number, bit for bit), [Weights]
//     (two sets of weights), [ReduceSum] (one backend's order of additions), [Diverge] (the
//     same seed and the same weights on two backends, step by step).
//   - Seeds: [MeasureSpread] (where the best of many runs sits), [ExpectedMaxZ],
//     [SeedsToDetect], [Detectable], [SimulatePower] (the power of lesson.Versus's rule),
//     [Sources], [InitOnly] and [DataSeeds] (initial weights vs data order).
//   - Controls and provenance: [ConfigDiff] (what two runs' configs change), [Arms] (a
//     confounded comparison and its controlled versions), [CheckProvenance] (a record's commit
//     against the checkout's).
package hygiene
