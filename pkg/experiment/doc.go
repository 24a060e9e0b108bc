// Package experiment runs a lesson's model as a reproducible experiment: a run is a config value
// (a struct with defaults that a JSON or YAML file and flags override), a seed and a backend.
//
// One call, [Experiment.Run], trains with GoMLX's training loop (ml/train), evaluates on the
// validation set after every epoch, keeps the best checkpoint by a chosen validation metric,
// evaluates that checkpoint on the test set, and writes a [Record] (config, seed, backend and
// device, git commit, loss per step, metrics per epoch, final metrics, wall time). Nobody copies
// a checkpoint path: the record names the best checkpoint and the final evaluation loads it.
//
// It answers the pains of the notes' "running experiments" topic:
//
//   - results that flip between runs: the seed fixes initialisation, dropout and the data
//     order, so the same seed on the same backend gives the same metrics, and
//     [Experiment.Repeat] reports mean ± std over seeds;
//   - hand-edited parameters: configs are values, saved with every run and hashed into its
//     directory name (<dir>/<experiment>/<config id>/seed-<n>), so a finished run is found
//     again, and skipped, by what it is;
//   - lost work: checkpoints are written atomically (temporary directory + rename) every few
//     steps and at each epoch end; a run killed with SIGKILL resumes from the last one and
//     ends with exactly the metrics of an uninterrupted run.
//
// Long work reports through a [Progress] callback in [Options] and stops promptly when its
// context.Context is cancelled (after the current step), saving a checkpoint first.
//
// Lessons register experiments by name ([Register]) so that `gostudy ablate` and
// `gostudy export` can find them.
package experiment
