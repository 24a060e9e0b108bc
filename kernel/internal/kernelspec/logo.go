package kernelspec

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// The logo: the letters "Go" over a 4×4 grid of tensor cells shaded like a small
// feature map, on a dark rounded square. It is drawn when installing, at each size, so
// no binary asset is kept in the repository.

var (
	logoBackground = color.RGBA{0x12, 0x26, 0x3a, 0xff} // dark navy
	logoCell       = color.RGBA{0x00, 0xad, 0xd8, 0xff} // Go's gopher blue
	logoText       = color.RGBA{0xff, 0xff, 0xff, 0xff}
)

// logoGrid is the shade (0..1) of each tensor cell: a smooth bump, like an activation.
var logoGrid = [4][4]float64{
	{0.20, 0.35, 0.45, 0.30},
	{0.35, 0.65, 0.85, 0.50},
	{0.45, 0.85, 1.00, 0.60},
	{0.30, 0.50, 0.60, 0.40},
}

type cellRect struct {
	x0, y0, x1, y1 float64
	fill           color.RGBA
}

// logoCells lays the grid out on a canvas of side s.
func logoCells(s float64) []cellRect {
	margin, gap := s*0.12, math.Max(1, s/32)
	side := (s - 2*margin - 3*gap) / 4
	var out []cellRect
	for i := range 4 {
		for j := range 4 {
			x0 := margin + float64(j)*(side+gap)
			y0 := margin + float64(i)*(side+gap)
			out = append(out, cellRect{x0, y0, x0 + side, y0 + side, mix(logoBackground, logoCell, 0.25+0.6*logoGrid[i][j])})
		}
	}
	return out
}

func mix(a, b color.RGBA, t float64) color.RGBA {
	l := func(x, y uint8) uint8 { return uint8(math.Round(float64(x)*(1-t) + float64(y)*t)) }
	return color.RGBA{l(a.R, b.R), l(a.G, b.G), l(a.B, b.B), 0xff}
}

// Logo draws the logo at size×size pixels.
func Logo(size int) (*image.RGBA, error) {
	if size < 16 {
		return nil, fmt.Errorf("logo size %d: at least 16 pixels", size)
	}
	s := float64(size)
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	// Rounded square, anti-aliased by 4×4 supersampling of its edge.
	r := s * 0.18
	for y := range size {
		for x := range size {
			cov := 0.0
			for sy := range 4 {
				for sx := range 4 {
					if insideRounded(float64(x)+(float64(sx)+0.5)/4, float64(y)+(float64(sy)+0.5)/4, s, r) {
						cov++
					}
				}
			}
			if cov > 0 {
				a := cov / 16
				c := logoBackground
				img.SetRGBA(x, y, color.RGBA{ // premultiplied alpha
					uint8(math.Round(float64(c.R) * a)), uint8(math.Round(float64(c.G) * a)),
					uint8(math.Round(float64(c.B) * a)), uint8(math.Round(255 * a))})
			}
		}
	}
	for _, c := range logoCells(s) {
		rect := image.Rect(int(math.Round(c.x0)), int(math.Round(c.y0)), int(math.Round(c.x1)), int(math.Round(c.y1)))
		draw.Draw(img, rect, image.NewUniform(c.fill), image.Point{}, draw.Src)
	}
	if err := drawLetters(img, s); err != nil {
		return nil, err
	}
	return img, nil
}

func insideRounded(x, y, s, r float64) bool {
	cx := math.Max(r, math.Min(s-r, x))
	cy := math.Max(r, math.Min(s-r, y))
	return (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r
}

// drawLetters writes "Go" in Go Bold, centred, with a dark outline so the letters
// stay readable over the bright cells.
func drawLetters(img *image.RGBA, s float64) error {
	f, err := opentype.Parse(gobold.TTF)
	if err != nil {
		return fmt.Errorf("logo font: %w", err)
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: s * 0.5, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return fmt.Errorf("logo font face: %w", err)
	}
	defer face.Close()
	const text = "Go"
	d := &font.Drawer{Dst: img, Face: face}
	b, _ := d.BoundString(text)
	w := (b.Max.X - b.Min.X).Ceil()
	h := (b.Max.Y - b.Min.Y).Ceil()
	// Place the ink box (not the advance box) in the middle.
	x := int(math.Round((s-float64(w))/2)) - b.Min.X.Floor()
	y := int(math.Round((s-float64(h))/2)) - b.Min.Y.Floor()
	outline := int(math.Max(1, math.Round(s/32)))
	d.Src = image.NewUniform(logoBackground)
	for dy := -outline; dy <= outline; dy++ {
		for dx := -outline; dx <= outline; dx++ {
			if dx == 0 && dy == 0 {
				continue
			}
			d.Dot = fixed.P(x+dx, y+dy)
			d.DrawString(text)
		}
	}
	d.Src = image.NewUniform(logoText)
	d.Dot = fixed.P(x, y)
	d.DrawString(text)
	return nil
}

// LogoPNG returns the logo as a PNG of size×size pixels.
func LogoPNG(size int) ([]byte, error) {
	img, err := Logo(size)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("encode logo: %w", err)
	}
	return b.Bytes(), nil
}

// LogoSVG returns the logo as SVG (64×64 user units), the same drawing as LogoPNG.
func LogoSVG() []byte {
	const s = 64.0
	hex := func(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">`+"\n")
	fmt.Fprintf(&b, `  <rect width="64" height="64" rx="%.2f" fill="%s"/>`+"\n", s*0.18, hex(logoBackground))
	for _, c := range logoCells(s) {
		fmt.Fprintf(&b, `  <rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"/>`+"\n",
			c.x0, c.y0, c.x1-c.x0, c.y1-c.y0, hex(c.fill))
	}
	fmt.Fprintf(&b, `  <text x="32" y="32" text-anchor="middle" dominant-baseline="central" `+
		`font-family="Go, 'Go Bold', 'DejaVu Sans', Arial, sans-serif" font-weight="bold" font-size="32" `+
		`fill="%s" stroke="%s" stroke-width="4" stroke-linejoin="round" paint-order="stroke">Go</text>`+"\n",
		hex(logoText), hex(logoBackground))
	b.WriteString("</svg>\n")
	return []byte(b.String())
}
