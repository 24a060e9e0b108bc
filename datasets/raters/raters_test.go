package raters

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gostudy/gostudy/datasets/imgproc"
	"github.com/gostudy/gostudy/datasets/phantom"
)

func samples(t *testing.T, n int) []*phantom.Sample {
	t.Helper()
	s, err := phantom.Generate(phantom.DefaultConfig(), n)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBiasesRecovered labels 120 phantoms with raters of known bias and
// recovers each bias from the labels alone.
func TestBiasesRecovered(t *testing.T) {
	ss := samples(t, 120)
	panel := append(DefaultPanel(64),
		Rater{Name: "grow1", Grow: 1},
		Rater{Name: "erode2", Grow: -2},
		Rater{Name: "loose", LevelShift: -0.3},
	)
	set, err := NewSet(ss, panel, AllRaters, 1)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Bias{}
	for r, rater := range panel {
		b, err := Measure(set.RaterLabels(r), ss)
		if err != nil {
			t.Fatal(err)
		}
		got[rater.Name] = b
		t.Logf("%-13s area ratio %.3f offset %+.2f px dice %.3f miss rate %.3f (missed ≤ %d px, traced ≥ %d px)",
			rater.Name, b.AreaRatio, b.Offset, b.Dice, b.MissRate, b.MissedMaxArea, b.TracedMinArea)
	}
	if b := got["exact"]; b.AreaRatio != 1 || b.Dice != 1 || b.Offset != 0 || b.MissRate != 0 {
		t.Errorf("exact rater: %+v", b)
	}
	// Grow is recovered as the boundary offset within 0.3 px.
	for _, r := range panel {
		if r.LevelShift != 0 || r.MissBelow != 0 || r.Grow == 0 {
			continue
		}
		if b := got[r.Name]; math.Abs(b.Offset-r.Grow) > 0.3 {
			t.Errorf("%s: offset %.2f px, rater grows %.2f px", r.Name, b.Offset, r.Grow)
		}
	}
	// A level shift moves the margin by −w·logit(0.5+shift), w the margin
	// blur: predicted from the lesions' parameters, weighted by size.
	for _, name := range []string{"cautious", "loose"} {
		var r Rater
		for _, x := range panel {
			if x.Name == name {
				r = x
			}
		}
		L := 0.5 + r.LevelShift
		var num, den float64
		for _, s := range ss {
			for _, l := range s.Lesions {
				num += l.Radius() * l.Blur * math.Log(L/(1-L))
				den += l.Radius()
			}
		}
		want := -num / den
		if b := got[name]; math.Abs(b.Offset-want) > 0.3 {
			t.Errorf("%s: offset %.2f px, level shift predicts %.2f px", name, b.Offset, want)
		}
	}
	// Area ratios order as the biases do.
	order := []string{"erode2", "cautious", "tight", "exact", "grow1", "loose", "generous"}
	for i := 1; i < len(order); i++ {
		if got[order[i-1]].AreaRatio >= got[order[i]].AreaRatio {
			t.Errorf("area ratio of %s (%.3f) not below %s (%.3f)", order[i-1], got[order[i-1]].AreaRatio, order[i], got[order[i]].AreaRatio)
		}
	}
	// The missed-lesion threshold is bracketed by the measured areas, and
	// nothing else changes.
	ms := got["misses-small"]
	thr := DefaultPanel(64)[4].MissBelow
	if !(ms.MissedMaxArea < thr && thr <= ms.TracedMinArea) || ms.MissRate == 0 {
		t.Errorf("misses-small: missed up to %d px, traced from %d px; threshold %d", ms.MissedMaxArea, ms.TracedMinArea, thr)
	}
	for i, s := range ss {
		lab := set.Labels[i][4]
		for k := range lab {
			if lab[k] == 1 && s.Mask[k] == 0 {
				t.Fatalf("misses-small drew a pixel outside the ground truth in sample %d", i)
			}
		}
	}
}

func TestOneRaterPerImage(t *testing.T) {
	ss := samples(t, 150)
	panel := DefaultPanel(64)
	a, err := NewSet(ss, panel, OneRaterPerImage, 5)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSet(ss, panel, OneRaterPerImage, 5)
	c, _ := NewSet(ss, panel, OneRaterPerImage, 6)
	if a.Len() != 150 || !slices.Equal(a.Pairs, b.Pairs) || slices.Equal(a.Pairs, c.Pairs) {
		t.Fatal("assignment not deterministic by seed")
	}
	counts := make([]int, len(panel))
	for i, p := range a.Pairs {
		if p[0] != i {
			t.Fatal("pairs out of sample order")
		}
		counts[p[1]]++
	}
	// Uniform over 5 raters: 30 each, binomial sd 4.9.
	for r, n := range counts {
		if math.Abs(float64(n)-30) > 4*4.9 {
			t.Errorf("rater %d labels %d of 150 images", r, n)
		}
	}
	all, _ := NewSet(ss[:10], panel, AllRaters, 0)
	if all.Len() != 50 {
		t.Errorf("AllRaters: %d pairs for 10 images × 5 raters", all.Len())
	}
	if only := all.ForRaters(2); only.Len() != 10 {
		t.Errorf("ForRaters(2): %d pairs", only.Len())
	}
}

func TestBatch(t *testing.T) {
	ss := samples(t, 4)
	set, err := NewSet(ss, DefaultPanel(64), AllRaters, 0)
	if err != nil {
		t.Fatal(err)
	}
	idx := []int{0, 6, 13, 19} // (0,0) (1,1) (2,3) (3,4)
	b, err := set.Batch(idx, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Inputs[0].Shape().Dimensions, []int{4, 64, 64, 1}) ||
		!slices.Equal(b.Inputs[1].Shape().Dimensions, []int{4}) ||
		!slices.Equal(b.Labels[0].Shape().Dimensions, []int{4, 64, 64, 1}) {
		t.Fatalf("shapes %v %v %v", b.Inputs[0].Shape(), b.Inputs[1].Shape(), b.Labels[0].Shape())
	}
	ids := tensors.MustCopyFlatData[int32](b.Inputs[1])
	if !slices.Equal(ids, []int32{0, 1, 3, 4}) {
		t.Errorf("rater ids %v", ids)
	}
	masks := tensors.MustCopyFlatData[float32](b.Labels[0])
	for k, i := range idx {
		p := set.Pairs[i]
		want := set.Labels[p[0]][p[1]]
		for j := range want {
			if masks[k*4096+j] != float32(want[j]) {
				t.Fatalf("example %d: mask differs from rater %d's label", k, p[1])
			}
		}
	}
	if _, err := (Rater{LevelShift: 0.6}).Label(ss[0]); err == nil {
		t.Error("LevelShift 0.6 should be rejected")
	}
	if a := imgproc.Area(set.Labels[0][1]); a <= imgproc.Area(ss[0].Mask) && imgproc.Area(ss[0].Mask) > 0 {
		t.Errorf("generous rater traced %d px, ground truth %d", a, imgproc.Area(ss[0].Mask))
	}
}

// TestLevelShiftWithoutGeometry: a sample without lesion geometry (a real image) whose Soft is
// a one-pixel logistic of its signed distance is cut where a lesion of blur 1 would be.
func TestLevelShiftWithoutGeometry(t *testing.T) {
	g := phantom.DefaultConfig()
	g.ProbNormal, g.MaxLesions = 0, 1
	samples, err := phantom.Generate(g, 6)
	if err != nil {
		t.Fatal(err)
	}
	r := Rater{Name: "cautious, grown", LevelShift: 0.3, Grow: 0.5}
	for _, s := range samples {
		s.Lesions[0].Blur = 1
		want, err := r.Label(s)
		if err != nil {
			t.Fatal(err)
		}
		bare := *s
		bare.Lesions = nil
		bare.Soft = make([]float32, len(s.Distance))
		for i, d := range s.Distance {
			bare.Soft[i] = float32(1 / (1 + math.Exp(-float64(d))))
		}
		got, err := r.Label(&bare)
		if err != nil {
			t.Fatal(err)
		}
		diff := 0
		for i := range got {
			if got[i] != want[i] {
				diff++
			}
		}
		if diff > 2 { // float32 rounding of Soft near the cut
			t.Errorf("sample %d: %d pixels differ from the geometric cut", s.Index, diff)
		}
	}
}
