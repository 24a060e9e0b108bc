package dropout

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
)

// This file: dropout on a network — the same op applied to activations inside the lesson's
// trained residual network.

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
func StageMaps(backend compute.Backend, store *model.Store, cfg RunConfig, images *tensors.Tensor, draws int) (*Stages, error) {
	return lesson.Catch("stage feature maps", func() (*Stages, error) { return stageMaps(backend, store, cfg, images, draws) })
}

func stageMaps(backend compute.Backend, store *model.Store, cfg RunConfig, images *tensors.Tensor, draws int) (st *Stages, err error) {
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
	// OpRatio is E[Σ|after|] / E[Σ|before|] at the site in training mode: the op's own
	// property (1 inverted, 1−p for original and none), now on activations inside the network.
	OpRatio float64
	// VsEval is E_draws[Σ|after| in training mode] / Σ|after| in evaluation mode: whether the
	// expected training-mode activation is what evaluation computes (1 for inverted and
	// original, 1−p for none). At the first site the input is the same in both modes, so this
	// is exact up to sampling; deeper, earlier drops pass through nonlinear layers,
	// E[f(x)] ≠ f(E[x]), and the match is only approximate.
	VsEval float64
	// MeanAbsEval is the mean |activation| after the site in evaluation mode (for scale).
	MeanAbsEval float64
}

// InNetwork is what [MeasureInNetwork] found: the network in evaluation mode against the same
// network run Draws times with its drops in training mode (BatchNorm in evaluation mode).
type InNetwork struct {
	Scaling       string
	Images, Draws int
	Sites         []SiteRow
	// EvalAcc is the evaluation-mode accuracy; DrawAcc the mean accuracy of single
	// training-mode passes (one mask each, a "thinned" network); MCAcc the accuracy of the
	// softmax averaged over all draws (Monte-Carlo dropout). Agreement is the fraction of
	// images where the MC average and the evaluation network predict the same digit.
	EvalAcc, DrawAcc, MCAcc, Agreement float64
	// LogitRelGap is mean |E_draws[logits] − eval logits| / mean |eval logits|.
	LogitRelGap float64
}

// MeasureInNetwork runs images through the network of cfg (its drops applied in cfg.Scaling's
// convention) with the variables of store, once in evaluation mode and draws times with only
// the drops in training mode, as PyTorch's model.eval() followed by re-enabling the dropout
// modules, and compares the two per drop site and for the predictions. Giving a trained
// store another Scaling evaluates the same weights in another convention. One graph holds both
// networks (they share the variables), so it is compiled once.
func MeasureInNetwork(backend compute.Backend, store *model.Store, cfg RunConfig, images *tensors.Tensor, labels []int32, draws int,
	seed int64) (*InNetwork, error) {
	return lesson.Catch("measure dropout in the network", func() (*InNetwork, error) {
		return measureInNetwork(backend, store, cfg, images, labels, draws, seed)
	})
}

func measureInNetwork(backend compute.Backend, store *model.Store, cfg RunConfig, images *tensors.Tensor, labels []int32, draws int,
	seed int64) (*InNetwork, error) {
	if err := store.SetRNGStateFromSeed(seed); err != nil {
		return nil, err
	}
	b := images.Shape().Dimensions[0]
	if len(labels) != b || draws < 1 {
		return nil, fmt.Errorf("measure in network: %d labels for %d images, %d draws", len(labels), b, draws)
	}
	// Outputs: eval logits, then per site with p > 0 Σ|after| and mean |after| in evaluation
	// mode; training-mode logits, then per site Σ|before| and Σ|after|.
	var sites []dropSite
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
		sites = sites[:0]
		evalLogits, _, evalSites := withSites(scope.ResetVisited(), cfg, x, false)
		dropLogits, _, dropSites := withSites(scope.ResetVisited(), cfg, x, true)
		outs := []*graph.Node{evalLogits}
		for _, s := range evalSites {
			if s.P > 0 {
				sites = append(sites, s)
				outs = append(outs, graph.ReduceAllSum(graph.Abs(s.After)), graph.ReduceAllMean(graph.Abs(s.After)))
			}
		}
		outs = append(outs, dropLogits)
		for _, s := range dropSites {
			if s.P > 0 {
				// Sums of magnitudes: a mask m ≥ 0 scales |x| exactly as it scales x, and a drop
				// path's branch is signed (it is added before the ReLU), where plain sums would
				// cancel and make the ratio noisy.
				outs = append(outs, graph.ReduceAllSum(graph.Abs(s.Before)), graph.ReduceAllSum(graph.Abs(s.After)))
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
		return nil, fmt.Errorf("measure in network: the network has no drop with p > 0 (%+v)", cfg)
	}
	n := len(sites)
	scalar := func(t *tensors.Tensor) float64 { return float64(tensors.ToScalar[float32](t)) }
	res := &InNetwork{Scaling: cfg.Scaling, Images: b, Draws: draws, Sites: make([]SiteRow, n)}
	before, after := make([]float64, n), make([]float64, n)
	evalAfter := make([]float64, n)
	probSum, logitSum := make([]float64, b*10), make([]float64, b*10)
	var evalLogits []float32
	drawCorrect := 0
	for d := range draws {
		outs, err := exec.Exec(images)
		if err != nil {
			return nil, fmt.Errorf("draw %d: %w", d, err)
		}
		if d == 0 {
			evalLogits = tensors.MustCopyFlatData[float32](outs[0])
			for i, s := range sites {
				evalAfter[i] = scalar(outs[1+2*i])
				res.Sites[i] = SiteRow{Site: s.Name, Kind: s.Kind, P: s.P, MeanAbsEval: scalar(outs[2+2*i])}
			}
		}
		base := 1 + 2*n
		logits := tensors.MustCopyFlatData[float32](outs[base])
		for i := range sites {
			before[i] += scalar(outs[base+1+2*i])
			after[i] += scalar(outs[base+2+2*i])
		}
		for j := range b {
			row := logits[j*10 : (j+1)*10]
			if lesson.Argmax(row) == int(labels[j]) {
				drawCorrect++
			}
			for c, p := range softmax(row) {
				probSum[j*10+c] += p
				logitSum[j*10+c] += float64(row[c])
			}
		}
		for _, o := range outs {
			o.FinalizeAll()
		}
	}
	for i := range sites {
		res.Sites[i].OpRatio = after[i] / before[i]
		res.Sites[i].VsEval = after[i] / float64(draws) / evalAfter[i]
	}
	evalCorrect, mcCorrect, agree := 0, 0, 0
	gap, scale := 0.0, 0.0
	for j := range b {
		e := lesson.Argmax(evalLogits[j*10 : (j+1)*10])
		m := lesson.Argmax(probSum[j*10 : (j+1)*10])
		if e == int(labels[j]) {
			evalCorrect++
		}
		if m == int(labels[j]) {
			mcCorrect++
		}
		if e == m {
			agree++
		}
		for c := range 10 {
			gap += math.Abs(logitSum[j*10+c]/float64(draws) - float64(evalLogits[j*10+c]))
			scale += math.Abs(float64(evalLogits[j*10+c]))
		}
	}
	res.EvalAcc = float64(evalCorrect) / float64(b)
	res.MCAcc = float64(mcCorrect) / float64(b)
	res.DrawAcc = float64(drawCorrect) / float64(b*draws)
	res.Agreement = float64(agree) / float64(b)
	res.LogitRelGap = gap / scale
	return res, nil
}

func softmax(v []float32) []float64 {
	m := float64(v[lesson.Argmax(v)])
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
