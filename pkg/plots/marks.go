package plots

import (
	"bytes"
	"fmt"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// This file: the data areas an SVG figure declares. gonum's SVG says where an image is, not
// which rectangle of the axes it is meant to fill; each figure records that rectangle (the
// data rectangle of a heatmap's axes, a colour bar's bar, a feature-map panel) and the SVG
// carries it as an invisible <rect class="gostudy-area">, so that tests here and in the
// browser can check that every raster fills exactly the area its axes label.

// Kinds of data areas.
const (
	areaHeatmap  = "heatmap"  // the data rectangle of a heatmap's or image's axes
	areaColorBar = "colorbar" // the bar of a colour bar
	areaPanel    = "panel"    // one panel of a feature-map or window-mask grid
)

// area is one declared data area: its kind, its rectangle in points (y up, gonum's
// coordinates) and the raster's cells.
type area struct {
	kind       string
	rect       vg.Rectangle
	rows, cols int
}

// svgMarks is an SVG canvas that also records data areas.
type svgMarks struct {
	*vgsvg.Canvas
	areas []area
}

// markArea records a data area on canvases that keep them (SVG); elsewhere it does nothing.
// gonum nests a cropped draw.Canvas inside another, so the SVG canvas may lie several levels
// down.
func markArea(dc draw.Canvas, kind string, r vg.Rectangle, rows, cols int) {
	var c vg.Canvas = dc.Canvas
	for {
		switch x := c.(type) {
		case *svgMarks:
			x.areas = append(x.areas, area{kind: kind, rect: r, rows: rows, cols: cols})
			return
		case draw.Canvas:
			c = x.Canvas
		case *draw.Canvas:
			c = x.Canvas
		default:
			return
		}
	}
}

// withAreas inserts the recorded areas into svg, inside gonum's top-level group (whose
// transform makes y point up), so that they share the coordinates of everything drawn.
func withAreas(svg []byte, areas []area) []byte {
	if len(areas) == 0 {
		return svg
	}
	end := bytes.LastIndex(svg, []byte("</g>"))
	if end < 0 {
		return svg
	}
	var b bytes.Buffer
	b.Write(svg[:end])
	for _, a := range areas {
		w, h := a.rect.Max.X-a.rect.Min.X, a.rect.Max.Y-a.rect.Min.Y
		fmt.Fprintf(&b, `<rect class="gostudy-area" data-kind="%s" data-cells="%d %d" x="%.4f" y="%.4f" width="%.4f" height="%.4f" style="fill:none;stroke:none" />`+"\n",
			a.kind, a.rows, a.cols, float64(a.rect.Min.X), float64(a.rect.Min.Y), float64(w), float64(h))
	}
	b.Write(svg[end:])
	return b.Bytes()
}
