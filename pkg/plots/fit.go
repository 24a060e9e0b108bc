package plots

import (
	"math"
	"strings"

	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
)

// This file: making text and tick labels fit the space a figure gives them. A title that is
// wider than its panel is shrunk a little, then wrapped at spaces, never clipped; tick labels
// are spaced from the room each label needs, so that a 49×49 attention map in a narrow grid
// cell labels every eighth row instead of printing 49 labels on top of each other.

// fitted is a text broken into lines and sized so that every line fits a width.
type fitted struct {
	lines []string
	font  font.Font
	size  vg.Length
}

// text returns the lines joined for gonum's multi-line text handler.
func (f fitted) text() string { return strings.Join(f.lines, "\n") }

// style returns a text style in the fitted font and size.
func (f fitted) style(xa text.XAlignment, ya text.YAlignment) text.Style {
	return textStyle(f.font, f.size, xa, ya)
}

// height is the height of the fitted block, 0 for an empty text.
func (f fitted) height() vg.Length {
	if len(f.lines) == 0 {
		return 0
	}
	return f.style(0, 0).Height(f.text())
}

// width is the width of the widest line.
func (f fitted) width() vg.Length {
	if len(f.lines) == 0 {
		return 0
	}
	return f.style(0, 0).Width(f.text())
}

// textWidth is the width of s in font fnt at the given size.
func textWidth(fnt font.Font, size vg.Length, s string) vg.Length {
	return textStyle(fnt, size, 0, 0).Width(s)
}

// fitText fits s into width: on one line at size if it fits; else on one line shrunk to no
// less than minSize; else wrapped at spaces into at most maxLines lines, at the largest size
// from size down to minSize that allows it; else (a single word longer than the width, or
// too many words) wrapped at minSize into as many lines as it takes, words longer than the
// width broken between characters. The result never needs clipping.
func fitText(s string, fnt font.Font, size, minSize, width vg.Length, maxLines int) fitted {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return fitted{font: fnt, size: size}
	}
	minSize = min(minSize, size)
	maxLines = max(1, maxLines)
	const step = 0.25
	for lines := 1; lines <= maxLines; lines++ {
		for sz := size; sz >= minSize-1e-9; sz -= step {
			if ls := wrapWords(s, fnt, sz, width); len(ls) <= lines {
				return fitted{lines: ls, font: fnt, size: sz}
			}
		}
	}
	return fitted{lines: wrapWords(s, fnt, minSize, width), font: fnt, size: minSize}
}

// wrapWords breaks s greedily into lines no wider than width at the given size, breaking a
// word that is wider than width on its own between characters.
func wrapWords(s string, fnt font.Font, size, width vg.Length) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		try := w
		if line != "" {
			try = line + " " + w
		}
		if textWidth(fnt, size, try) <= width {
			line = try
			continue
		}
		if line != "" {
			lines = append(lines, line)
			line = ""
		}
		for textWidth(fnt, size, w) > width {
			head := breakWord(w, fnt, size, width)
			lines = append(lines, head)
			w = w[len(head):]
		}
		line = w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// breakWord returns the longest prefix of w (at least one character) no wider than width.
func breakWord(w string, fnt font.Font, size, width vg.Length) string {
	end := 0
	for i, r := range w {
		next := i + len(string(r))
		if end > 0 && textWidth(fnt, size, w[:next]) > width {
			break
		}
		end = next
	}
	return w[:end]
}

// Sizes fitted texts may shrink to, in points.
const (
	minTitleSize = 9.5 // titles shrink from titleSize before they wrap
	minLabelSize = 8   // axis labels
	minPanelSize = 6.5 // labels of small panels (feature-map channels, windows)
)

// fitTitle fits a figure or panel title into width: shrunk a little, then up to three lines.
func fitTitle(title string, width vg.Length) fitted {
	return fitText(title, boldFont, titleSize, minTitleSize, width, 3)
}

// indexSteps are the spacings, in cells, that labelled ticks of an indexed axis may take:
// round numbers and the powers of two that image and window sizes are made of.
var indexSteps = []int{1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 50, 64, 100, 128, 200, 250, 256, 500, 512, 1000}

// indexStep returns how many cells apart the labels of an axis of n cells, each cellLen
// long, must be when each label needs `need` of axis length (its extent along the axis plus
// a gap): the smallest step of indexSteps (then 1000s) that keeps neighbours apart. With one
// cell, or no room for even two labels, the step is n: only cell 0 is labelled.
func indexStep(n int, cellLen, need vg.Length) int {
	if n <= 1 {
		return 1
	}
	for _, s := range indexSteps {
		if s >= n {
			return n
		}
		if vg.Length(s)*cellLen >= need {
			return s
		}
	}
	for s := 2000; s < n; s += 1000 {
		if vg.Length(s)*cellLen >= need {
			return s
		}
	}
	return n
}

// labelGap is the space kept between neighbouring tick labels, in points.
func labelGap(extent vg.Length) vg.Length { return max(4, 0.5*extent) }

// tickCount returns how many labelled ticks an axis of length axisLen has room for when
// each label takes `extent` along the axis: at most want, at least 2.
func tickCount(axisLen, extent vg.Length, want int) int {
	if extent <= 0 {
		return want
	}
	n := int(math.Floor(float64(axisLen / (extent + labelGap(extent)))))
	return max(2, min(want, n))
}
