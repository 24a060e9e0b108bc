package patchembed

import (
	"context"
	"fmt"

	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Trained is a finished run of the experiment: its record, its directory (what
// `gostudy export` takes) and its best checkpoint loaded in a Store.
type Trained struct {
	Config RunConfig
	Record *experiment.Record
	Dir    string
	// Store holds the best checkpoint (variables load as a graph asks for them); Close
	// releases it.
	Store *model.Store
}

// Accuracy is the run's test accuracy (its best checkpoint on the test images).
func (t *Trained) Accuracy() float64 { return t.Record.Final["acc"] }

// Close releases the store.
func (t *Trained) Close() {
	if t != nil && t.Store != nil {
		t.Store.Finalize()
		t.Store = nil
	}
}

// Train runs cfg with opts (train → best checkpoint → test, see experiment.Experiment.Run; a
// run already done under opts.Dir is not trained again) and loads its best checkpoint. When
// ctx is cancelled it returns the error, and the run resumes from its checkpoint next time.
func Train(ctx context.Context, cfg RunConfig, opts experiment.Options) (*Trained, error) {
	rec, err := Exp.Run(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	t := &Trained{Config: cfg, Record: rec, Dir: runDir(opts, rec)}
	if t.Store, err = LoadBest(t.Dir, rec); err != nil {
		return nil, err
	}
	return t, nil
}

func runDir(opts experiment.Options, rec *experiment.Record) string {
	root := opts.Dir
	if root == "" {
		root = "runs"
	}
	return experiment.RunDir(root, Name, rec.ConfigID, rec.Seed)
}

// LoadBest opens the best checkpoint of the run in dir (whose record is rec) in a new Store.
func LoadBest(dir string, rec *experiment.Record) (*model.Store, error) {
	run := &experiment.FinishedRun{Dir: dir, Record: rec, Experiment: Exp}
	if rec.Best == nil {
		return nil, fmt.Errorf("run %s has no best checkpoint", dir)
	}
	return run.LoadBest()
}

// Arm is one setting of an ablation: its test accuracy over seeds and its cost.
type Arm struct {
	Name     string
	Config   RunConfig
	Accuracy experiment.Stat // test accuracy, one value per seed (mean ± sample std)
	Params   int64
	MACs     int64 // per 28×28 image
	// Records and Dirs are the runs' records and directories, in seed order (LoadBest opens
	// one).
	Records []*experiment.Record
	Dirs    []string
}

// Compare trains each named config for seeds 0…seeds−1 (runs already done under opts.Dir are
// reused, so the main run counts as seed 0 of its arm) and returns each arm's test accuracy
// and cost. progress, when not nil, receives every run's events with the arm's name.
func Compare(ctx context.Context, names []string, cfgs []RunConfig, seeds int, opts experiment.Options,
	progress func(arm string, ev experiment.Event)) ([]Arm, error) {
	if len(names) != len(cfgs) {
		return nil, fmt.Errorf("compare: %d names for %d configs", len(names), len(cfgs))
	}
	costs, err := Costs(cfgs...)
	if err != nil {
		return nil, err
	}
	var arms []Arm
	for i, cfg := range cfgs {
		o := opts
		if progress != nil {
			name := names[i]
			o.Progress = func(ev experiment.Event) { progress(name, ev) }
		}
		sum, err := Exp.Repeat(ctx, cfg, experiment.Seeds(seeds, 0), o)
		if err != nil {
			return arms, fmt.Errorf("compare %s: %w", names[i], err)
		}
		arm := Arm{Name: names[i], Config: cfg, Accuracy: sum.Final["acc"],
			Params: costs[i].ModelParams, MACs: costs[i].ModelMACs, Records: sum.Records}
		for _, rec := range sum.Records {
			arm.Dirs = append(arm.Dirs, runDir(opts, rec))
		}
		arms = append(arms, arm)
	}
	return arms, nil
}

// ArmRow is an Arm as one table row.
type ArmRow struct {
	Arm      string
	Accuracy string // test accuracy, mean ± std over the seeds
	Seeds    int
	Params   int64
	MACs     int64
}

// Table turns arms into rows for display.
func Table(arms []Arm) []ArmRow {
	rows := make([]ArmRow, len(arms))
	for i, a := range arms {
		rows[i] = ArmRow{Arm: a.Name, Accuracy: fmt.Sprintf("%.2f ± %.2f %%", 100*a.Accuracy.Mean, 100*a.Accuracy.Std),
			Seeds: a.Accuracy.N(), Params: a.Params, MACs: a.MACs}
	}
	return rows
}
