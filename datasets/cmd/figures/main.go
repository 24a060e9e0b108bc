// Command figures draws the PNG figures of docs/datasets.md from the
// generators themselves, so the pictures always match the code:
//
//	go run ./datasets/cmd/figures -out docs/img
//
// It writes phantoms.png (phantom images, masks, Canny boundaries and
// overlays), phantom_edges.png (Canny versus morphological-gradient
// boundaries), raters.png (each simulated rater's outline) and
// mnist_shift.png (digits and their random shifts; needs the GoMNIST module
// in the module cache).
package main

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"slices"

	"github.com/gostudy/gostudy/datasets/batching"
	"github.com/gostudy/gostudy/datasets/imgproc"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/datasets/phantom"
	"github.com/gostudy/gostudy/datasets/raters"
)

func main() {
	out := flag.String("out", "docs/img", "folder for the PNG files")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "figures:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	cfg := phantom.DefaultConfig()
	samples, err := phantom.Generate(cfg, 10)
	if err != nil {
		return err
	}
	if err := save(out, "phantoms.png", phantom.GridImageColumns(samples, 3)); err != nil {
		return err
	}
	if err := edges(out, samples); err != nil {
		return err
	}
	if err := raterFigure(out, samples); err != nil {
		return err
	}
	return mnistFigure(out)
}

func save(dir, name string, img image.Image) error {
	path := filepath.Join(dir, name)
	if err := imgproc.WritePNG(path, img); err != nil {
		return err
	}
	fmt.Println("wrote", path)
	return nil
}

// edges compares the two boundary methods on the phantoms with lesions.
func edges(out string, samples []*phantom.Sample) error {
	var rows [][]image.Image
	for _, s := range samples {
		if len(s.Lesions) == 0 || len(rows) == 4 {
			continue
		}
		n := s.Size
		rows = append(rows, []image.Image{
			imgproc.MaskGray(s.Mask, n, n),
			imgproc.MaskGray(phantom.Edges(s.Mask, n, phantom.EdgeCanny), n, n),
			imgproc.MaskGray(phantom.Edges(s.Mask, n, phantom.EdgeMorph), n, n),
		})
	}
	return save(out, "phantom_edges.png", imgproc.Grid(rows, 4, 2))
}

// raterFigure draws, per phantom, the image and each default rater's outline
// (columns: image, then the raters of raters.DefaultPanel in order).
func raterFigure(out string, samples []*phantom.Sample) error {
	panel := raters.DefaultPanel(samples[0].Size)
	// Three phantoms with lesions, then one with a lesion small enough for
	// the misses-small rater to skip.
	var picked []*phantom.Sample
	for _, s := range samples {
		if len(s.Lesions) > 0 && len(picked) < 3 {
			picked = append(picked, s)
		}
	}
	more, err := phantom.Generate(phantom.DefaultConfig(), 60)
	if err != nil {
		return err
	}
	for _, s := range more[len(samples):] {
		_, sizes := imgproc.Components(s.Mask, s.Size, s.Size)
		if slices.ContainsFunc(sizes, func(a int) bool { return a < panel[4].MissBelow }) {
			picked = append(picked, s)
			break
		}
	}
	set, err := raters.NewSet(picked, panel, raters.AllRaters, 0)
	if err != nil {
		return err
	}
	colors := []color.RGBA{{R: 255, G: 40, B: 40, A: 255}}
	var rows [][]image.Image
	for i, s := range picked {
		n := s.Size
		row := []image.Image{imgproc.Gray(s.Image, n, n)}
		for r := range panel {
			lab := set.Labels[i][r]
			contour := make([]uint8, n*n)
			er := imgproc.Erode(lab, n, n, 1)
			for k := range lab {
				contour[k] = lab[k] &^ er[k]
			}
			row = append(row, imgproc.Outline(s.Image, n, n, [][]uint8{contour}, colors))
		}
		rows = append(rows, row)
	}
	return save(out, "raters.png", imgproc.Grid(rows, 3, 2))
}

// mnistFigure draws eight test digits and three random shifts of each.
func mnistFigure(out string) error {
	te, err := mnist.Load(mnist.Test)
	if err != nil {
		return err
	}
	idx := []int{0, 1, 2, 3, 4, 5, 6, 7}
	rows := make([][]image.Image, 4)
	for r := range rows {
		src := &mnist.Source{Set: te, Norm: mnist.UnitRange}
		var rng = batching.RNG(1, uint64(r))
		if r > 0 {
			src.Augment.MaxShift = 3
		}
		imgs, _, err := src.Flat(idx, rng)
		if err != nil {
			return err
		}
		for k := range idx {
			rows[r] = append(rows[r], imgproc.Gray(imgs[k*mnist.Pixels:(k+1)*mnist.Pixels], mnist.Height, mnist.Width))
		}
	}
	return save(out, "mnist_shift.png", imgproc.Grid(rows, 3, 2))
}
