package imgproc

import (
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
)

// MaxPixels is the largest image, in width × height pixels, that ReadPNG decodes when no other
// limit is given: 2²⁴ (4096×4096), at most 128 MiB once decoded (16-bit RGBA). Medical and
// benchmark images are far smaller; the limit exists so that a small file whose header claims
// a huge image is an error instead of an allocation that kills the process.
const MaxPixels = 1 << 24

// ReadPNG decodes the PNG file at path after checking the size its header declares: an image
// wider or taller than 0, or with more than maxPixels pixels (0 means MaxPixels), is an error
// naming the file and both sizes, and nothing is allocated for it. The standard decoder
// allocates the whole declared image before reading its data, which is why the header is
// read first (image.DecodeConfig's approach, for PNG only).
func ReadPNG(path string, maxPixels int) (image.Image, error) {
	if maxPixels <= 0 {
		maxPixels = MaxPixels
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	if err := checkPixels(cfg.Width, cfg.Height, maxPixels); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	img, err := png.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return img, nil
}

// checkPixels rejects a declared w×h size that is empty or holds more than maxPixels pixels
// (without overflowing w·h).
func checkPixels(w, h, maxPixels int) error {
	switch {
	case w <= 0 || h <= 0:
		return fmt.Errorf("image is %d×%d: empty", w, h)
	case w > maxPixels/h:
		return fmt.Errorf("image declares %d×%d pixels, over the limit of %d pixels", w, h, maxPixels)
	}
	return nil
}
