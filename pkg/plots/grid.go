package plots

import (
	"fmt"
	"strings"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gostudy/gostudy/pkg/display"
)

// Grid lays out several figures of this package in rows: an image next to its prediction,
// the attention maps of several heads, curves of several runs. Each figure is drawn at the
// cell's width; the figures' own Width and Height are ignored.
type Grid struct {
	// Title is drawn above the grid (no default: the figures have their own titles).
	Title string
	// Cols is the number of columns (default: all figures in one row, at most 3).
	Cols int
	// Figures are placed left to right, top to bottom.
	Figures []Figure
	// Width and Height are the figure size in CSS pixels (0: 800 wide, height from the
	// figures).
	Width, Height int
}

// MIMEBundle implements display.Bundler.
func (g Grid) MIMEBundle() (display.Bundle, map[string]any) { return bundle(g) }

// SVG draws the figure as an SVG document.
func (g Grid) SVG() ([]byte, error) { return renderSVG(g) }

// PNG draws the figure as a PNG image.
func (g Grid) PNG() ([]byte, error) { return renderPNG(g) }

// Save writes the figure to path; the extension picks the format.
func (g Grid) Save(path string) error { return saveFigure(g, path) }

func (g Grid) sizePx() (int, int) { return g.Width, g.Height }

type gridPlan struct {
	g     Grid
	cols  int
	plans []plan
}

const gridGap = vg.Length(8)

func (g Grid) plan() (plan, error) {
	if len(g.Figures) == 0 {
		return nil, fmt.Errorf("grid: no figures")
	}
	p := &gridPlan{g: g, cols: g.Cols}
	if p.cols <= 0 {
		p.cols = min(len(g.Figures), 3)
	}
	for i, f := range g.Figures {
		if f == nil {
			return nil, fmt.Errorf("grid: figure %d is nil", i)
		}
		fp, err := f.plan()
		if err != nil {
			return nil, fmt.Errorf("grid: figure %d: %w", i, err)
		}
		p.plans = append(p.plans, fp)
	}
	return p, nil
}

func (p *gridPlan) summary() string {
	parts := make([]string, len(p.plans))
	for i, fp := range p.plans {
		parts[i] = fp.summary()
	}
	s := fmt.Sprintf("Grid of %d figures in %d columns", len(p.plans), p.cols)
	if p.g.Title != "" {
		s = p.g.Title + ": " + s
	}
	return s + "\n" + strings.Join(parts, "\n")
}

func (p *gridPlan) cellWidth(w vg.Length) vg.Length {
	return (w - vg.Length(p.cols-1)*gridGap) / vg.Length(p.cols)
}

// rowHeights returns each row's height: its tallest figure at the cell width.
func (p *gridPlan) rowHeights(w vg.Length) []vg.Length {
	cw := p.cellWidth(w)
	rows := (len(p.plans) + p.cols - 1) / p.cols
	hs := make([]vg.Length, rows)
	for i, fp := range p.plans {
		hs[i/p.cols] = max(hs[i/p.cols], fp.heightFor(cw))
	}
	return hs
}

func (p *gridPlan) heightFor(w vg.Length) vg.Length {
	h := titleHeight(p.g.Title, w-2*margin) + 2*margin
	for i, rh := range p.rowHeights(w) {
		if i > 0 {
			h += gridGap
		}
		h += rh
	}
	return h
}

func (p *gridPlan) draw(dc draw.Canvas) {
	dc = inset(dc, margin)
	dc = drawTitle(dc, p.g.Title)
	// The figures have their own margins: give them the full width.
	dc = draw.Crop(dc, -margin, margin, 0, 0)
	w := dc.Max.X - dc.Min.X
	cw := p.cellWidth(w)
	hs := p.rowHeights(w)
	top := dc.Max.Y
	for r, rh := range hs {
		for c := range p.cols {
			i := r*p.cols + c
			if i >= len(p.plans) {
				break
			}
			x0 := dc.Min.X + vg.Length(c)*(cw+gridGap)
			fh := p.plans[i].heightFor(cw)
			p.plans[i].draw(sub(dc, x0, top-fh, x0+cw, top))
		}
		top -= rh + gridGap
	}
}
