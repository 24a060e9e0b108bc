package segkit

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/phantom"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/backend"
)

// TestSignedDistance compares the transform with a brute-force search on random masks, and
// checks the convention on a disk: +0.5/−0.5 across the margin.
func TestSignedDistance(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 17
	for trial := range 20 {
		mask := make([]uint8, n*n)
		p := []float64{0, 0.02, 0.3, 0.7, 1}[trial%5]
		for i := range mask {
			if r.Float64() < p {
				mask[i] = 1
			}
		}
		got := SignedDistance(mask, n)
		for i := range mask {
			best := math.Inf(1)
			for j := range mask {
				if (mask[j] != 0) != (mask[i] != 0) {
					best = math.Min(best, math.Hypot(float64(i%n-j%n), float64(i/n-j/n)))
				}
			}
			var want float64
			switch {
			case math.IsInf(best, 1) && mask[i] != 0:
				want = n
			case math.IsInf(best, 1):
				want = -n
			case mask[i] != 0:
				want = best - 0.5
			default:
				want = -(best - 0.5)
			}
			if math.Abs(float64(got[i])-want) > 1e-5 {
				t.Fatalf("trial %d pixel %d (mask %d): %g, want %g", trial, i, mask[i], got[i], want)
			}
		}
	}
}

// disk is a mask of the pixels whose centre lies within radius of (c, c).
func disk(n int, c, radius float64) []uint8 {
	m := make([]uint8, n*n)
	for y := range n {
		for x := range n {
			if math.Hypot(float64(x)+0.5-c, float64(y)+0.5-c) <= radius {
				m[y*n+x] = 1
			}
		}
	}
	return m
}

// TestBoundaryError: on a phantom, its own mask lies a fraction of a pixel from the true
// margin; a mask grown by 2 px lies about 2 px out; and a false blob far away is counted.
func TestBoundaryError(t *testing.T) {
	g := phantom.DefaultConfig()
	g.ProbNormal = 0
	samples, err := phantom.Generate(g, 6)
	if err != nil {
		t.Fatal(err)
	}
	var own, grown [][]uint8
	for _, s := range samples {
		own = append(own, s.Mask)
		m := make([]uint8, len(s.Mask))
		for i, d := range s.Distance {
			if d >= -2 {
				m[i] = 1
			}
		}
		grown = append(grown, m)
	}
	b, err := BoundaryError(own, samples)
	if err != nil {
		t.Fatal(err)
	}
	if b.Mean > 0.35 || b.Mean < 0.1 || b.Cracks == 0 {
		t.Errorf("the true mask's margin: %.3f px over %d cracks, want about a quarter pixel", b.Mean, b.Cracks)
	}
	b2, err := BoundaryError(grown, samples)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(b2.Mean-2) > 0.3 || math.Abs(b2.Near-2) > 0.3 || b2.Stray != 0 {
		t.Errorf("a mask grown by 2 px: %.3f px (near %.3f, stray %.3f), want about 2 with nothing stray", b2.Mean, b2.Near, b2.Stray)
	}
	// A false blob far from the lesions: its margin is stray, the lesions' placement unchanged.
	blob := slices.Clone(own[0])
	n := samples[0].Size
	for y := 2; y < 5; y++ {
		for x := 2; x < 5; x++ {
			if samples[0].Distance[y*n+x] < -10 {
				blob[y*n+x] = 1
			}
		}
	}
	b3, err := BoundaryError([][]uint8{blob}, samples[:1])
	if err != nil {
		t.Fatal(err)
	}
	b0, _ := BoundaryError(own[:1], samples[:1])
	if b3.Stray <= 0 || math.Abs(b3.Near-b0.Near) > 1e-9 || b3.Mean <= b0.Mean {
		t.Errorf("a far false blob: stray %g, near %g vs %g, mean %g vs %g", b3.Stray, b3.Near, b0.Near, b3.Mean, b0.Mean)
	}
	if _, err := BoundaryError([][]uint8{{1}}, samples[:1]); err == nil {
		t.Error("a mask of the wrong size was accepted")
	}
}

// TestLookalikes builds a sample with one spot and one band by hand and checks the region
// and the rates: a prediction that marks the spot only fools one of two look-alikes.
func TestLookalikes(t *testing.T) {
	const n = 32
	s := &phantom.Sample{Size: n, Distance: make([]float32, n*n), Mask: make([]uint8, n*n),
		Lookalikes: []phantom.Lookalike{{CX: 8, CY: 8, Radius: 3}, {Band: true, CX: 24, CY: 10, Radius: 2}}}
	for i := range s.Distance {
		s.Distance[i] = -n
	}
	region := LookalikeRegion(s)
	spot := disk(n, 8, 3*math.Pow(2*math.Ln2, 0.25))
	for y := range n {
		for x := range n {
			i := y*n + x
			inBand := math.Abs(float64(x)+0.5-24) < 2*math.Sqrt(math.Ln2) && float64(y)+0.5 >= 10
			if want := spot[i] != 0 || inBand; (region[i] != 0) != want {
				t.Fatalf("region at (%d,%d) = %d, want %v", x, y, region[i], want)
			}
		}
	}
	pred := make([]uint8, n*n)
	copy(pred, spot)
	pred[31*n] = 1 // one stray pixel elsewhere
	la, err := MeasureLookalikes([][]uint8{pred}, []*phantom.Sample{s})
	if err != nil {
		t.Fatal(err)
	}
	if la.Regions != 2 || la.Fooled != 0.5 || la.InsideRate <= 0.2 || la.BackgroundRate <= 0 || la.BackgroundRate > 0.01 {
		t.Errorf("%+v: want 2 regions, half fooled, a high inside rate and a tiny background rate", la)
	}
}

// TestDiceGraphMatchesGo feeds masks with known overlaps (and an all-empty pair) through the
// in-graph metric and compares with the Go measure.
func TestDiceGraphMatchesGo(t *testing.T) {
	b, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	const n = 12
	r := rand.New(rand.NewPCG(3, 4))
	var preds, gts [][]uint8
	logits := make([]float32, 0, 4*n*n)
	labels := make([]float32, 0, 4*n*n)
	for k := range 4 {
		p, g := make([]uint8, n*n), make([]uint8, n*n)
		for i := range p {
			if k < 3 && r.Float64() < 0.3 {
				p[i] = 1
			}
			if k < 2 && r.Float64() < 0.3 {
				g[i] = 1
			}
			logits = append(logits, float32(p[i])*4-2)
			labels = append(labels, float32(g[i]))
		}
		preds, gts = append(preds, p), append(gts, g)
	}
	samples := make([]*phantom.Sample, 4)
	for i := range samples {
		samples[i] = &phantom.Sample{Size: n, Mask: gts[i]}
	}
	want, err := Dice(preds, samples, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := model.MustNewExec(b, model.NewStore(), func(s *model.Scope, l, g *graph.Node) *graph.Node {
		return DiceGraph(s, []*graph.Node{g}, []*graph.Node{l})
	}).Call(tensors.FromFlatDataAndDimensions(logits, 4, n, n, 1), tensors.FromFlatDataAndDimensions(labels, 4, n, n, 1))
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float32](out[0])[0]
	mean := (want[0] + want[1] + want[2] + want[3]) / 4
	if want[2] != 0 || want[3] != 1 || math.Abs(float64(got)-mean) > 1e-6 {
		t.Errorf("graph Dice %g, Go per-image %v (mean %g); want a false lesion 0 and empty/empty 1", got, want, mean)
	}
}

// writeBUSI makes a tiny BUSI-layout folder: a square lesion per benign and malignant image,
// one normal image with an empty mask.
func writeBUSI(t *testing.T) string {
	root := t.TempDir()
	write := func(path string, img image.Image) {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
	}
	for _, class := range []string{"benign", "malignant", "normal"} {
		dir := filepath.Join(root, class)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for k := range 4 {
			img := image.NewGray(image.Rect(0, 0, 40, 40))
			mask := image.NewGray(image.Rect(0, 0, 40, 40))
			for y := range 40 {
				for x := range 40 {
					img.SetGray(x, y, color.Gray{Y: 150})
					if class != "normal" && x >= 10+k && x < 26 && y >= 12 && y < 28 {
						img.SetGray(x, y, color.Gray{Y: 40})
						mask.SetGray(x, y, color.Gray{Y: 255})
					}
				}
			}
			name := class + " (" + string(rune('1'+k)) + ")"
			write(filepath.Join(dir, name+".png"), img)
			write(filepath.Join(dir, name+"_mask.png"), mask)
		}
	}
	return root
}

// TestImagesBUSI runs the real-image path on a generated folder: splits of the asked sizes,
// samples whose maps agree with the masks, batches like the phantoms', and clear errors for a
// missing folder, a file given as the folder and a folder without BUSI's layout.
func TestImagesBUSI(t *testing.T) {
	root := writeBUSI(t)
	d := Images{Phantoms: lesson.Phantoms{ImageSize: 32, TrainSize: 100, ValSize: 2, TestSize: 3}, BUSI: root}
	tr, val, test, err := d.Splits()
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 7 || len(val) != 2 || len(test) != 3 {
		t.Errorf("splits %d/%d/%d of 12 images, want 7/2/3 (training takes what is left)", len(tr), len(val), len(test))
	}
	seen := map[int]bool{}
	for _, s := range append(append(tr, val...), test...) {
		if seen[s.Index] {
			t.Errorf("image %d in two splits", s.Index)
		}
		seen[s.Index] = true
		area := 0
		for i, m := range s.Mask {
			area += int(m)
			if (m != 0) != (s.Distance[i] > 0) || (m != 0) != (s.Soft[i] > 0.5) {
				t.Fatalf("image %d pixel %d: mask %d, distance %g, soft %g", s.Index, i, m, s.Distance[i], s.Soft[i])
			}
		}
		if (s.Class == phantom.Normal) != (area == 0) {
			t.Errorf("image %d (%s) has %d mask pixels", s.Index, s.Class, area)
		}
	}
	data, err := d.Data(4, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	for batch, err := range data.Train(0) {
		if err != nil {
			t.Fatal(err)
		}
		if len(batch.Labels) != 3 || batch.Inputs[0].Shape().Dimensions[1] != 32 {
			t.Errorf("batch: %s, %d labels", batch.Inputs[0].Shape(), len(batch.Labels))
		}
		break
	}
	file := filepath.Join(root, "benign", "benign (1).png")
	for _, c := range []struct{ folder, want string }{
		{filepath.Join(root, "missing"), "no such file"},
		{file, "is not a folder"},
		{filepath.Join(root, "benign"), "missing class folder"},
	} {
		bad := d
		bad.BUSI = c.folder
		_, _, _, err := bad.Splits()
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.folder) {
			t.Errorf("busi folder %s: error %v, want one that says %q", c.folder, err, c.want)
		}
	}
	tooSmall := d
	tooSmall.TestSize = 12
	if _, _, _, err := tooSmall.Splits(); err == nil || !strings.Contains(err.Error(), "too few") {
		t.Errorf("12 images for 12 test + 2 validation: %v", err)
	}
}
