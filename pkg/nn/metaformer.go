package nn

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// This file: the token mixers of MetaFormer (Yu et al. 2022, "MetaFormer is Actually What You
// Need for Vision", and "MetaFormer Baselines for Vision", 2023): the block keeps its skeleton —
// norm → token mixer → residual, norm → MLP → residual — and only the mixer changes.
// PoolFormerBlock takes one of them through PoolFormerBlockConfig.TokenMixer.

// Token mixers of a MetaFormer block.
const (
	// MixerPooling is PoolFormer's pool(x) − x (PoolingMixer), the default.
	MixerPooling = "pooling"
	// MixerIdentity mixes nothing: the block's first half adds the normalised input to
	// itself (IdentityFormer in "MetaFormer Baselines").
	MixerIdentity = "identity"
	// MixerDepthwise is a depthwise conv (one k×k filter per channel, with bias, k =
	// PoolSize): pooling with learned weights. Variables: "token_mixer/conv" (weight [C, 1, k, k],
	// bias [C]).
	MixerDepthwise = "dwconv"
	// MixerAttention is global multi-head self-attention over the H·W tokens (heads of 32
	// channels, at least one; no position embedding, as in MetaFormer's attention baseline).
	// Variables: "token_mixer/qkv", "token_mixer/proj" (nn.Attention).
	MixerAttention = "attention"
	// MixerSpatialMLP is one learned matrix over positions, shared by the channels:
	// y[p, c] = Σ_q W[p, q]·x[q, c] + b[p], W of size (H·W)² — MLP-Mixer's token mixing reduced
	// to one linear layer, fixed to the training resolution. Variables: "token_mixer/fc"
	// (weight [HW, HW], bias [HW]).
	MixerSpatialMLP = "spatialmlp"
)

// TokenMixers lists the mixers, PoolFormer's first.
var TokenMixers = []string{MixerPooling, MixerIdentity, MixerDepthwise, MixerAttention, MixerSpatialMLP}

// ValidateTokenMixer reports an unknown mixer name ("" means pooling).
func ValidateTokenMixer(name string) error {
	if name == "" || slices.Contains(TokenMixers, name) {
		return nil
	}
	return fmt.Errorf("token mixer %q: want one of %v", name, TokenMixers)
}

// TokenMixer applies the named mixer to a normalised map x [B, H, W, C]; scope is the block's
// "token_mixer". poolSize is the pooling window and the depthwise kernel (0: 3).
func TokenMixer(scope *model.Scope, x *graph.Node, name string, poolSize int) *graph.Node {
	if poolSize == 0 {
		poolSize = 3
	}
	d := x.Shape().Dimensions
	b, h, w, c := d[0], d[1], d[2], d[3]
	switch name {
	case "", MixerPooling:
		return PoolingMixer(x, poolSize)
	case MixerIdentity:
		return x
	case MixerDepthwise:
		return Conv2d(scope.In("conv"), x, Conv2dConfig{Out: c, Kernel: poolSize, Padding: poolSize / 2, Groups: c, Bias: true})
	case MixerAttention:
		heads := max(1, c/32)
		y := Attention(scope, graph.Reshape(x, b, h*w, c), AttentionConfig{NumHeads: heads, QKVBias: false})
		return graph.Reshape(y, b, h, w, c)
	case MixerSpatialMLP:
		t := graph.Transpose(graph.Reshape(x, b, h*w, c), 1, 2) // [B, C, HW]: positions last
		y := Linear(scope.In("fc"), t, h*w, true)
		return graph.Reshape(graph.Transpose(y, 1, 2), b, h, w, c)
	}
	exceptions.Panicf("nn.TokenMixer(%s): %v", scope.Scope(), ValidateTokenMixer(name))
	return nil
}
