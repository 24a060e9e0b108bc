package phantom

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gostudy/gostudy/datasets/imgproc"
)

func gen(t *testing.T, c Config, n int) []*Sample {
	t.Helper()
	s, err := Generate(c, n)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDeterministicBySeedAndIndex(t *testing.T) {
	c := DefaultConfig()
	c.Seed = 11
	all := gen(t, c, 8)
	for i, s := range all {
		one, err := c.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(one.Image, s.Image) || !slices.Equal(one.Mask, s.Mask) || !slices.Equal(one.Boundary, s.Boundary) {
			t.Fatalf("sample %d differs between Generate and Sample", i)
		}
	}
	c2 := c
	c2.Seed = 12
	other, _ := c2.Sample(3)
	if slices.Equal(other.Image, all[3].Image) {
		t.Fatal("different seeds gave the same image")
	}
	if slices.Equal(all[3].Image, all[4].Image) {
		t.Fatal("different indices gave the same image")
	}
}

func TestShapesAndRanges(t *testing.T) {
	for _, size := range []int{16, 64, 96} {
		c := DefaultConfig()
		c.Size = size
		c.ProbNormal = 0
		for _, s := range gen(t, c, 6) {
			n := size * size
			if len(s.Image) != n || len(s.Echo) != n || len(s.Soft) != n || len(s.Distance) != n || len(s.Mask) != n || len(s.Boundary) != n {
				t.Fatalf("size %d: map lengths wrong", size)
			}
			if lo, hi := slices.Min(s.Image), slices.Max(s.Image); lo < 0 || hi > 1 {
				t.Fatalf("size %d: image range [%g, %g]", size, lo, hi)
			}
			for i := range s.Mask {
				if s.Mask[i] > 1 || s.Boundary[i] > 1 {
					t.Fatal("mask or boundary not 0/1")
				}
				if (s.Soft[i] >= 0.5) != (s.Mask[i] == 1) || (s.Distance[i] >= 0) != (s.Mask[i] == 1) {
					t.Fatal("mask is not Soft >= 0.5 and Distance >= 0")
				}
			}
			if imgproc.Area(s.Mask) == 0 || imgproc.Area(s.Boundary) == 0 {
				t.Fatalf("size %d sample %d: empty mask or boundary with ProbNormal 0", size, s.Index)
			}
		}
	}
}

// TestRayleighSpeckle checks that the speckle amplitude is Rayleigh: on a
// homogeneous region mean²/mean-of-squares is π/4 = 0.785 (an exponential
// amplitude would give 0.5, a constant 1), the mean/std ratio is
// √(π/(4−π)) = 1.913, and the CDF matches 1 − exp(−π a²/(4 m²)).
func TestRayleighSpeckle(t *testing.T) {
	c := DefaultConfig()
	c.Homogeneous = true
	var s1, s2 float64
	var all []float64
	for _, s := range gen(t, c, 10) {
		for _, v := range s.Image {
			s1 += float64(v)
			s2 += float64(v) * float64(v)
			all = append(all, float64(v))
		}
	}
	n := float64(len(all))
	m, ms := s1/n, s2/n
	ratio := m * m / ms
	snr := m / math.Sqrt(ms-m*m)
	t.Logf("homogeneous: mean %.4f, mean²/mean(I²) %.4f (π/4 = %.4f), mean/std %.3f (1.913)", m, ratio, math.Pi/4, snr)
	if math.Abs(ratio-math.Pi/4) > 0.01 {
		t.Errorf("mean²/mean(I²) = %.4f, want π/4 ± 0.01", ratio)
	}
	if math.Abs(snr-1.913) > 0.05 {
		t.Errorf("mean/std = %.3f, want 1.913 ± 0.05", snr)
	}
	if math.Abs(m-c.HomogeneousLevel) > 0.01 {
		t.Errorf("mean amplitude %.4f, want the level %.2f", m, c.HomogeneousLevel)
	}
	sort.Float64s(all)
	for _, q := range []float64{0.1, 0.25, 0.5, 0.75, 0.9, 0.99} {
		a := all[int(q*n)]
		cdf := 1 - math.Exp(-math.Pi*a*a/(4*m*m))
		if math.Abs(cdf-q) > 0.015 {
			t.Errorf("quantile %.2f: Rayleigh CDF at %.4f is %.4f", q, a, cdf)
		}
	}

	// In full phantoms the speckle is multiplicative: Image/Echo is the same
	// Rayleigh field wherever clipping does not bite.
	s1, s2, n = 0, 0, 0
	for _, s := range gen(t, DefaultConfig(), 10) {
		for i, e := range s.Echo {
			if e > 0.02 && e < 0.5 {
				v := float64(s.Image[i]) / float64(e)
				s1 += v
				s2 += v * v
				n++
			}
		}
	}
	ratio = (s1 / n) * (s1 / n) / (s2 / n)
	t.Logf("full phantoms: Image/Echo mean %.4f, mean²/mean-square %.4f", s1/n, ratio)
	if math.Abs(ratio-math.Pi/4) > 0.01 || math.Abs(s1/n-1) > 0.02 {
		t.Errorf("Image/Echo: mean %.4f (want 1), ratio %.4f (want π/4)", s1/n, ratio)
	}
}

// TestLesionContrast checks the documented contrast: the core/ring mean
// ratio measured on the speckled image has its median in [0.22, 0.34] and
// 90% of lesions in [0.12, 0.6]; on the noise-free echo it follows the
// drawn contrast (correlation > 0.8).
func TestLesionContrast(t *testing.T) {
	c := DefaultConfig()
	var img, drawn, echo []float64
	for _, s := range gen(t, c, 200) {
		for k, l := range s.Lesions {
			a, e, _, _, err := s.LesionContrast(k)
			if err != nil {
				continue // a tiny lesion without a 0.9 core
			}
			img = append(img, a)
			echo = append(echo, e)
			drawn = append(drawn, l.Contrast)
		}
	}
	if len(img) < 150 {
		t.Fatalf("only %d lesions measured", len(img))
	}
	sorted := append([]float64(nil), img...)
	sort.Float64s(sorted)
	med := sorted[len(sorted)/2]
	p5, p95 := sorted[len(sorted)/20], sorted[len(sorted)*19/20]
	corr := pearson(echo, drawn)
	t.Logf("%d lesions: image contrast p5 %.3f median %.3f p95 %.3f; corr(echo contrast, drawn) %.3f", len(img), p5, med, p95, corr)
	if med < 0.22 || med > 0.34 {
		t.Errorf("median contrast %.3f outside [0.22, 0.34]", med)
	}
	if p5 < 0.12 || p95 > 0.6 {
		t.Errorf("5-95%% range [%.3f, %.3f] outside [0.12, 0.6]", p5, p95)
	}
	if corr < 0.8 {
		t.Errorf("echo contrast correlates %.3f with the drawn one", corr)
	}
}

func pearson(a, b []float64) float64 {
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var sab, saa, sbb float64
	for i := range a {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	return sab / math.Sqrt(saa*sbb)
}

// TestPosteriorEffects compares the echo behind a lesion with the echo at
// the same depths beside it.
func TestPosteriorEffects(t *testing.T) {
	c := DefaultConfig()
	c.ProbLookalike, c.ProbLigamentShadow, c.MaxLesions = 0, 0, 1
	var shadow, plain, enh []float64
	for _, s := range gen(t, c, 300) {
		if len(s.Lesions) != 1 {
			continue
		}
		l := s.Lesions[0]
		n := s.Size
		top := int(l.CY + 1.2*math.Max(l.A, l.B) + 2)
		bot := min(top+6, n)
		if bot-top < 3 {
			continue
		}
		var behind, beside float64
		var nb, ns int
		for y := top; y < bot; y++ {
			for x := range n {
				dx := math.Abs(float64(x) + 0.5 - l.CX)
				switch {
				case dx < 0.3*math.Min(l.A, l.B):
					behind += float64(s.Echo[y*n+x])
					nb++
				case dx > 1.5*math.Max(l.A, l.B)+3:
					beside += float64(s.Echo[y*n+x])
					ns++
				}
			}
		}
		if nb == 0 || ns < 10 {
			continue
		}
		r := (behind / float64(nb)) / (beside / float64(ns))
		switch {
		case l.Shadow > 0:
			shadow = append(shadow, r/(1-l.Shadow))
		case l.Enhancement > 0:
			enh = append(enh, r/(1+l.Enhancement))
		default:
			plain = append(plain, r)
		}
	}
	ms, mp, me := mean(shadow), mean(plain), mean(enh)
	t.Logf("behind/beside echo, divided by the drawn effect: shadowed %.3f (n=%d), enhanced %.3f (n=%d), plain %.3f (n=%d)",
		ms, len(shadow), me, len(enh), mp, len(plain))
	for name, v := range map[string]float64{"shadowed": ms, "enhanced": me, "plain": mp} {
		if math.Abs(v-1) > 0.12 {
			t.Errorf("%s lesions: corrected behind/beside ratio %.3f, want 1 ± 0.12", name, v)
		}
	}
	if len(shadow) < 20 || len(plain) < 20 || len(enh) < 10 {
		t.Errorf("too few lesions of a kind: %d %d %d", len(shadow), len(plain), len(enh))
	}
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// TestAttenuation checks exp(−α·depth/size) inside the glandular layer of
// lesion-free phantoms.
func TestAttenuation(t *testing.T) {
	c := DefaultConfig()
	c.ProbNormal, c.ProbLookalike, c.ProbLigamentShadow = 1, 0, 0
	var errs []float64
	for _, s := range gen(t, c, 40) {
		n := s.Size
		row := func(y0 int) float64 {
			var v float64
			for y := y0; y < y0+4; y++ {
				for x := range n {
					v += float64(s.Echo[y*n+x])
				}
			}
			return v
		}
		y1, y2 := int(0.34*float64(n)), int(0.62*float64(n))
		got := row(y2) / row(y1)
		want := math.Exp(-s.Attenuation * float64(y2-y1) / float64(n))
		errs = append(errs, got/want-1)
	}
	t.Logf("deep/shallow gland echo over expected attenuation − 1: mean %.3f", mean(errs))
	if math.Abs(mean(errs)) > 0.03 {
		t.Errorf("mean relative error %.3f", mean(errs))
	}
}

func TestLookalikesAreDarkButNotLesions(t *testing.T) {
	c := DefaultConfig()
	c.ProbLookalike = 1
	spots := 0
	for _, s := range gen(t, c, 60) {
		n := s.Size
		for _, la := range s.Lookalikes {
			if la.Band {
				continue
			}
			spots++
			x, y := int(la.CX), int(la.CY)
			if s.Mask[y*n+x] != 0 || s.Soft[y*n+x] > 0.05 {
				t.Fatalf("sample %d: look-alike at (%d,%d) is in the mask", s.Index, x, y)
			}
			// Its centre is darker than tissue 2.5 radii away at the same depth.
			var ring float64
			cnt := 0
			for _, dx := range []float64{-2.5, 2.5} {
				xx := int(la.CX + dx*la.Radius)
				if xx >= 0 && xx < n && s.Soft[y*n+xx] < 0.05 {
					ring += float64(s.Echo[y*n+xx])
					cnt++
				}
			}
			if cnt > 0 && float64(s.Echo[y*n+x])/(ring/float64(cnt)) > 0.8 {
				t.Errorf("sample %d: look-alike centre not dark (%.3f vs %.3f)", s.Index, s.Echo[y*n+x], ring/float64(cnt))
			}
		}
	}
	if spots < 60 {
		t.Errorf("only %d look-alike spots in 60 images with ProbLookalike 1", spots)
	}
}

func TestClassFrequencies(t *testing.T) {
	c := DefaultConfig()
	var counts [3]int
	irregular, lesions := 0, 0
	for _, s := range gen(t, c, 400) {
		counts[s.Class]++
		for _, l := range s.Lesions {
			lesions++
			if l.Irregular {
				irregular++
			}
		}
		if (s.Class == Normal) != (len(s.Lesions) == 0) {
			t.Fatal("class and lesion count disagree")
		}
	}
	pn := float64(counts[Normal]) / 400
	if math.Abs(pn-c.ProbNormal) > 4*math.Sqrt(c.ProbNormal*(1-c.ProbNormal)/400) {
		t.Errorf("normal fraction %.3f, want %.2f", pn, c.ProbNormal)
	}
	pi := float64(irregular) / float64(lesions)
	if math.Abs(pi-c.ProbIrregular) > 4*math.Sqrt(c.ProbIrregular*(1-c.ProbIrregular)/float64(lesions)) {
		t.Errorf("irregular fraction %.3f, want %.2f", pi, c.ProbIrregular)
	}
	t.Logf("classes normal/benign/malignant: %v", counts)
}

// TestScaleInvariance: the same (seed, index) at 128² is the 64² phantom
// enlarged, so lesions cover the same fraction of the image (up to
// pixelization).
func TestScaleInvariance(t *testing.T) {
	frac := func(size int) float64 {
		c := DefaultConfig()
		c.Size = size
		var f float64
		ss := gen(t, c, 60)
		for _, s := range ss {
			f += float64(imgproc.Area(s.Mask)) / float64(size*size)
		}
		return f / float64(len(ss))
	}
	f64, f128 := frac(64), frac(128)
	t.Logf("mean lesion area fraction: 64² %.4f, 128² %.4f", f64, f128)
	if math.Abs(f128/f64-1) > 0.03 {
		t.Errorf("area fraction changes with size: %.4f vs %.4f", f64, f128)
	}
}

func TestEdges(t *testing.T) {
	// A digital disk of radius 10: the Canny contour is thin (an 8-connected
	// digital circle has about 5.7 r pixels, a 4-connected one 8 r) and lies
	// in the morphological band.
	n := 40
	disk := make([]uint8, n*n)
	for y := range n {
		for x := range n {
			if math.Hypot(float64(x)-19.5, float64(y)-19.5) <= 10 {
				disk[y*n+x] = 1
			}
		}
	}
	canny := Edges(disk, n, EdgeCanny)
	band := Edges(disk, n, EdgeMorph)
	nc, nb := imgproc.Area(canny), imgproc.Area(band)
	t.Logf("disk r=10: Canny %d px, morphological band %d px", nc, nb)
	if nc < 55 || nc > 82 {
		t.Errorf("Canny contour of a r=10 disk has %d px, want 55..82 (between 8- and 4-connected circles)", nc)
	}
	if nb < 2*nc-20 || nb > 2*nc+40 {
		t.Errorf("morph band %d px, want about twice the contour", nb)
	}
	labels, sizes := imgproc.Components(canny, n, n)
	_ = labels
	if len(sizes) != 1 {
		t.Errorf("Canny contour of a disk has %d pieces", len(sizes))
	}

	// On phantoms: every Canny pixel lies in the band, and the Canny contour
	// comes within one pixel of 99% of the mask's inner boundary pixels.
	var inBand, edges, covered, inner int
	for _, s := range gen(t, DefaultConfig(), 40) {
		sz := s.Size
		b := Edges(s.Mask, sz, EdgeMorph)
		near := imgproc.Dilate(s.Boundary, sz, sz, math.Sqrt2)
		er := imgproc.Erode(s.Mask, sz, sz, 1)
		for i := range s.Mask {
			if s.Boundary[i] == 1 {
				edges++
				if b[i] == 1 {
					inBand++
				}
			}
			if s.Mask[i] == 1 && er[i] == 0 {
				inner++
				if near[i] == 1 {
					covered++
				}
			}
		}
	}
	t.Logf("phantoms: Canny in band %d/%d, inner boundary within 1 px %d/%d", inBand, edges, covered, inner)
	if inBand != edges {
		t.Errorf("%d Canny pixels outside the morphological band", edges-inBand)
	}
	if float64(covered) < 0.99*float64(inner) {
		t.Errorf("Canny covers %.3f of the inner boundary", float64(covered)/float64(inner))
	}

	c := DefaultConfig()
	c.Edge = EdgeMorph
	s, _ := c.Sample(0)
	if !slices.Equal(s.Boundary, imgproc.MorphGradient(s.Mask, s.Size, s.Size)) {
		t.Error("EdgeMorph config did not give the morphological gradient")
	}
}

func TestValidate(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"Size":     func(c *Config) { c.Size = 8 },
		"Prob":     func(c *Config) { c.ProbShadow = 1.5 },
		"Radius":   func(c *Config) { c.RadiusMin, c.RadiusMax = 0.2, 0.1 },
		"Contrast": func(c *Config) { c.ContrastMax = 2 },
	} {
		c := DefaultConfig()
		mod(&c)
		_, err := c.Sample(0)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v should name the field", name, err)
		}
	}
}

func TestSourceBatchAndFlips(t *testing.T) {
	c := DefaultConfig()
	c.ProbNormal = 0
	samples := gen(t, c, 6)
	src := &Source{Samples: samples, Augment: Augment{FlipH: true}}
	flipped := 0
	for trial := range 3 {
		b, err := src.Batch([]int{0, 1, 2, 3, 4, 5}, rand.New(rand.NewPCG(uint64(trial), 7)))
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Inputs) != 1 || len(b.Labels) != 3 {
			t.Fatalf("batch has %d inputs, %d labels", len(b.Inputs), len(b.Labels))
		}
		for _, x := range []*tensors.Tensor{b.Inputs[0], b.Labels[0], b.Labels[1]} {
			if !slices.Equal(x.Shape().Dimensions, []int{6, 64, 64, 1}) {
				t.Fatalf("dims %v", x.Shape().Dimensions)
			}
		}
		imgs := tensors.MustCopyFlatData[float32](b.Inputs[0])
		masks := tensors.MustCopyFlatData[float32](b.Labels[0])
		classes := tensors.MustCopyFlatData[int32](b.Labels[2])
		for k, s := range samples {
			n := s.Size
			img := imgs[k*n*n : (k+1)*n*n]
			mk := masks[k*n*n : (k+1)*n*n]
			mir := append([]float32(nil), s.Image...)
			imgproc.FlipH(mir, n, n, 1)
			mm := make([]float32, n*n)
			for i, v := range s.Mask {
				mm[i] = float32(v)
			}
			orig := append([]float32(nil), mm...)
			imgproc.FlipH(mm, n, n, 1)
			switch {
			case slices.Equal(img, s.Image):
				if !slices.Equal(mk, orig) {
					t.Fatalf("sample %d: image kept, mask changed", k)
				}
			case slices.Equal(img, mir):
				flipped++
				if !slices.Equal(mk, mm) {
					t.Fatalf("sample %d: image flipped, mask not", k)
				}
			default:
				t.Fatalf("sample %d: image is neither original nor mirrored", k)
			}
			if classes[k] != int32(s.Class) {
				t.Fatalf("class label %d, sample says %d", classes[k], s.Class)
			}
		}
	}
	// Binomial(18, 1/2): 3..15 holds with probability 0.999.
	if flipped < 3 || flipped > 15 {
		t.Errorf("%d of 18 flipped", flipped)
	}
	ds, err := NewDataset(c, 20, 8, Augment{FlipH: true, MaxShift: 2})
	if err != nil {
		t.Fatal(err)
	}
	nb := 0
	for batch, err := range ds.Iter() {
		if err != nil {
			t.Fatal(err)
		}
		nb++
		_ = batch.Finalize()
	}
	if nb != 2 {
		t.Errorf("20 phantoms in batches of 8 with DropRemainder gave %d batches", nb)
	}
}

// BenchmarkSample64 measures generating one 64×64 phantom (one goroutine).
func BenchmarkSample64(b *testing.B) {
	c := DefaultConfig()
	for i := 0; b.Loop(); i++ {
		if _, err := c.Sample(i); err != nil {
			b.Fatal(err)
		}
	}
}
