package busi

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
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

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gostudy/gostudy/datasets/batching"
	"github.com/gostudy/gostudy/datasets/imgproc"
)

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := imgproc.WritePNG(path, img); err != nil {
		t.Fatal(err)
	}
}

// rgb returns a w×h RGB image whose left half has luma `left` and right half
// luma `right` (gray colors, as BUSI's RGB files are).
func rgb(w, h int, left, right uint8) *image.RGBA {
	im := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := right
			if x < w/2 {
				v = left
			}
			im.Set(x, y, color.RGBA{v, v, v, 255})
		}
	}
	return im
}

// rectMask is a w×h mask set on columns [x0, x1).
func rectMask(w, h, x0, x1 int) *image.Gray {
	im := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := x0; x < x1; x++ {
			im.Pix[y*im.Stride+x] = 255
		}
	}
	return im
}

// makeTree writes a small BUSI-like tree and returns its root.
func makeTree(t *testing.T) string {
	root := t.TempDir()
	w, h := 80, 60
	b := filepath.Join(root, "benign")
	writePNG(t, filepath.Join(b, "benign (1).png"), rgb(w, h, 255, 0))
	writePNG(t, filepath.Join(b, "benign (1)_mask.png"), rectMask(w, h, 0, 40))
	writePNG(t, filepath.Join(b, "benign (1)_mask_1.png"), rectMask(w, h, 60, 80))
	for _, n := range []string{"benign (2)", "benign (10)"} {
		writePNG(t, filepath.Join(b, n+".png"), rgb(w, h, 200, 200))
		writePNG(t, filepath.Join(b, n+"_mask.png"), rectMask(w, h, 20, 60))
	}
	m := filepath.Join(root, "malignant")
	g16 := image.NewGray16(image.Rect(0, 0, 50, 100)) // another pixel format, non-square
	for i := range g16.Pix {
		g16.Pix[i] = 0x80
	}
	writePNG(t, filepath.Join(m, "malignant (1).png"), g16)
	writePNG(t, filepath.Join(m, "malignant (1)_mask.png"), rectMask(50, 100, 0, 25))
	n := filepath.Join(root, "normal")
	writePNG(t, filepath.Join(n, "normal (1).png"), rgb(w, h, 100, 100))
	writePNG(t, filepath.Join(n, "normal (1)_mask.png"), image.NewGray(image.Rect(0, 0, w, h)))
	// Stray files are ignored.
	_ = os.WriteFile(filepath.Join(n, "Thumbs.db"), []byte("x"), 0o644)
	_ = os.WriteFile(filepath.Join(n, ".DS_Store"), []byte("x"), 0o644)
	return root
}

func TestLoad(t *testing.T) {
	root := makeTree(t)
	set, err := Load(root, Options{Size: 32})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range set.Examples {
		names = append(names, e.Name)
		if len(e.Image) != 32*32 || len(e.Mask) != 32*32 {
			t.Fatalf("%s: sizes %d %d", e.Name, len(e.Image), len(e.Mask))
		}
		if lo, hi := slices.Min(e.Image), slices.Max(e.Image); lo < 0 || hi > 1 {
			t.Fatalf("%s: range [%g, %g]", e.Name, lo, hi)
		}
	}
	want := []string{"benign (1)", "benign (2)", "benign (10)", "malignant (1)", "normal (1)"}
	if !slices.Equal(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
	if got := set.ClassCounts(); got != [NumClasses]int{1, 3, 1} {
		t.Errorf("class counts (normal, benign, malignant) %v", got)
	}
	if !slices.Equal(set.Labels(), []int{1, 1, 1, 2, 0}) {
		t.Errorf("labels %v", set.Labels())
	}

	b1 := set.Examples[0]
	if b1.Width != 80 || b1.Height != 60 || len(b1.MaskPaths) != 2 || !strings.HasSuffix(b1.MaskPaths[1], "_mask_1.png") {
		t.Errorf("benign (1): %d×%d masks %v", b1.Width, b1.Height, b1.MaskPaths)
	}
	// Left half white, right half black; the column at the seam may blend.
	for y := range 32 {
		for x := range 32 {
			v := b1.Image[y*32+x]
			if (x < 15 && v < 0.99) || (x > 16 && v > 0.01) {
				t.Fatalf("benign (1) pixel (%d,%d) = %g", x, y, v)
			}
		}
	}
	// Union of columns [0,40) and [60,80) of 80: 3/4 of the image.
	if f := float64(imgproc.Area(b1.Mask)) / 1024; math.Abs(f-0.75) > 0.04 {
		t.Errorf("united mask covers %.3f, want 0.75", f)
	}
	if b1.Mask[5*32+2] != 1 || b1.Mask[5*32+20] != 0 || b1.Mask[5*32+30] != 1 {
		t.Error("united mask in the wrong place")
	}
	// Uniform gray 200 stays 200/255.
	for _, v := range set.Examples[1].Image {
		if math.Abs(float64(v)-200.0/255) > 1.0/255 {
			t.Fatalf("uniform image value %g, want %g", v, 200.0/255)
		}
	}
	// Gray16 0x8080 reads as 128/255; the 50×100 image is stretched, its
	// left-half mask stays the left half.
	mal := set.Examples[3]
	if math.Abs(float64(mal.Image[100])-128.0/255) > 1.0/255 {
		t.Errorf("Gray16 pixel %g", mal.Image[100])
	}
	if f := float64(imgproc.Area(mal.Mask)) / 1024; math.Abs(f-0.5) > 0.04 {
		t.Errorf("malignant mask covers %.3f, want 0.5", f)
	}
	if imgproc.Area(set.Examples[4].Mask) != 0 {
		t.Error("normal image has a lesion")
	}

	// Default size and class restriction.
	only, err := Load(root, Options{Classes: []Class{Malignant}})
	if err != nil || len(only.Examples) != 1 || only.Size != DefaultSize || len(only.Examples[0].Image) != 64*64 {
		t.Errorf("Classes option / default size: %v", err)
	}
}

func TestErrorsNameTheFile(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(root string)
		want   func(root string) []string
	}{
		{"missing class folder", func(root string) { os.RemoveAll(filepath.Join(root, "normal")) },
			func(root string) []string { return []string{filepath.Join(root, "normal"), "missing class folder"} }},
		{"image without mask", func(root string) { os.Remove(filepath.Join(root, "benign", "benign (2)_mask.png")) },
			func(root string) []string {
				return []string{filepath.Join(root, "benign", "benign (2).png"), "no mask"}
			}},
		{"mask without image", func(root string) { os.Remove(filepath.Join(root, "benign", "benign (10).png")) },
			func(root string) []string {
				return []string{filepath.Join(root, "benign", "benign (10)_mask.png"), "no image"}
			}},
		{"corrupt image", func(root string) {
			os.WriteFile(filepath.Join(root, "malignant", "malignant (1).png"), []byte("GIF89a not a png"), 0o644)
		}, func(root string) []string {
			return []string{filepath.Join(root, "malignant", "malignant (1).png"), "decode"}
		}},
		{"truncated mask", func(root string) {
			p := filepath.Join(root, "benign", "benign (1)_mask_1.png")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
		}, func(root string) []string { return []string{filepath.Join(root, "benign", "benign (1)_mask_1.png")} }},
		{"mask size mismatch", func(root string) {
			var buf bytes.Buffer
			png.Encode(&buf, rectMask(40, 30, 0, 10))
			os.WriteFile(filepath.Join(root, "normal", "normal (1)_mask.png"), buf.Bytes(), 0o644)
		}, func(root string) []string {
			return []string{filepath.Join(root, "normal", "normal (1)_mask.png"), filepath.Join(root, "normal", "normal (1).png"), "40×30"}
		}},
		{"unreadable image", func(root string) {
			p := filepath.Join(root, "benign", "benign (2).png")
			os.Remove(p)
			os.Mkdir(p, 0o755) // a folder where the image should be: skipped, so its mask is orphaned
		}, func(root string) []string { return []string{filepath.Join(root, "benign", "benign (2)_mask.png")} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := makeTree(t)
			c.mutate(root)
			_, err := Load(root, Options{Size: 16})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want(root) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "nope"), Options{}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing root: %v", err)
	}
	empty := t.TempDir()
	for _, c := range AllClasses {
		os.Mkdir(filepath.Join(empty, c.String()), 0o755)
	}
	if _, err := Load(empty, Options{}); err == nil || !strings.Contains(err.Error(), "no images") {
		t.Errorf("empty tree: %v", err)
	}
}

func TestSourceBatches(t *testing.T) {
	set, err := Load(makeTree(t), Options{Size: 32})
	if err != nil {
		t.Fatal(err)
	}
	src := &Source{Set: set, Augment: Augment{FlipH: true}}
	b, err := src.Batch([]int{0, 3}, rand.New(rand.NewPCG(3, 3)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Inputs[0].Shape().Dimensions, []int{2, 32, 32, 1}) ||
		!slices.Equal(b.Labels[0].Shape().Dimensions, []int{2, 32, 32, 1}) ||
		!slices.Equal(tensors.MustCopyFlatData[int32](b.Labels[1]), []int32{1, 2}) {
		t.Fatalf("batch %v %v", b.Inputs[0].Shape(), b.Labels[0].Shape())
	}
	// Image and mask flip together: in benign (1) bright pixels and mask
	// pixels agree on the left/right side they are on.
	img := tensors.MustCopyFlatData[float32](b.Inputs[0])[:1024]
	mk := tensors.MustCopyFlatData[float32](b.Labels[0])[:1024]
	brightLeft := img[5*32+2] > 0.5
	maskLeft := mk[5*32+2] == 1 && mk[5*32+20] == 0
	maskRight := mk[5*32+29] == 1 && mk[5*32+11] == 0
	if brightLeft && !maskLeft || !brightLeft && !maskRight {
		t.Error("image and mask were not flipped together")
	}
	ds, err := batching.New("busi", &Source{Set: set}, batching.Options{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := ds.BatchesPerEpoch(0); n != 3 {
		t.Errorf("5 examples in batches of 2: %d batches", n)
	}
}

// pngBomb returns a 65-byte PNG whose header declares a w×h 8-bit grayscale image: the
// signature, an IHDR chunk, an IDAT chunk holding an empty zlib stream, and IEND (the issue's
// file was 68 bytes). Decoding it allocates w·h bytes before finding the data missing.
func pngBomb(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(data)))
		b.Write(n[:])
		body := append([]byte(typ), data...)
		b.Write(body)
		binary.BigEndian.PutUint32(n[:], crc32.ChecksumIEEE(body))
		b.Write(n[:])
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 0 // bit depth 8, grayscale; compression, filter, interlace 0
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01}) // zlib of nothing
	chunk("IEND", nil)
	return b.Bytes()
}

// TestDeclaredSizeIsCheckedBeforeDecoding puts a 65-byte PNG claiming 200000×200000 pixels
// (40 GB as 8-bit gray) in a BUSI folder, once as an image and once as a mask: Load must
// report the file and its declared size without decoding it (issue 13, item 5; before the
// fix, png.Decode allocated the whole image and the process ran out of memory). A limit set
// in Options applies the same way to files that are merely larger than wanted.
func TestDeclaredSizeIsCheckedBeforeDecoding(t *testing.T) {
	bomb := pngBomb(200000, 200000)
	if len(bomb) != 65 {
		t.Fatalf("bomb is %d bytes, want 65", len(bomb))
	}
	for _, file := range []string{"benign (2).png", "benign (2)_mask.png"} {
		root := makeTree(t)
		path := filepath.Join(root, "benign", file)
		if err := os.WriteFile(path, bomb, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(root, Options{Size: 16})
		if err == nil {
			t.Fatalf("%s: a 200000×200000 PNG was accepted", file)
		}
		for _, want := range []string{path, "200000×200000", "limit"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not mention %q", file, err, want)
			}
		}
	}
	// The tree's largest files are 80×60 = 4800 and 50×100 = 5000 pixels: a limit of 4000
	// rejects the first one met (benign, 80×60), 5000 accepts them all.
	root := makeTree(t)
	if _, err := Load(root, Options{Size: 16, MaxPixels: 4000}); err == nil || !strings.Contains(err.Error(), "80×60") {
		t.Errorf("MaxPixels 4000: %v", err)
	}
	if _, err := Load(root, Options{Size: 16, MaxPixels: 5000}); err != nil {
		t.Errorf("MaxPixels 5000: %v", err)
	}
}
