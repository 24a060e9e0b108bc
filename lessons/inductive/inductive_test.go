package inductive

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/backend"
)

func TestForBudget(t *testing.T) {
	for _, b := range lesson.Budgets {
		c := ForBudget(b)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", b, err)
		}
		for _, a := range Archs {
			for _, n := range c.Sizes {
				r := c.At(a, n)
				if steps := r.Steps(r.BatchSize, r.Epochs); steps < c.Steps || steps > c.Steps+n/r.BatchSize {
					t.Errorf("%s %s at %d images: %d steps, want about %d", b, a, n, steps, c.Steps)
				}
				if r.MaxShift != 0 {
					t.Errorf("%s: shift augmentation %d would hide the translation bias", b, r.MaxShift)
				}
			}
		}
	}
	bad := ForBudget(lesson.Test)
	bad.Shifts = []int{1, 2}
	if bad.Validate() == nil {
		t.Error("shifts without 0 first accepted")
	}
}

// TestViTsDifferInTheStemOnly: the hybrid is lesson 02's ViT with the conv stem, nothing else.
func TestViTsDifferInTheStemOnly(t *testing.T) {
	c := ForBudget(lesson.Test)
	vit, hybrid := c.At(ArchViT, 500).ViT(), c.At(ArchHybrid, 500).ViT()
	if vit.Stem != "" || hybrid.Stem == "" {
		t.Fatalf("stems %q and %q", vit.Stem, hybrid.Stem)
	}
	hybrid.Stem = vit.Stem
	if hybrid != vit {
		t.Errorf("hybrid %+v differs from vit %+v beyond the stem", hybrid, vit)
	}
}

// TestShifted checks a shift by hand on a one-pixel image and the four directions' inverses.
func TestShifted(t *testing.T) {
	set := &mnist.Set{Pixels: make([]uint8, 2*mnist.Pixels), Labels: []uint8{3, 4}}
	set.Image(0)[5*mnist.Width+7] = 200 // row 5, column 7
	set.Image(1)[0] = 9                 // the top-left corner
	s, err := Shifted(set, 2, 2, -3)
	if err != nil {
		t.Fatal(err)
	}
	if s.Image(0)[2*mnist.Width+9] != 200 || countInk(s.Image(0)) != 1 {
		t.Error("the pixel at (5, 7) should move to (2, 9) and be the only ink")
	}
	if countInk(s.Image(1)) != 0 {
		t.Error("ink pushed past the top edge should be lost")
	}
	if !slices.Equal(s.Labels, set.Labels) {
		t.Errorf("labels %v", s.Labels)
	}
	back, _ := Shifted(s, 1, -2, 3)
	if !slices.Equal(back.Image(0), set.Image(0)) {
		t.Error("shifting back did not restore the image")
	}
	if _, err := Shifted(set, 3, 0, 0); err == nil {
		t.Error("more digits than the set accepted")
	}
}

func countInk(px []uint8) int {
	n := 0
	for _, v := range px {
		if v != 0 {
			n++
		}
	}
	return n
}

// TestShiftBias trains the ResNet and the ViT on the test budget's largest size and measures
// their accuracy under test-time shifts: both learn, and shifts of 1–4 pixels cost the ViT
// more than the ResNet on average (the convolutions' translation equivariance, pooled globally).
func TestShiftBias(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: training skipped")
	}
	b, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	c := ForBudget(lesson.Test)
	dir := t.TempDir()
	_, _, testSet, err := c.Run.Splits()
	if err != nil {
		t.Fatal(err)
	}
	drops := map[string]float64{}
	for _, a := range []string{ArchResNet, ArchViT} {
		tr, err := lesson.Train(context.Background(), Experiment, c.At(a, c.Sizes[len(c.Sizes)-1]), 0, lesson.Options{Dir: dir, Backend: b})
		if err != nil {
			t.Fatal(err)
		}
		pts, err := MeasureShift(context.Background(), b, tr.Store, tr.Config, testSet, c.ShiftImages, c.Shifts)
		tr.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: test accuracy %.4f, under shifts %v", a, tr.Accuracy(), pts)
		if pts[0].Acc < 0.6 {
			t.Errorf("%s: accuracy %.3f unshifted: did not learn", a, pts[0].Acc)
		}
		drops[a] = ShiftDrop(pts)
	}
	if drops[ArchViT] <= drops[ArchResNet] {
		t.Errorf("shifts of 1–4 pixels cost the ViT %.3f and the ResNet %.3f on average", drops[ArchViT], drops[ArchResNet])
	}
}

// TestEquivariance: a 3×3 convolution commutes with every shift (up to rounding); the 4×4
// patchify stem only with a shift of 4 pixels (one token), and is far from it at 1 to 3.
func TestEquivariance(t *testing.T) {
	b, testSet := backendAndTestDigits(t)
	rows, err := MeasureEquivariance(b, testSet, 8, []int{1, 2, 3, 4}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		t.Logf("%+v", r)
		if r.Conv > 1e-5 {
			t.Errorf("shift %d: conv off by %.2g", r.Shift, r.Conv)
		}
		if r.Shift == 4 && (r.Patch > 1e-5 || r.PatchMove != 1) {
			t.Errorf("shift 4: patchify off by %.2g at a move of %d tokens", r.Patch, r.PatchMove)
		}
		if r.Shift < 4 && r.Patch < 0.2 {
			t.Errorf("shift %d: patchify off by only %.2g", r.Shift, r.Patch)
		}
	}
}

// TestUniformity: at initialization, attention alone drives a deep ViT's tokens towards one
// vector (mean pairwise cosine near 1 after 8 blocks), and the skip connections keep them
// apart; a hand-made pair of tokens checks the cosine itself.
func TestUniformity(t *testing.T) {
	same := tensors.FromFlatDataAndDimensions([]float32{1, 0, 2, 0, 0, 1}, 1, 3, 2)
	if c, err := meanPairCosine(same); err != nil || math.Abs(c-1.0/3) > 1e-9 {
		t.Errorf("cosine of (1,0), (2,0), (0,1) = %v, want (1 + 0 + 0)/3; %v", c, err)
	}
	if testing.Short() {
		t.Skip("-short: four ViTs compiled")
	}
	b, testSet := backendAndTestDigits(t)
	x, _, err := lesson.Digits(testSet, 0, 8)
	if err != nil {
		t.Fatal(err)
	}
	v := ForBudget(lesson.Test).Run.ViT()
	v.Depth = 8
	us, err := MeasureUniformity(b, v, x, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]float64{}
	for _, u := range us {
		t.Logf("%-15s %.3f", u.Variant, u.Cosine)
		if len(u.Cosine) != v.Depth+1 {
			t.Fatalf("%s: %d values, want %d", u.Variant, len(u.Cosine), v.Depth+1)
		}
		last[u.Variant] = u.Cosine[v.Depth]
	}
	// Measured: without skips the tokens are one vector after two blocks, MLP or not; with
	// skips they stay about half-alike, MLP or not.
	if last[VariantAttention] < 0.9 || last[VariantNoSkip] < 0.9 || last[VariantFull] > 0.8 || last[VariantNoMLP] > 0.8 {
		t.Errorf("after %d blocks: %v", v.Depth, last)
	}
}

// backendAndTestDigits is the default backend and the test budget's test digits.
func backendAndTestDigits(t *testing.T) (compute.Backend, *mnist.Set) {
	t.Helper()
	b, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	_, _, testSet, err := ForBudget(lesson.Test).Run.Splits()
	if err != nil {
		t.Fatal(err)
	}
	return b, testSet
}

// TestSymmetry: with one projection for queries and keys the logits are symmetric (nothing
// is left once the softmax's row terms are fitted out), yet two tokens still weigh each other
// differently after the softmax — the notes' reason for Q, K, V is half right; with separate
// projections the logits themselves are asymmetric. A hand-made matrix checks the arithmetic.
func TestSymmetry(t *testing.T) {
	// Rows of softmax([[0, 1], [1, 0]]): symmetric logits, a symmetric matrix of weights.
	e := float32(1 / (1 + math.E))
	logit, weight, self := attentionSkew([]float32{e, 1 - e, 1 - e, e}, 1, 2)
	if logit > 1e-6 || weight > 1e-6 || math.Abs(self-float64(e)) > 1e-6 {
		t.Errorf("softmax rows of a symmetric 2×2: skews %g, %g, self-weight %g, want 0, 0, %g", logit, weight, self, e)
	}
	// Rows of softmax([[0, 2], [0, 0]]): logits skew by 2 between (0,1) and (1,0); with two
	// tokens all of it is a row term r_0 − r_1, so nothing is left.
	if l, _, _ := attentionSkew([]float32{float32(1 / (1 + math.Exp(2))), float32(1 / (1 + math.Exp(-2))), .5, .5}, 1, 2); l > 1e-6 {
		t.Errorf("two tokens: logit skew %g, want 0 (every 2×2 skew is a row term)", l)
	}
	if testing.Short() {
		t.Skip("-short: two ViTs compiled")
	}
	b, testSet := backendAndTestDigits(t)
	x, _, err := lesson.Digits(testSet, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Symmetry{}
	for _, a := range ForBudget(lesson.Test).QKArms() {
		store := model.NewStore()
		store.SetParam(model.ParamInitialSeed, int64(0))
		s, err := MeasureSymmetry(b, store, a.Config, a.Name, x)
		store.Finalize()
		if err != nil {
			t.Fatal(err)
		}
		t.Log(s)
		got[a.Name] = s
	}
	if s := got[VariantSharedQK]; s.LogitSkew > 1e-3 || s.WeightSkew < 0.01 {
		t.Errorf("shared key at init: %v, want logit skew ≈ 0 and weights that still differ", s)
	}
	if s := got[VariantQK]; s.LogitSkew < 0.01 {
		t.Errorf("Q·K at init: %v, want asymmetric logits", s)
	}
}
