package inductive

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/nn"
)

// The attention variants of section 5.
const (
	// VariantQK is timm's attention: queries and keys from two projections, logits Q·Kᵀ.
	VariantQK = "Q·K"
	// VariantSharedQK uses one projection for both (k = q): the logits Q·Qᵀ are symmetric,
	// the "K, V instead of Q, K, V" the notes weigh.
	VariantSharedQK = "shared key"
)

// Symmetry describes a ViT's attention probabilities A (rows: queries), averaged over
// images, heads and blocks.
type Symmetry struct {
	Variant string `display:"attention"`
	// LogitSkew is how asymmetric the logits L are beyond what the row-wise softmax explains:
	// log A_ij − log A_ji = (L_ij − L_ji) − (s_i − s_j) with s_i row i's log-sum-exp, so the
	// terms of the form r_i − r_j are fitted out (least squares: r_i is the row mean) and the
	// root mean square of what is left is reported, in logit units. Symmetric logits leave 0.
	LogitSkew float64 `display:"logit skew (RMS);format=%.3g"`
	// WeightSkew is the mean |A_ij − A_ji| over pairs of distinct tokens, relative to the
	// mean weight 1/T: how differently two tokens weigh each other after the softmax.
	WeightSkew float64 `display:"weight skew |A_ij − A_ji| / mean;format=%.3f"`
	// SelfWeight is the mean weight a token gives itself, A_ii, against 1/T for uniform rows.
	SelfWeight float64 `display:"self-weight A_ii;format=%.3f"`
}

// MeasureSymmetry is [Symmetry] of the ViT of cfg with the variables in store (a trained run,
// or a fresh store seeded for initialization), on images [B, 28, 28, 1], named variant.
func MeasureSymmetry(b compute.Backend, store *model.Store, cfg RunConfig, variant string, images *tensors.Tensor) (Symmetry, error) {
	return lesson.Catch("measure attention symmetry of "+variant, func() (Symmetry, error) {
		res, err := vitIntermediates(b, store, cfg.ViT(), images, func(f nn.ViTOutput) []*graph.Node { return f.Attn })
		if err != nil {
			return Symmetry{}, err
		}
		defer finalize(res)
		s := Symmetry{Variant: variant}
		for _, t := range res {
			d := t.Shape().Dimensions // [B, heads, T, T]
			a, err := tensors.CopyFlatData[float32](t)
			if err != nil {
				return Symmetry{}, err
			}
			logit, weight, self := attentionSkew(a, d[0]*d[1], d[2])
			s.LogitSkew += logit / float64(len(res))
			s.WeightSkew += weight / float64(len(res))
			s.SelfWeight += self / float64(len(res))
		}
		return s, nil
	})
}

// attentionSkew averages [Symmetry]'s three numbers over m row-stochastic T×T matrices
// stored one after another in a.
func attentionSkew(a []float32, m, n int) (logit, weight, self float64) {
	skew := make([]float64, n*n)
	r := make([]float64, n)
	for k := range m {
		at := func(i, j int) float64 { return float64(a[k*n*n+i*n+j]) }
		for i := range n {
			r[i] = 0
			for j := range n {
				// Softmax outputs are > 0 in exact arithmetic; float32 can round a tiny weight to 0.
				skew[i*n+j] = math.Log(max(at(i, j), 1e-30)) - math.Log(max(at(j, i), 1e-30))
				r[i] += skew[i*n+j] / float64(n)
			}
		}
		sq, diff := 0.0, 0.0
		for i := range n {
			self += at(i, i) / float64(m*n)
			for j := range n {
				if i == j {
					continue
				}
				e := skew[i*n+j] - (r[i] - r[j])
				sq += e * e
				diff += math.Abs(at(i, j) - at(j, i))
			}
		}
		pairs := float64(n * (n - 1))
		logit += math.Sqrt(sq/pairs) / float64(m)
		weight += diff / pairs * float64(n) / float64(m) // relative to the mean weight 1/n
	}
	return logit, weight, self
}

// String is the symmetry in one line.
func (s Symmetry) String() string {
	return fmt.Sprintf("%s: logit skew %.3g, weight skew %.3f, self-weight %.3f", s.Variant, s.LogitSkew, s.WeightSkew, s.SelfWeight)
}
