// Package imbalance is lesson 13, "Class imbalance and dynamic sampling" (数据集;
// notebooks/13-imbalance-sampling.ipynb): what training on every sample of an imbalanced set
// does — the majority classes win (per-class recall, macro-F1), epochs are spent on samples
// already learned (samples seen vs accuracy reached), the few samples of the rare classes are
// memorized (the train–test gap) — and what class-balanced and dynamic sampling change.
//
// The notes (数据集) describe dynamic sampling from Lin et al. (TNNLS 2013) and the per-class
// F1 rule of Pouyanfar et al. (MIPR 2018): each epoch, every sample is kept with a
// probability p, drawn as u < p. The package, on the lesson kit (lessons/lesson):
//
//   - [Net], [RunConfig], [Model], [Data] and the registered [Experiment] ([Name]
//     "imbalance"): a small CNN on long-tailed MNIST ([LongTail]: digit c keeps
//     ratio^(−c/9) of its images; validation and test stay balanced).
//   - [PhantomRunConfig] and [PhantomExperiment] ([PhantomName]): the phantoms' three
//     classes with a step imbalance ([StepImbalance]).
//   - [Sampling]: the samplers [All], [Balanced] (static, power 0.5 or 1), [F1] (dynamic by
//     the previous epoch's per-class validation F1, [F1Keep]) and [Error] (dynamic by each
//     sample's error), applied through datasets/sampling and experiment.Data.Adapt.
//   - Measuring: [Score] (confusion, per-class recall/precision/F1, balanced accuracy,
//     macro-F1), [Analyze] and [AnalyzeArms] (a run's [Outcome]: test and train scores, easy
//     samples, samples seen per epoch), [Summarize] (an arm over seeds, [ArmStats]).
package imbalance
