package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
)

// TestSegmentationLosses checks BCE, Dice and their sum against float64 loops, at ordinary
// logits and at logits of ±60 (where a naive log(σ) overflows), with soft targets.
func TestSegmentationLosses(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	const n = 2 * 5 * 6
	logits := make([]float64, n)
	target := make([]float64, n)
	for i := range logits {
		logits[i] = 8 * (r.Float64() - 0.5)
		target[i] = float64(r.IntN(2))
		if i%7 == 0 {
			target[i] = r.Float64() // soft targets (deep supervision's averaged masks)
		}
	}
	logits[0], logits[1] = 60, -60
	var bce, inter, sp, st float64
	for i, l := range logits {
		p := 1 / (1 + math.Exp(-l))
		// log σ(l) = −log(1+e^−l), log(1−σ(l)) = −log(1+e^l), each computed where it does not overflow.
		logP := -math.Log1p(math.Exp(-math.Abs(l))) + math.Min(l, 0)
		log1mP := -math.Log1p(math.Exp(-math.Abs(l))) - math.Max(l, 0)
		bce -= target[i]*logP + (1-target[i])*log1mP
		inter += p * target[i]
		sp += p
		st += target[i]
	}
	bce /= n
	dice := 1 - (2*inter+DiceSmooth)/(sp+st+DiceSmooth)
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		out := runModel(t, b, model.NewStore(), func(_ *model.Scope, l, g *graph.Node) (*graph.Node, *graph.Node, *graph.Node) {
			return BCEWithLogits(l, g), DiceLoss(l, g), BCEDiceLoss(l, g)
		}, fromFlat64(logits, 2, 5, 6, 1), fromFlat64(target, 2, 5, 6, 1))
		got := []float64{flat(out[0])[0], flat(out[1])[0], flat(out[2])[0]}
		want := []float64{bce, dice, bce + dice}
		for i, name := range []string{"BCE", "Dice loss", "BCE + Dice"} {
			if math.Abs(got[i]-want[i]) > 1e-5*math.Max(1, math.Abs(want[i])) || math.IsNaN(got[i]) {
				t.Errorf("%s = %.7g, want %.7g", name, got[i], want[i])
			}
		}
	})
	// Limits: a perfect prediction has Dice loss ≈ 0, the inverted one ≈ 1.
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		mask := []float64{1, 1, 0, 0, 1, 0}
		perfect, inverted := make([]float64, 6), make([]float64, 6)
		for i, m := range mask {
			perfect[i], inverted[i] = 40*(2*m-1), -40*(2*m-1)
		}
		out := runModel(t, b, model.NewStore(), func(_ *model.Scope, a, c, g *graph.Node) (*graph.Node, *graph.Node) {
			return DiceLoss(a, g), DiceLoss(c, g)
		}, fromFlat64(perfect, 1, 6), fromFlat64(inverted, 1, 6), fromFlat64(mask, 1, 6))
		if p, q := flat(out[0])[0], flat(out[1])[0]; p > 1e-6 || math.Abs(q-(1-1.0/(6+1))) > 1e-5 {
			t.Errorf("Dice loss: perfect %g (want 0), inverted %g (want 1 − ε/(Σp+Σt+ε) = %g)", p, q, 1-1.0/7)
		}
	})
}

// TestUNetNoSkips checks the switch: without skips the decoder's first convs take only the
// upsampled map (half the input channels), and the forward pass equals a hand-built decoder
// that never sees the encoder's finer maps.
func TestUNetNoSkips(t *testing.T) {
	b := goBackend(t)
	cfg := UNetConfig{InChannels: 1, NumClasses: 1, Base: 4, Levels: 3}
	noSkips := cfg
	noSkips.NoSkips = true
	for _, c := range []struct {
		cfg     UNetConfig
		inChans int
	}{{cfg, 8}, {noSkips, 4}} {
		store := model.NewStore()
		if _, err := Build(b, store, UNet(c.cfg), shapes.Make(dtypes.Float32, 1, 16, 16, 1)); err != nil {
			t.Fatal(err)
		}
		w := store.GetVariable("/dec/0/conv1/weight")
		if w == nil {
			t.Fatal("no dec.0.conv1.weight")
		}
		if got := w.Shape().Dimensions; got[1] != c.inChans {
			t.Errorf("NoSkips=%v: dec.0.conv1 takes %d channels, want %d (skip %d + upsampled %d)", c.cfg.NoSkips, got[1], c.inChans, 4, 4)
		}
	}
	x := randTensor(rand.New(rand.NewPCG(33, 34)), 1, 8, 8, 1)
	nntest.ForEachBackend(t, func(t *testing.T, bk nntest.Backend) {
		store := model.NewStore()
		out := runModel(t, bk, store, func(s *model.Scope, x *graph.Node) (*graph.Node, *graph.Node) {
			lib := UNetForward(s, x, UNetConfig{InChannels: 1, NumClasses: 1, Base: 4, Levels: 2, NoSkips: true}).Logits
			// At: the library visited these scopes already; the hand-built forward reads the same variables.
			enc := s.At("enc")
			e := DoubleConv(enc.In("0"), x, 4)
			e = DoubleConv(enc.In("1"), AvgPool2d(e, 2, 2, 0, true), 8)
			u := Conv2d(s.At("up").In("0"), UpsampleNearest2x(e), Conv2dConfig{Out: 4, Kernel: 3, Padding: 1})
			hand := Conv2d(s.At("head"), DoubleConv(s.At("dec").In("0"), u, 4), Conv2dConfig{Out: 1, Kernel: 1, Bias: true})
			return lib, hand
		}, x)
		nntest.AssertClose(t, "NoSkips = decoder on the upsampled map only", out[0], out[1], 0)
	})
}
