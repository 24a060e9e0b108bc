// Package busi loads a breast-ultrasound data set laid out like BUSI
// (Al-Dhabyani et al., "Dataset of breast ultrasound images", 2020), for
// users who have the real images; gostudy ships none and never downloads
// them.
//
// Layout: root/benign/, root/malignant/, root/normal/, each holding
// name.png with one or more masks name_mask.png, name_mask_1.png, ... (the
// masks of one image are united). Images become grayscale in [0, 1] and both
// images and masks are resized to Size×Size (bilinear, with a filter that
// widens when shrinking so downsampling averages instead of aliasing; masks
// are resized the same way and cut at 1/2). Non-square images are stretched.
//
// Every problem is an error that names the file: a missing class folder, an
// image without a mask, a mask without an image, a file that is not a
// readable PNG, a mask whose size differs from its image's, a file whose
// header declares more than Options.MaxPixels pixels (checked before it is
// decoded, so a tiny file claiming a huge image cannot exhaust memory).
package busi

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gostudy/gostudy/datasets/batching"
	"github.com/gostudy/gostudy/datasets/imgproc"
	"golang.org/x/image/draw"
)

// Class is the folder an image comes from. The numbering matches
// phantom.Class, so models trained on phantoms read BUSI labels the same way.
type Class int

// BUSI classes.
const (
	Normal Class = iota
	Benign
	Malignant
)

// NumClasses is the number of classes.
const NumClasses = 3

// AllClasses lists the classes in folder (alphabetical) order.
var AllClasses = []Class{Benign, Malignant, Normal}

// String returns the folder name.
func (c Class) String() string {
	switch c {
	case Normal:
		return "normal"
	case Benign:
		return "benign"
	case Malignant:
		return "malignant"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// DefaultSize is the side images are resized to when Options.Size is 0.
const DefaultSize = 64

// Options configures Load.
type Options struct {
	// Size is the output side in pixels; 0 means DefaultSize.
	Size int
	// Classes restricts loading to these folders; nil loads all three, and
	// each named folder must exist.
	Classes []Class
	// MaxPixels is the largest image or mask (width × height) decoded; a file
	// whose header declares more is an error before anything is allocated.
	// 0 means imgproc.MaxPixels (4096×4096).
	MaxPixels int
}

// Example is one image with its united mask.
type Example struct {
	// Name is the file name without .png, e.g. "benign (12)".
	Name string
	// Class is the folder the image was in.
	Class Class
	// ImagePath is the image file.
	ImagePath string
	// MaskPaths are its mask files, name_mask.png first, then _mask_1, ...
	MaskPaths []string
	// Width and Height are the original image's.
	Width, Height int
	// Image is Size×Size grayscale in [0, 1], row-major.
	Image []float32
	// Mask is Size×Size 0/1.
	Mask []uint8
}

// Set is a loaded data set.
type Set struct {
	// Root is the folder given to Load.
	Root string
	// Size is the side of every Image and Mask.
	Size int
	// Examples are ordered by class (benign, malignant, normal) then
	// naturally by name.
	Examples []Example
}

// maskName matches "name_mask.png" and "name_mask_3.png".
var maskName = regexp.MustCompile(`(?i)^(.*)_mask(?:_(\d+))?\.png$`)

// Load reads root with the BUSI layout.
func Load(root string, opts Options) (*Set, error) {
	size := opts.Size
	if size == 0 {
		size = DefaultSize
	}
	if size < 1 {
		return nil, fmt.Errorf("busi: size %d must be positive", size)
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("busi: data set folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("busi: %s is not a folder", root)
	}
	classes := opts.Classes
	if classes == nil {
		classes = AllClasses
	}
	var examples []Example
	for _, c := range classes {
		if c < Normal || c > Malignant {
			return nil, fmt.Errorf("busi: unknown class %d", c)
		}
		ex, err := scanClass(filepath.Join(root, c.String()), c)
		if err != nil {
			return nil, err
		}
		examples = append(examples, ex...)
	}
	if len(examples) == 0 {
		return nil, fmt.Errorf("busi: no images in %s (want benign/, malignant/, normal/ holding name.png and name_mask.png)", root)
	}
	if err := decodeAll(examples, size, opts.MaxPixels); err != nil {
		return nil, err
	}
	return &Set{Root: root, Size: size, Examples: examples}, nil
}

// scanClass pairs images and masks in one class folder.
func scanClass(dir string, c Class) ([]Example, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("busi: missing class folder %s", dir)
		}
		return nil, fmt.Errorf("busi: read class folder %s: %w", dir, err)
	}
	type maskFile struct {
		path string
		num  int
	}
	images := map[string]string{}
	masks := map[string][]maskFile{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.EqualFold(filepath.Ext(name), ".png") {
			continue // stray files (Thumbs.db, .DS_Store, notes) are not data
		}
		if m := maskName.FindStringSubmatch(name); m != nil {
			num := 0
			if m[2] != "" {
				num, _ = strconv.Atoi(m[2])
			}
			masks[m[1]] = append(masks[m[1]], maskFile{filepath.Join(dir, name), num})
			continue
		}
		images[strings.TrimSuffix(name, filepath.Ext(name))] = filepath.Join(dir, name)
	}
	var out []Example
	for base, path := range images {
		ms := masks[base]
		if len(ms) == 0 {
			return nil, fmt.Errorf("busi: image %s has no mask (expected %s)", path, filepath.Join(dir, base+"_mask.png"))
		}
		slices.SortFunc(ms, func(a, b maskFile) int { return a.num - b.num })
		ex := Example{Name: base, Class: c, ImagePath: path}
		for _, m := range ms {
			ex.MaskPaths = append(ex.MaskPaths, m.path)
		}
		out = append(out, ex)
	}
	for base, ms := range masks {
		if _, ok := images[base]; !ok {
			return nil, fmt.Errorf("busi: mask %s has no image %s", ms[0].path, filepath.Join(dir, base+".png"))
		}
	}
	slices.SortFunc(out, func(a, b Example) int { return naturalCompare(a.Name, b.Name) })
	return out, nil
}

// naturalCompare orders "x (2)" before "x (10)": runs of digits compare as
// numbers.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, _ := strconv.ParseUint(a[:da], 10, 64)
			nb, _ := strconv.ParseUint(b[:db], 10, 64)
			if na != nb {
				if na < nb {
					return -1
				}
				return 1
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && i < 18 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// decodeAll fills Image and Mask of every example, in parallel; the error
// reported is the first in example order, so it does not depend on timing.
func decodeAll(examples []Example, size, maxPixels int) error {
	errs := make([]error, len(examples))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(examples)) {
		wg.Go(func() {
			for i := range next {
				errs[i] = decode(&examples[i], size, maxPixels)
			}
		})
	}
	for i := range examples {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func readPNG(path string, maxPixels int) (image.Image, error) {
	img, err := imgproc.ReadPNG(path, maxPixels)
	if err != nil {
		return nil, fmt.Errorf("busi: %w", err)
	}
	return img, nil
}

func decode(ex *Example, size, maxPixels int) error {
	img, err := readPNG(ex.ImagePath, maxPixels)
	if err != nil {
		return err
	}
	b := img.Bounds()
	ex.Width, ex.Height = b.Dx(), b.Dy()
	if ex.Width == 0 || ex.Height == 0 {
		return fmt.Errorf("busi: image %s is empty", ex.ImagePath)
	}
	ex.Image = resizeGray(img, size)

	union := image.NewGray(image.Rect(0, 0, ex.Width, ex.Height))
	for _, mp := range ex.MaskPaths {
		m, err := readPNG(mp, maxPixels)
		if err != nil {
			return err
		}
		mb := m.Bounds()
		if mb.Dx() != ex.Width || mb.Dy() != ex.Height {
			return fmt.Errorf("busi: mask %s is %d×%d but image %s is %d×%d",
				mp, mb.Dx(), mb.Dy(), ex.ImagePath, ex.Width, ex.Height)
		}
		addMask(union, m)
	}
	soft := resizeGray(union, size)
	ex.Mask = make([]uint8, size*size)
	for i, v := range soft {
		if v >= 0.5 {
			ex.Mask[i] = 1
		}
	}
	return nil
}

// addMask sets the pixels of union where m's luma is above 127, with fast
// paths for the pixel formats PNG decoding produces most.
func addMask(union *image.Gray, m image.Image) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	set := func(x, y int) { union.Pix[y*union.Stride+x] = 255 }
	switch m := m.(type) {
	case *image.Gray:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				if v > 127 {
					set(x, y)
				}
			}
		}
	case *image.RGBA, *image.NRGBA:
		var pix []uint8
		var stride int
		if r, ok := m.(*image.RGBA); ok {
			pix, stride = r.Pix, r.Stride
		} else {
			n := m.(*image.NRGBA)
			pix, stride = n.Pix, n.Stride
		}
		for y := range h {
			for x := range w {
				p := pix[y*stride+4*x:]
				if 299*int(p[0])+587*int(p[1])+114*int(p[2]) > 127*1000 {
					set(x, y)
				}
			}
		}
	default:
		for y := range h {
			for x := range w {
				if color.GrayModel.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.Gray).Y > 127 {
					set(x, y)
				}
			}
		}
	}
}

// resizeGray scales img to size×size with x/image/draw's bilinear kernel
// (which widens its support when shrinking) and returns luma in [0, 1].
func resizeGray(img image.Image, size int) []float32 {
	dst := image.NewRGBA(image.Rect(0, 0, size, size))
	draw.BiLinear.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
	out := make([]float32, size*size)
	for i := range out {
		r, g, b := float32(dst.Pix[4*i]), float32(dst.Pix[4*i+1]), float32(dst.Pix[4*i+2])
		out[i] = (0.299*r + 0.587*g + 0.114*b) / 255
	}
	return out
}

// Labels returns every example's class as an int (for the sampling package).
func (s *Set) Labels() []int {
	out := make([]int, len(s.Examples))
	for i, e := range s.Examples {
		out[i] = int(e.Class)
	}
	return out
}

// ClassCounts counts examples per class, indexed by Class.
func (s *Set) ClassCounts() [NumClasses]int {
	var c [NumClasses]int
	for _, e := range s.Examples {
		c[e.Class]++
	}
	return c
}

// Augment moves image and mask together; see phantom.Augment for which
// flips respect the physics (FlipH does, FlipV does not).
type Augment = imgproc.Augment

// Source serves a Set as batches; it implements batching.Source. Inputs =
// [image [B,S,S,1] float32]; Labels = [mask [B,S,S,1] float32 in {0,1},
// class [B] int32].
type Source struct {
	// Set holds the examples.
	Set *Set
	// Augment is applied to image and mask together.
	Augment Augment
}

// Len implements batching.Source.
func (s *Source) Len() int { return len(s.Set.Examples) }

// Batch implements batching.Source.
func (s *Source) Batch(indices []int, rng *rand.Rand) (train.Batch, error) {
	if len(indices) == 0 {
		return train.Batch{}, batching.ErrEmpty
	}
	n := s.Set.Size
	px := n * n
	imgs := make([]float32, len(indices)*px)
	masks := make([]float32, len(indices)*px)
	classes := make([]int32, len(indices))
	for b, i := range indices {
		if i < 0 || i >= len(s.Set.Examples) {
			return train.Batch{}, fmt.Errorf("busi: index %d outside [0, %d)", i, len(s.Set.Examples))
		}
		ex := &s.Set.Examples[i]
		im, mk := imgs[b*px:(b+1)*px], masks[b*px:(b+1)*px]
		copy(im, ex.Image)
		for k, v := range ex.Mask {
			mk[k] = float32(v)
		}
		if err := s.Augment.Apply(rng, n, im, mk); err != nil {
			return train.Batch{}, fmt.Errorf("busi: %s: %w", ex.ImagePath, err)
		}
		classes[b] = int32(ex.Class)
	}
	B := len(indices)
	return train.Batch{
		Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(imgs, B, n, n, 1)},
		Labels: []*tensors.Tensor{
			tensors.FromFlatDataAndDimensions(masks, B, n, n, 1),
			tensors.FromFlatDataAndDimensions(classes, B),
		},
	}, nil
}
