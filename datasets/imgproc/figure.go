package imgproc

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
)

// Gray converts an h×w image with values in [0, 1] (clamped) to an
// image.Gray.
func Gray(data []float32, h, w int) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i, v := range data[:h*w] {
		g.Pix[i] = uint8(min(max(v, 0), 1)*255 + 0.5)
	}
	return g
}

// MaskGray converts a 0/1 mask to a black-and-white image.Gray.
func MaskGray(mask []uint8, h, w int) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i, v := range mask[:h*w] {
		if v != 0 {
			g.Pix[i] = 255
		}
	}
	return g
}

// Outline draws the set pixels of each mask over a grayscale image, one color
// per mask (later masks on top).
func Outline(data []float32, h, w int, masks [][]uint8, colors []color.RGBA) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for i, v := range data[:h*w] {
		g := uint8(min(max(v, 0), 1)*255 + 0.5)
		out.Pix[4*i], out.Pix[4*i+1], out.Pix[4*i+2], out.Pix[4*i+3] = g, g, g, 255
	}
	for k, m := range masks {
		c := colors[k%len(colors)]
		for i, v := range m[:h*w] {
			if v != 0 {
				out.Pix[4*i], out.Pix[4*i+1], out.Pix[4*i+2] = c.R, c.G, c.B
			}
		}
	}
	return out
}

// Grid lays images out in rows, each pixel enlarged to scale×scale (nearest
// neighbour), with pad pixels of light gray between cells. Cells may differ in
// size; each takes the size of the largest image.
func Grid(rows [][]image.Image, scale, pad int) *image.RGBA {
	scale = max(scale, 1)
	cw, ch, ncol := 0, 0, 0
	for _, r := range rows {
		ncol = max(ncol, len(r))
		for _, im := range r {
			b := im.Bounds()
			cw = max(cw, b.Dx()*scale)
			ch = max(ch, b.Dy()*scale)
		}
	}
	W := ncol*cw + (ncol+1)*pad
	H := len(rows)*ch + (len(rows)+1)*pad
	out := image.NewRGBA(image.Rect(0, 0, W, H))
	bg := color.RGBA{R: 230, G: 230, B: 230, A: 255}
	for i := 0; i < len(out.Pix); i += 4 {
		out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = bg.R, bg.G, bg.B, bg.A
	}
	for ri, r := range rows {
		for ci, im := range r {
			b := im.Bounds()
			ox, oy := pad+ci*(cw+pad), pad+ri*(ch+pad)
			for y := range b.Dy() * scale {
				for x := range b.Dx() * scale {
					out.Set(ox+x, oy+y, im.At(b.Min.X+x/scale, b.Min.Y+y/scale))
				}
			}
		}
	}
	return out
}

// WritePNG writes img to path as a PNG file.
func WritePNG(path string, img image.Image) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write png %s: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("write png %s: %w", path, cerr)
		}
	}()
	if err := png.Encode(f, img); err != nil {
		return fmt.Errorf("write png %s: %w", path, err)
	}
	return nil
}
