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

// Uniformity is how alike a ViT's tokens are after each block: the mean cosine similarity
// over all pairs of distinct tokens of an image, averaged over images. 1 means every token is
// the same vector ("token uniformity", Dong et al., ICML 2021: pure attention loses rank
// doubly exponentially with depth; skip connections and MLPs counter it).
type Uniformity struct {
	Variant string
	// Cosine[0] is the tokens the first block sees, Cosine[i] after block i.
	Cosine []float64
}

// Uniformity variants: the block as timm builds it, without its skip connections, without
// its MLP, and without either (attention only).
const (
	VariantFull      = "skip + MLP"
	VariantNoSkip    = "no skip"
	VariantNoMLP     = "no MLP"
	VariantAttention = "attention only"
)

// MeasureUniformity measures [Uniformity] of the ViT v at initialization (seed) with each of
// [UniformityVariants]' blocks, on images [B, 28, 28, 1], on backend b.
func MeasureUniformity(b compute.Backend, v nn.ViTConfig, images *tensors.Tensor, seed int64) ([]Uniformity, error) {
	return lesson.Catch("measure token uniformity", func() ([]Uniformity, error) {
		var out []Uniformity
		for _, va := range UniformityVariants {
			cfg := v
			cfg.NoSkip, cfg.NoMLP = va.NoSkip, va.NoMLP
			store := model.NewStore()
			store.SetParam(model.ParamInitialSeed, seed)
			u, err := uniformityOf(b, store, cfg, images)
			store.Finalize()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", va.Name, err)
			}
			u.Variant = va.Name
			out = append(out, u)
		}
		return out, nil
	})
}

// TrainedUniformity measures [Uniformity] of a trained ViT run (its weights in store) on
// images [B, 28, 28, 1], named variant.
func TrainedUniformity(b compute.Backend, store *model.Store, cfg RunConfig, variant string, images *tensors.Tensor) (Uniformity, error) {
	return lesson.Catch("measure token uniformity of "+variant, func() (Uniformity, error) {
		u, err := uniformityOf(b, store, cfg.ViT(), images)
		u.Variant = variant
		return u, err
	})
}

// uniformityOf is the mean pairwise token cosine of the input tokens and of every block's
// output, for the ViT v with the variables in store.
func uniformityOf(b compute.Backend, store *model.Store, v nn.ViTConfig, images *tensors.Tensor) (Uniformity, error) {
	res, err := vitIntermediates(b, store, v, images, func(f nn.ViTOutput) []*graph.Node {
		return append([]*graph.Node{f.Tokens}, f.Blocks...)
	})
	if err != nil {
		return Uniformity{}, err
	}
	defer finalize(res)
	var u Uniformity
	for _, t := range res {
		c, err := meanPairCosine(t)
		if err != nil {
			return Uniformity{}, err
		}
		u.Cosine = append(u.Cosine, c)
	}
	return u, nil
}

// vitIntermediates runs the ViT v with the variables in store (created from its initial seed
// where missing) on images and returns the nodes pick chooses from its forward pass.
func vitIntermediates(b compute.Backend, store *model.Store, v nn.ViTConfig, images *tensors.Tensor,
	pick func(nn.ViTOutput) []*graph.Node) ([]*tensors.Tensor, error) {
	exec, err := model.NewExec(b, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
		f := nn.ViTForward(scope, x, v, nn.ViTOptions{})
		// Logits last: the pure-Go backend needs an output built after the last variable.
		return append(pick(f), f.Logits)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	res, err := exec.Call(images)
	if err != nil {
		return nil, err
	}
	res[len(res)-1].FinalizeAll()
	return res[:len(res)-1], nil
}

// finalize frees the tensors' memory now rather than at the next garbage collection.
func finalize(ts []*tensors.Tensor) {
	for _, t := range ts {
		t.FinalizeAll()
	}
}

// meanPairCosine is the mean cosine similarity over pairs of distinct tokens of tokens
// [B, T, D], averaged over the batch.
func meanPairCosine(t *tensors.Tensor) (float64, error) {
	d := t.Shape().Dimensions
	if len(d) != 3 || d[1] < 2 {
		return 0, fmt.Errorf("tokens shaped %v, want [B, T ≥ 2, D]", d)
	}
	v, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return 0, err
	}
	bn, tn, dn := d[0], d[1], d[2]
	unit := make([]float64, len(v))
	for i := range bn * tn {
		row, n := v[i*dn:(i+1)*dn], 0.0
		for _, x := range row {
			n += float64(x) * float64(x)
		}
		n = math.Sqrt(n) + 1e-12
		for j, x := range row {
			unit[i*dn+j] = float64(x) / n
		}
	}
	total := 0.0
	for bi := range bn {
		sum := 0.0
		for i := range tn {
			for j := i + 1; j < tn; j++ {
				dot := 0.0
				a, c := unit[(bi*tn+i)*dn:], unit[(bi*tn+j)*dn:]
				for k := range dn {
					dot += a[k] * c[k]
				}
				sum += dot
			}
		}
		total += sum / float64(tn*(tn-1)/2)
	}
	return total / float64(bn), nil
}
