package dropout

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// This file: dropout on a network — the same op applied to activations inside the lesson's
// trained residual network.

// Images returns images first, first+1, ... of set as a standardized [n, 28, 28, 1] batch and
// their labels.
func Images(set *mnist.Set, first, n int) (*tensors.Tensor, []int32, error) {
	if first < 0 || n <= 0 || first+n > set.Len() {
		return nil, nil, fmt.Errorf("images %d..%d of a set of %d", first, first+n, set.Len())
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = first + i
	}
	src := &mnist.Source{Set: set}
	x, y, err := src.Flat(idx, nil)
	if err != nil {
		return nil, nil, err
	}
	return tensors.FromFlatDataAndDimensions(x, n, mnist.Height, mnist.Width, 1), y, nil
}

// Trained is a finished run of the lesson's experiment, loaded for inspection: its config,
// record and best checkpoint's variables.
type Trained struct {
	Config NetConfig
	Record *experiment.Record
	Dir    string
	Store  *model.Store
}

// LoadTrained opens the finished run of cfg and seed under the runs root dir and loads its
// best checkpoint. Close it when done.
func LoadTrained(dir string, cfg NetConfig, seed int64) (*Trained, error) {
	id, err := experiment.ConfigID(cfg)
	if err != nil {
		return nil, err
	}
	runDir := experiment.RunDir(dir, ExperimentName, id, seed)
	run, err := experiment.OpenRun(runDir)
	if err != nil {
		return nil, fmt.Errorf("load trained network: %w", err)
	}
	store, err := run.LoadBest()
	if err != nil {
		return nil, fmt.Errorf("load trained network: %w", err)
	}
	return &Trained{Config: cfg, Record: run.Record, Dir: runDir, Store: store}, nil
}

// Close releases the variables.
func (t *Trained) Close() {
	if t != nil && t.Store != nil {
		t.Store.Finalize()
		t.Store = nil
	}
}

// Stages is what [StageMaps] computes for a batch of images.
type Stages struct {
	// Names are "stem", "layer1", ...; Eval holds the feature maps [B, H, W, C] after each, in
	// evaluation mode (the deterministic network), and Dropped the same maps with the drops in
	// training mode (BatchNorm still in evaluation mode), for the first draw.
	Names         []string
	Eval, Dropped []*tensors.Tensor
	// HiddenEval is the head's hidden layer [B, Hidden] in evaluation mode, and HiddenDropped
	// the same layer after its Dropout in training mode, one tensor per draw: the units one
	// training step of the network would keep (scaled by 1/(1−p)) or zero.
	HiddenEval    *tensors.Tensor
	HiddenDropped []*tensors.Tensor
}

// StageMaps runs images [B, 28, 28, 1] through the network in evaluation mode and, draws times,
// with the drop operations in training mode. store may be a fresh, seeded Store (the network
// at initialization) or a [Trained] one.
func StageMaps(backend compute.Backend, store *model.Store, cfg NetConfig, images *tensors.Tensor, draws int) (st *Stages, err error) {
	defer recoverGraph(&err, "stage feature maps")
	draws = max(draws, 1)
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
		_, evalFeats, evalSites := withSites(scope.ResetVisited(), cfg, x, false)
		_, dropFeats, dropSites := withSites(scope.ResetVisited(), cfg, x, true)
		outs := append(evalFeats, dropFeats...)
		return append(outs, evalSites[len(evalSites)-1].After, dropSites[len(dropSites)-1].After)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	st = &Stages{Names: []string{"stem"}}
	for s := range cfg.Depths {
		st.Names = append(st.Names, fmt.Sprintf("layer%d", s+1))
	}
	n := len(st.Names)
	for d := range draws {
		outs, err := exec.Exec(images)
		if err != nil {
			return nil, err
		}
		if d == 0 {
			st.Eval, st.Dropped, st.HiddenEval = outs[:n], outs[n:2*n], outs[2*n]
		}
		st.HiddenDropped = append(st.HiddenDropped, outs[2*n+1])
	}
	return st, nil
}

// SiteRow is one drop site of the network, measured over many training-mode draws.
type SiteRow struct {
	Site string
	Kind string
	P    float64
	// OpRatio is E[Σ|after|] / E[Σ|before|] at the site: the op's own property (1 with the
	// factor, 1−p without), now on activations inside the network.
	OpRatio float64
	// VsEval is E_draws[Σ|after|] / Σ|eval|: the expected training-mode activation at the site
	// over the deterministic evaluation-mode one. At the first site the input is the same in
	// both modes, so this is OpRatio; deeper, earlier drops pass through nonlinear layers,
	// E[f(x)] ≠ f(E[x]), and the match is only approximate.
	VsEval float64
	// MeanAbsEval is the mean |activation| at the site in evaluation mode (for scale).
	MeanAbsEval float64
}

// MCResult is the trained network run draws times with its drops in training mode, compared
// with the deterministic evaluation-mode network.
type MCResult struct {
	Rescale bool
	Sites   []SiteRow
	// DrawAcc is the mean accuracy of single training-mode passes (one mask each); MCAcc the
	// accuracy of the softmax averaged over all draws (Monte-Carlo dropout). Agreement is the
	// fraction of images where the MC average and the evaluation network predict the same
	// digit.
	DrawAcc, MCAcc, Agreement float64
	// LogitRelGap is mean |E_draws[logits] − eval logits| / mean |eval logits|.
	LogitRelGap float64
}

// InNetwork is [MeasureInNetwork]'s result: the evaluation-mode accuracy, and the drops run
// with the 1/(1−p) factor (as trained) and without it (what forgetting it does).
type InNetwork struct {
	Images, Draws   int
	EvalAcc         float64
	Rescaled, Naive MCResult
}

// MeasureInNetwork applies the trained network's drops in training mode (BatchNorm in eval
// mode) to images draws times and compares with the evaluation-mode network, per drop site
// and for the predictions; once with the 1/(1−p) factor (what pkg/nn's Dropout does, and
// what the lesson's network is trained with), once without it on the same weights. One graph holds the three networks (they share the
// variables), so it is compiled once.
func MeasureInNetwork(backend compute.Backend, tr *Trained, images *tensors.Tensor, labels []int32, draws int, seed int64) (res *InNetwork, err error) {
	defer recoverGraph(&err, "measure dropout in the network")
	if err := tr.Store.SetRNGStateFromSeed(seed); err != nil {
		return nil, err
	}
	b := images.Shape().Dimensions[0]
	if len(labels) != b {
		return nil, fmt.Errorf("measure in network: %d labels for %d images", len(labels), b)
	}
	rescaledCfg, naiveCfg := tr.Config, tr.Config
	rescaledCfg.NoRescale, naiveCfg.NoRescale = false, true
	// Outputs: per network, the logits and, per site with p > 0, Σ before, Σ after, mean |after|.
	var sites []dropSite
	exec, err := model.NewExec(backend, tr.Store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
		var outs []*graph.Node
		sites = sites[:0]
		for k, net := range []struct {
			cfg      NetConfig
			dropOnly bool
		}{{tr.Config, false}, {rescaledCfg, true}, {naiveCfg, true}} {
			logits, _, all := withSites(scope.ResetVisited(), net.cfg, x, net.dropOnly)
			outs = append(outs, logits)
			for _, s := range all {
				if s.P == 0 {
					continue
				}
				if k == 0 {
					sites = append(sites, s)
				}
				// Sums of magnitudes: a mask m ≥ 0 scales |x| exactly as it scales x, and a
				// drop path's branch output is signed (it is added before the ReLU), where plain
				// sums would cancel and make the ratio noisy.
				outs = append(outs, graph.ReduceAllSum(graph.Abs(s.Before)), graph.ReduceAllSum(graph.Abs(s.After)),
					graph.ReduceAllMean(graph.Abs(s.After)))
			}
		}
		return outs
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	if _, err := exec.Compile(images.Shape()); err != nil {
		return nil, err
	}
	if len(sites) == 0 {
		return nil, fmt.Errorf("measure in network: the network has no drop with p > 0 (dropout %g, branch %g, drop_path %g)",
			tr.Config.Dropout, tr.Config.BranchDropout, tr.Config.DropPath)
	}
	per := 1 + 3*len(sites) // outputs per network
	scalar := func(t *tensors.Tensor) float64 { return float64(tensors.ToScalar[float32](t)) }

	res = &InNetwork{Images: b, Draws: draws}
	type mcAcc struct {
		before, after     []float64
		probSum, logitSum []float64
		drawCorrect       int
	}
	accs := [2]*mcAcc{}
	for k := range accs {
		accs[k] = &mcAcc{before: make([]float64, len(sites)), after: make([]float64, len(sites)),
			probSum: make([]float64, b*10), logitSum: make([]float64, b*10)}
	}
	var evalLogits []float32
	evalAfter := make([]float64, len(sites))
	for d := range draws {
		outs, err := exec.Exec(images)
		if err != nil {
			return nil, fmt.Errorf("draw %d: %w", d, err)
		}
		if d == 0 {
			evalLogits = tensors.MustCopyFlatData[float32](outs[0])
			for i := range sites {
				evalAfter[i] = scalar(outs[2+3*i])
			}
			res.Rescaled.Sites = make([]SiteRow, len(sites))
			res.Naive.Sites = make([]SiteRow, len(sites))
			for i, s := range sites {
				row := SiteRow{Site: s.Name, Kind: s.Kind, P: s.P, MeanAbsEval: scalar(outs[3+3*i])}
				res.Rescaled.Sites[i], res.Naive.Sites[i] = row, row
			}
		}
		for k, a := range accs {
			base := per * (k + 1)
			logits := tensors.MustCopyFlatData[float32](outs[base])
			for i := range sites {
				a.before[i] += scalar(outs[base+1+3*i])
				a.after[i] += scalar(outs[base+2+3*i])
			}
			for j := range b {
				row := logits[j*10 : (j+1)*10]
				if argmax(row) == int(labels[j]) {
					a.drawCorrect++
				}
				for c, p := range softmax(row) {
					a.probSum[j*10+c] += p
					a.logitSum[j*10+c] += float64(row[c])
				}
			}
		}
		for _, o := range outs {
			o.FinalizeAll()
		}
	}
	evalCorrect := 0
	for j := range b {
		if argmax(evalLogits[j*10:(j+1)*10]) == int(labels[j]) {
			evalCorrect++
		}
	}
	res.EvalAcc = float64(evalCorrect) / float64(b)
	for k, out := range []*MCResult{&res.Rescaled, &res.Naive} {
		a := accs[k]
		out.Rescale = k == 0
		for i := range sites {
			out.Sites[i].OpRatio = a.after[i] / a.before[i]
			out.Sites[i].VsEval = a.after[i] / float64(draws) / evalAfter[i]
		}
		mcCorrect, agree := 0, 0
		gap, scale := 0.0, 0.0
		for j := range b {
			e := argmax(evalLogits[j*10 : (j+1)*10])
			m := argmax(a.probSum[j*10 : (j+1)*10])
			if m == int(labels[j]) {
				mcCorrect++
			}
			if e == m {
				agree++
			}
			for c := range 10 {
				gap += math.Abs(a.logitSum[j*10+c]/float64(draws) - float64(evalLogits[j*10+c]))
				scale += math.Abs(float64(evalLogits[j*10+c]))
			}
		}
		out.MCAcc = float64(mcCorrect) / float64(b)
		out.DrawAcc = float64(a.drawCorrect) / float64(b*draws)
		out.Agreement = float64(agree) / float64(b)
		out.LogitRelGap = gap / scale
	}
	return res, nil
}

// argmax is the index of v's first largest element.
func argmax[T float32 | float64](v []T) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

func softmax(v []float32) []float64 {
	m := float64(v[argmax(v)])
	out := make([]float64, len(v))
	s := 0.0
	for i, x := range v {
		out[i] = math.Exp(float64(x) - m)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}
