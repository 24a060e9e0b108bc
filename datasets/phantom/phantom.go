// Package phantom generates synthetic breast-ultrasound images with exact
// ground truth, deterministic by seed and index, at any size (64×64 by
// default), for the ultrasound-segmentation and multi-rater lessons.
//
// An image is built the way a B-mode scan looks, not the way a scanner works:
//
//  1. A mean-amplitude ("echogenicity") map E of breast tissue: skin line,
//     hypoechoic subcutaneous fat, brighter fibroglandular tissue, chest-wall
//     muscle with striations, wavy layer boundaries, slow texture.
//  2. Hypoechoic lesions multiply E by a contrast c in [ContrastMin,
//     ContrastMax] with a blurred (logistic) margin. Smooth lesions are
//     wider-than-tall ovals with gentle lobulation; irregular ones add
//     spicules and may be taller-than-wide.
//  3. Posterior acoustic shadowing darkens the columns behind a lesion
//     (mostly irregular ones); some smooth lesions get posterior enhancement.
//  4. Look-alikes that are not lesions: small fuzzy dark spots and vertical
//     ligament shadows, the "speckles and shadows easily mistaken for a mass"
//     of the notes. They are never in the mask.
//  5. Depth attenuation exp(-α·depth/size) that the gain does not undo.
//  6. Fully developed speckle, multiplicative: image = E · S, where
//     S = |h ⊛ z| / (√π/2), z is circular complex Gaussian noise and h a
//     Gaussian point-spread function wider laterally than axially. A linear
//     filter of circular complex Gaussian noise is again circular complex
//     Gaussian, so S is Rayleigh distributed with mean 1 whatever the grain:
//     on a homogeneous region mean(I)²/mean(I²) = π/4.
//
// The image is clipped to [0, 1]; tissue levels keep clipping rare.
//
// The boundary map is the ground-truth mask's edge. By default it is a small
// Canny detector (Gaussian σ = 0.5 px, Sobel, non-maximum suppression,
// hysteresis) run on the mask, because the notes (GG-Net) make edge ground
// truth with Canny; it gives a one-pixel-thin contour. The blur is light on
// purpose: OpenCV's Canny, what segmentation code usually runs on masks, has
// no Gaussian step at all, and σ = 1 rounds off spicules thinner than two
// pixels. EdgeMorph instead
// gives the 3×3 morphological gradient (dilation minus erosion), a two-pixel
// band centred on the contour with no parameters, closer to what GG-Net's
// boundary module computes (F − maxpool(F)). Both run on the mask, not on the
// speckled image: they are labels, not detections.
package phantom

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/gostudy/gostudy/datasets/batching"
	"github.com/gostudy/gostudy/datasets/imgproc"
)

// EdgeMethod chooses how the boundary map is made from the mask.
type EdgeMethod int

// Edge methods.
const (
	// EdgeCanny runs Canny (σ 0.5 px, thresholds 0.08/0.16) on the 0/1 mask:
	// a one-pixel contour.
	EdgeCanny EdgeMethod = iota
	// EdgeMorph is dilation minus erosion with a 3×3 square: a two-pixel band.
	EdgeMorph
)

// Class is a BUSI-like label of a phantom.
type Class int

// Phantom classes, in BUSI's folder order.
const (
	Normal    Class = iota // no lesion
	Benign                 // only smooth lesions
	Malignant              // at least one irregular lesion
)

// String returns "normal", "benign" or "malignant".
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

// Config sets the generator. Start from DefaultConfig: zero is a meaningful
// value for most fields. Lengths given as fractions scale with Size, so a
// 128×128 phantom looks like an enlarged 64×64 one.
type Config struct {
	// Size is the image side in pixels (>= 16). Row 0 is the skin (shallow),
	// rows grow with depth.
	Size int
	// Seed makes the set reproducible: sample i depends only on (Seed, i).
	Seed uint64

	// ProbNormal is the probability that an image has no lesion.
	ProbNormal float64
	// MaxLesions bounds the lesion count, drawn uniformly in [1, MaxLesions].
	MaxLesions int
	// RadiusMin and RadiusMax bound a lesion's mean radius, as a fraction of
	// Size.
	RadiusMin, RadiusMax float64
	// ProbIrregular is the probability that a lesion has a spiculated margin.
	ProbIrregular float64
	// ContrastMin and ContrastMax bound the lesion's mean amplitude relative
	// to the tissue around it.
	ContrastMin, ContrastMax float64
	// BlurMin and BlurMax bound the margin width (logistic scale) in pixels
	// at Size 64; scaled with Size.
	BlurMin, BlurMax float64
	// ProbShadow is the probability that an irregular lesion casts a
	// posterior shadow; smooth lesions cast one with a quarter of it.
	ProbShadow float64
	// ProbEnhancement is the probability that a smooth lesion without shadow
	// shows posterior enhancement (brighter tissue behind it).
	ProbEnhancement float64
	// ProbLookalike is the probability of one or two dark spots that are not
	// lesions.
	ProbLookalike float64
	// ProbLigamentShadow is the probability of a vertical shadow band that no
	// lesion casts.
	ProbLigamentShadow float64
	// AttenuationMin and AttenuationMax bound α in exp(-α·depth/Size).
	AttenuationMin, AttenuationMax float64

	// Edge selects how Boundary is computed.
	Edge EdgeMethod

	// Homogeneous replaces the tissue by a constant amplitude
	// HomogeneousLevel with no lesions, look-alikes, shadows or attenuation:
	// only speckle, for checking its statistics.
	Homogeneous bool
	// HomogeneousLevel is the mean amplitude of a Homogeneous phantom.
	HomogeneousLevel float64
}

// DefaultConfig is the configuration the lessons and docs/datasets.md use.
func DefaultConfig() Config {
	return Config{
		Size:               64,
		Seed:               1,
		ProbNormal:         0.15,
		MaxLesions:         2,
		RadiusMin:          0.07,
		RadiusMax:          0.17,
		ProbIrregular:      0.45,
		ContrastMin:        0.15,
		ContrastMax:        0.40,
		BlurMin:            0.6,
		BlurMax:            1.6,
		ProbShadow:         0.7,
		ProbEnhancement:    0.4,
		ProbLookalike:      0.6,
		ProbLigamentShadow: 0.3,
		AttenuationMin:     0.3,
		AttenuationMax:     1.0,
		HomogeneousLevel:   0.3,
	}
}

// Validate reports the first out-of-range field.
func (c Config) Validate() error {
	prob := func(name string, p float64) error {
		if p < 0 || p > 1 || math.IsNaN(p) {
			return fmt.Errorf("phantom: %s = %g, want a probability in [0, 1]", name, p)
		}
		return nil
	}
	rng := func(name string, lo, hi, min, max float64) error {
		if !(lo >= min && lo <= hi && hi <= max) {
			return fmt.Errorf("phantom: %s range [%g, %g] must be ordered within [%g, %g]", name, lo, hi, min, max)
		}
		return nil
	}
	if c.Size < 16 {
		return fmt.Errorf("phantom: Size = %d, want >= 16", c.Size)
	}
	for _, e := range []error{
		prob("ProbNormal", c.ProbNormal), prob("ProbIrregular", c.ProbIrregular),
		prob("ProbShadow", c.ProbShadow), prob("ProbEnhancement", c.ProbEnhancement),
		prob("ProbLookalike", c.ProbLookalike), prob("ProbLigamentShadow", c.ProbLigamentShadow),
		rng("Radius", c.RadiusMin, c.RadiusMax, 0.01, 0.3),
		rng("Contrast", c.ContrastMin, c.ContrastMax, 0, 1),
		rng("Blur", c.BlurMin, c.BlurMax, 0.05, 10),
		rng("Attenuation", c.AttenuationMin, c.AttenuationMax, 0, 5),
	} {
		if e != nil {
			return e
		}
	}
	if c.MaxLesions < 1 && c.ProbNormal < 1 {
		return fmt.Errorf("phantom: MaxLesions = %d, want >= 1", c.MaxLesions)
	}
	if c.Homogeneous && (c.HomogeneousLevel <= 0 || c.HomogeneousLevel > 1) {
		return fmt.Errorf("phantom: HomogeneousLevel = %g, want in (0, 1]", c.HomogeneousLevel)
	}
	if c.Edge != EdgeCanny && c.Edge != EdgeMorph {
		return fmt.Errorf("phantom: unknown edge method %d", c.Edge)
	}
	return nil
}

// Spicule is a narrow radial spike of an irregular margin.
type Spicule struct {
	Angle, HalfWidth, Length float64 // radians, radians, fraction of the radius
}

// Lesion holds every parameter of one lesion, enough to redraw it.
type Lesion struct {
	CX, CY float64 // centre, pixels (x = column, y = row = depth)
	A, B   float64 // semi-axes before rotation, pixels
	Angle  float64 // rotation, radians
	// Harmonics are (k, amplitude, phase) terms of the radius profile
	// R(θ) = 1 + Σ amplitude·cos(kθ + phase) + spicules.
	Harmonics [][3]float64
	// Spicules are the radial spikes of an irregular margin.
	Spicules []Spicule
	// Irregular marks a spiculated (malignant-looking) lesion.
	Irregular bool
	// Contrast is the lesion's mean amplitude over the surrounding tissue's.
	Contrast float64
	// Blur is the logistic scale of the margin, pixels.
	Blur float64
	// Shadow > 0 is the strength of the posterior shadow (fraction removed);
	// Enhancement > 0 the fraction added behind the lesion.
	Shadow, Enhancement float64
}

// Radius is the lesion's mean radius sqrt(A·B) in pixels.
func (l *Lesion) Radius() float64 { return math.Sqrt(l.A * l.B) }

// SignedDistance is the distance in pixels from (x, y) to the lesion
// margin, positive inside. The margin is the zero set of the radial function
// f = (R(θ) − q)·Radius, with q the normalized elliptical radius and R the
// lobulated, spiculated radius profile; the distance is the first-order
// estimate f/|∇f| (exact for circles, within a few percent near the margin
// of ellipses and spicules, where a bare radial difference would overstate
// it along the flanks of a spicule).
func (l *Lesion) SignedDistance(x, y float64) float64 {
	dx, dy := x-l.CX, y-l.CY
	cs, sn := math.Cos(l.Angle), math.Sin(l.Angle)
	u, v := cs*dx+sn*dy, -sn*dx+cs*dy
	un, vn := u/l.A, v/l.B
	q := math.Hypot(un, vn)
	th := math.Atan2(vn, un)
	r, dr := 1.0, 0.0 // R(θ) and dR/dθ
	for _, h := range l.Harmonics {
		r += h[1] * math.Cos(h[0]*th+h[2])
		dr -= h[1] * h[0] * math.Sin(h[0]*th+h[2])
	}
	for _, s := range l.Spicules {
		d := math.Remainder(th-s.Angle, 2*math.Pi)
		e := s.Length * math.Exp(-(d*d)/(s.HalfWidth*s.HalfWidth))
		r += e
		dr -= e * 2 * d / (s.HalfWidth * s.HalfWidth)
	}
	rad := l.Radius()
	f := (r - q) * rad
	if q < 0.05 {
		return f // at the centre θ is undefined; deep inside, the radial value will do
	}
	// ∇f in (u, v): Radius·(R'(θ)∇θ − ∇q).
	gu := rad * (dr*(-vn/(q*q*l.A)) - un/(q*l.A))
	gv := rad * (dr*(un/(q*q*l.B)) - vn/(q*l.B))
	g := math.Hypot(gu, gv)
	if g < 1e-9 {
		return f
	}
	return f / g
}

// Membership is the soft lesion membership at (x, y): a logistic of the
// signed distance with scale Blur; 0.5 on the margin.
func (l *Lesion) Membership(x, y float64) float64 {
	return 1 / (1 + math.Exp(-l.SignedDistance(x, y)/l.Blur))
}

// Lookalike is a dark structure that is not a lesion.
type Lookalike struct {
	// Band is true for a vertical ligament shadow, false for a spot.
	Band     bool
	CX, CY   float64 // spot centre, or band column and starting depth
	Radius   float64 // spot radius or band half-width, pixels
	Contrast float64 // amplitude factor at the centre
}

// Sample is one phantom. All maps are Size×Size, row-major, row 0 shallow.
type Sample struct {
	// Index is the sample's number: it depends only on (Seed, Index).
	Index int
	// Size is the side of every map.
	Size int
	// Image is the B-mode amplitude in [0, 1].
	Image []float32
	// Echo is the noise-free mean amplitude: Image without speckle.
	Echo []float32
	// Soft is the lesion membership in [0, 1] (max over lesions); the mask
	// is Soft >= 0.5 (up to rounding). Raters with a threshold bias cut it
	// elsewhere.
	Soft []float32
	// Distance is the signed distance in pixels to the nearest lesion margin
	// (max over lesions of Lesion.SignedDistance), positive inside; -Size
	// everywhere when there is no lesion. Farther than max(12·Blur, 8·Size/64)
	// pixels outside a lesion's bounding circle it is only an upper bound
	// (more negative in truth). Mask is Distance >= 0; raters that
	// trace too wide or too tight cut it at another level.
	Distance []float32
	// Mask is the 0/1 lesion ground truth.
	Mask []uint8
	// Boundary is the 0/1 edge of Mask (see Config.Edge).
	Boundary []uint8
	// Lesions are the drawn lesions (they make up Mask).
	Lesions []Lesion
	// Lookalikes are the dark structures that are not in Mask.
	Lookalikes []Lookalike
	// Class is normal, benign or malignant.
	Class Class
	// Attenuation is the α used for depth attenuation.
	Attenuation float64
}

// Sample generates phantom i of the configuration.
func (c Config) Sample(i int) (*Sample, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c.sample(i), nil
}

// Generate returns phantoms 0..n-1, built in parallel.
func Generate(c Config, n int) ([]*Sample, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("phantom: cannot generate %d samples", n)
	}
	out := make([]*Sample, n)
	workers := min(runtime.GOMAXPROCS(0), max(n, 1))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				out[i] = c.sample(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, nil
}

// Phantom random stream tag, distinct from other packages' streams.
const streamPhantom = 0x7068616e746f6d

func (c Config) sample(index int) *Sample {
	n := c.Size
	sc := float64(n) / 64
	// Geometry and pixel noise come from separate streams, so the same
	// (Seed, index) at another Size is the same phantom, enlarged.
	rng := batching.RNG(c.Seed, streamPhantom, uint64(index), 0)
	noise := batching.RNG(c.Seed, streamPhantom, uint64(index), 1)
	s := &Sample{Index: index, Size: n}
	echo := make([]float64, n*n)
	soft := make([]float64, n*n)
	dist := make([]float64, n*n)
	for i := range dist {
		dist[i] = -float64(n)
	}

	if c.Homogeneous {
		for i := range echo {
			echo[i] = c.HomogeneousLevel
		}
	} else {
		c.tissue(rng, noise, echo, sc)
		s.Lesions = c.lesions(rng, sc)
		s.Lookalikes = c.lookalikes(rng, s.Lesions, sc)
		for k := range s.Lesions {
			applyLesion(&s.Lesions[k], echo, soft, dist, n)
		}
		for k := range s.Lookalikes {
			applyLookalike(&s.Lookalikes[k], echo, n)
		}
		s.Attenuation = c.AttenuationMin + rng.Float64()*(c.AttenuationMax-c.AttenuationMin)
		gain := 0.9 + 0.2*rng.Float64()
		for y := range n {
			att := gain * math.Exp(-s.Attenuation*float64(y)/float64(n))
			for x := range n {
				echo[y*n+x] *= att
			}
		}
	}

	speckle := speckleField(noise, n, sc)
	s.Image = make([]float32, n*n)
	s.Echo = make([]float32, n*n)
	s.Soft = make([]float32, n*n)
	s.Distance = make([]float32, n*n)
	s.Mask = make([]uint8, n*n)
	for i := range echo {
		s.Echo[i] = float32(echo[i])
		s.Image[i] = float32(min(max(echo[i]*speckle[i], 0), 1))
		s.Soft[i] = float32(soft[i])
		s.Distance[i] = float32(dist[i])
		if dist[i] >= 0 {
			s.Mask[i] = 1
		}
	}
	s.Boundary = Edges(s.Mask, n, c.Edge)
	s.Class = Normal
	for _, l := range s.Lesions {
		if l.Irregular {
			s.Class = Malignant
			break
		}
		s.Class = Benign
	}
	return s
}

// Edges computes a boundary map of a size×size mask with the given method.
func Edges(mask []uint8, size int, method EdgeMethod) []uint8 {
	if method == EdgeMorph {
		return imgproc.MorphGradient(mask, size, size)
	}
	f := make([]float32, len(mask))
	for i, v := range mask {
		f[i] = float32(v)
	}
	return imgproc.Canny(f, size, size, 0.5, 0.08, 0.16)
}

func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + r.Float64()*(hi-lo) }

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// tissue fills echo with layered breast tissue and slow texture.
func (c Config) tissue(r, noiseRNG *rand.Rand, echo []float64, sc float64) {
	n := c.Size
	fn := float64(n)
	skin := uniform(r, 0.025, 0.045) * fn
	fatBase, fatAmp, fatF, fatPh := uniform(r, 0.14, 0.24)*fn, uniform(r, 0.02, 0.05)*fn, uniform(r, 0.8, 2.2), uniform(r, 0, 2*math.Pi)
	glBase, glAmp, glF, glPh := uniform(r, 0.76, 0.86)*fn, uniform(r, 0.02, 0.05)*fn, uniform(r, 0.5, 1.5), uniform(r, 0, 2*math.Pi)
	lSkin, lFat, lGland, lMuscle := uniform(r, 0.5, 0.65), uniform(r, 0.16, 0.24), uniform(r, 0.34, 0.42), uniform(r, 0.24, 0.3)
	stripe, stripePh := uniform(r, 3, 5)*sc, uniform(r, 0, 2*math.Pi)
	edge := 1.2 * sc

	// Slow texture: white noise blurred to a few pixels, unit variance.
	noise := make([]float32, n*n)
	for i := range noise {
		noise[i] = float32(noiseRNG.NormFloat64())
	}
	sigma := 2.5 * sc
	tex := imgproc.GaussianBlur(noise, n, n, sigma)
	var ss float64
	for _, v := range tex {
		ss += float64(v) * float64(v)
	}
	norm := math.Sqrt(ss / float64(len(tex)))

	for y := range n {
		fy := float64(y)
		for x := range n {
			fx := float64(x) / fn
			fatEnd := fatBase + fatAmp*math.Sin(2*math.Pi*fatF*fx+fatPh)
			glEnd := glBase + glAmp*math.Sin(2*math.Pi*glF*fx+glPh)
			wSkin := 1 - sigmoid((fy-skin)/(0.5*sc))
			wFat := sigmoid((fy-skin)/(0.5*sc)) * (1 - sigmoid((fy-fatEnd)/edge))
			wGland := sigmoid((fy-fatEnd)/edge) * (1 - sigmoid((fy-glEnd)/edge))
			wMuscle := sigmoid((fy - glEnd) / edge)
			muscle := lMuscle * (1 + 0.18*math.Sin(2*math.Pi*fy/stripe+stripePh))
			v := wSkin*lSkin + wFat*lFat + wGland*lGland + wMuscle*muscle
			t := 1 + 0.12*float64(tex[y*n+x])/norm
			echo[y*n+x] = v * max(t, 0.5)
		}
	}
}

// lesions draws the lesion list of one image.
func (c Config) lesions(r *rand.Rand, sc float64) []Lesion {
	fn := float64(c.Size)
	if r.Float64() < c.ProbNormal {
		return nil
	}
	count := 1 + r.IntN(c.MaxLesions)
	var out []Lesion
	for range count {
		for try := 0; try < 30; try++ {
			l := Lesion{}
			r0 := uniform(r, c.RadiusMin, c.RadiusMax) * fn
			l.Irregular = r.Float64() < c.ProbIrregular
			var aspect float64 // B/A: < 1 is wider than tall
			if l.Irregular {
				aspect = uniform(r, 0.75, 1.3)
				l.Angle = uniform(r, -math.Pi, math.Pi)
			} else {
				aspect = uniform(r, 0.5, 0.9)
				l.Angle = uniform(r, -0.3, 0.3)
			}
			l.A, l.B = r0/math.Sqrt(aspect), r0*math.Sqrt(aspect)
			margin := r0 * 1.2
			l.CX = uniform(r, max(margin, 0.15*fn), min(fn-margin, 0.85*fn))
			l.CY = uniform(r, max(margin+0.2*fn, 0.3*fn), min(0.7*fn, fn-margin))
			if l.CY < 0 || l.CX < 0 {
				continue
			}
			if l.Irregular {
				for k := 2; k <= 6; k++ {
					l.Harmonics = append(l.Harmonics, [3]float64{float64(k), uniform(r, 0, 0.08), uniform(r, 0, 2*math.Pi)})
				}
				ns := 5 + r.IntN(6)
				for range ns {
					l.Spicules = append(l.Spicules, Spicule{
						Angle: uniform(r, -math.Pi, math.Pi), HalfWidth: uniform(r, 0.06, 0.14), Length: uniform(r, 0.25, 0.6),
					})
				}
				l.Blur = uniform(r, c.BlurMin, c.BlurMax) * sc * 1.25
			} else {
				for k := 2; k <= 3; k++ {
					l.Harmonics = append(l.Harmonics, [3]float64{float64(k), uniform(r, 0, 0.06), uniform(r, 0, 2*math.Pi)})
				}
				l.Blur = uniform(r, c.BlurMin, c.BlurMax) * sc
			}
			l.Contrast = uniform(r, c.ContrastMin, c.ContrastMax)
			pShadow := c.ProbShadow
			if !l.Irregular {
				pShadow /= 4
			}
			if r.Float64() < pShadow {
				l.Shadow = uniform(r, 0.35, 0.65)
			} else if !l.Irregular && r.Float64() < c.ProbEnhancement {
				l.Enhancement = uniform(r, 0.15, 0.35)
			}
			ok := true
			for _, o := range out {
				if math.Hypot(o.CX-l.CX, o.CY-l.CY) < 1.3*(o.Radius()+r0) {
					ok = false
					break
				}
			}
			if ok {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// lookalikes draws the dark spots and ligament shadows of one image.
func (c Config) lookalikes(r *rand.Rand, lesions []Lesion, sc float64) []Lookalike {
	fn := float64(c.Size)
	var out []Lookalike
	if r.Float64() < c.ProbLookalike {
		count := 1 + r.IntN(2)
		for range count {
			for try := 0; try < 30; try++ {
				rad := uniform(r, 0.03, 0.055) * fn
				la := Lookalike{CX: uniform(r, 0.1, 0.9) * fn, CY: uniform(r, 0.2, 0.85) * fn, Radius: rad, Contrast: uniform(r, 0.3, 0.6)}
				ok := true
				for _, l := range lesions {
					if math.Hypot(l.CX-la.CX, l.CY-la.CY) < 1.7*l.Radius()+2*rad+3*sc {
						ok = false
						break
					}
				}
				if ok {
					out = append(out, la)
					break
				}
			}
		}
	}
	if r.Float64() < c.ProbLigamentShadow {
		out = append(out, Lookalike{Band: true, CX: uniform(r, 0.1, 0.9) * fn, CY: uniform(r, 0.15, 0.5) * fn,
			Radius: uniform(r, 0.8, 1.6) * sc, Contrast: uniform(r, 0.45, 0.7)})
	}
	return out
}

// applyLesion darkens echo inside the lesion, adds its posterior effect and
// records its membership in soft and its signed distance in dist (max over
// lesions).
func applyLesion(l *Lesion, echo, soft, dist []float64, n int) {
	lateral := make([]float64, n)
	// Far outside the lesion the membership is below 1e-5 and the distance
	// only has to be a bound: skip the exact evaluation there.
	rmax := 1.0
	for _, h := range l.Harmonics {
		rmax += math.Abs(h[1])
	}
	for _, sp := range l.Spicules {
		rmax += sp.Length
	}
	reach := rmax*math.Max(l.A, l.B) + math.Max(12*l.Blur, 8*float64(n)/64)
	for y := range n {
		for x := range n {
			var d float64
			if c := math.Hypot(float64(x)+0.5-l.CX, float64(y)+0.5-l.CY); c > reach {
				d = -(c - rmax*math.Max(l.A, l.B))
			} else {
				d = l.SignedDistance(float64(x)+0.5, float64(y)+0.5)
			}
			m := 1 / (1 + math.Exp(-d/l.Blur))
			i := y*n + x
			soft[i] = max(soft[i], m)
			dist[i] = max(dist[i], d)
			echo[i] *= 1 - m*(1-l.Contrast)
			lateral[x] = max(lateral[x], m)
		}
	}
	if l.Shadow == 0 && l.Enhancement == 0 {
		return
	}
	// The shadow follows the lesion's width, softened by the beam width,
	// and fades in from the lesion's centre to its deepest point.
	lat32 := make([]float32, n)
	for x, v := range lateral {
		lat32[x] = float32(v)
	}
	lat32 = imgproc.GaussianBlur(lat32, 1, n, 1.0*float64(n)/64)
	depth := math.Max(l.A, l.B)
	for y := range n {
		t := (float64(y) + 0.5 - l.CY) / depth
		ramp := 0.0
		switch {
		case t >= 1:
			ramp = 1
		case t > 0:
			ramp = t * t * (3 - 2*t)
		}
		if ramp == 0 {
			continue
		}
		for x := range n {
			f := ramp * float64(lat32[x])
			if l.Shadow > 0 {
				echo[y*n+x] *= 1 - l.Shadow*f
			} else {
				echo[y*n+x] *= 1 + l.Enhancement*f
			}
		}
	}
}

// applyLookalike darkens echo for a spot or a ligament shadow band.
func applyLookalike(la *Lookalike, echo []float64, n int) {
	for y := range n {
		for x := range n {
			fx, fy := float64(x)+0.5, float64(y)+0.5
			var w float64
			if la.Band {
				d := (fx - la.CX) / la.Radius
				w = math.Exp(-d*d) * sigmoid((fy-la.CY)/1.5)
			} else {
				d := math.Hypot(fx-la.CX, fy-la.CY) / la.Radius
				w = math.Exp(-d * d * d * d / 2)
			}
			echo[y*n+x] *= 1 - w*(1-la.Contrast)
		}
	}
}

// speckleField returns n×n Rayleigh speckle with mean 1: the modulus of
// circular complex Gaussian noise filtered by a separable Gaussian PSF whose
// taps have unit energy, divided by √π/2.
func speckleField(r *rand.Rand, n int, sc float64) []float64 {
	kx := unitEnergyGaussian(0.9 * sc) // lateral: wider
	ky := unitEnergyGaussian(0.5 * sc) // axial: narrower
	px, py := len(kx)/2, len(ky)/2
	W, H := n+2*px, n+2*py
	re := make([]float64, W*H)
	im := make([]float64, W*H)
	for i := range re {
		re[i] = r.NormFloat64() * math.Sqrt2 / 2
		im[i] = r.NormFloat64() * math.Sqrt2 / 2
	}
	// Filter along x (valid columns only), then along y.
	tr := make([]float64, n*H)
	ti := make([]float64, n*H)
	for y := range H {
		for x := range n {
			var a, b float64
			for k, kv := range kx {
				a += kv * re[y*W+x+k]
				b += kv * im[y*W+x+k]
			}
			tr[y*n+x], ti[y*n+x] = a, b
		}
	}
	out := make([]float64, n*n)
	scale := 2 / math.Sqrt(math.Pi)
	for y := range n {
		for x := range n {
			var a, b float64
			for k, kv := range ky {
				a += kv * tr[(y+k)*n+x]
				b += kv * ti[(y+k)*n+x]
			}
			out[y*n+x] = math.Hypot(a, b) * scale
		}
	}
	return out
}

// unitEnergyGaussian returns Gaussian taps (radius ceil(3σ), at least 1)
// with sum of squares 1, so filtered white noise keeps its variance.
func unitEnergyGaussian(sigma float64) []float64 {
	rad := max(int(math.Ceil(3*sigma)), 1)
	k := make([]float64, 2*rad+1)
	var ss float64
	for i := range k {
		d := float64(i - rad)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		ss += k[i] * k[i]
	}
	for i := range k {
		k[i] /= math.Sqrt(ss)
	}
	return k
}

// LesionContrast measures lesion k's contrast the way a reader would: the
// mean of the core (membership >= 0.9) over the mean of a surrounding ring
// (outside the margin by at least 2·Blur+1 pixels and at most
// max(0.5·radius, 3) more), both restricted to the half above the lesion centre so that
// its own posterior shadow or enhancement does not count, and the ring kept
// away from other lesions. It returns the ratio on the speckled Image and on
// the noise-free Echo, and the pixel counts used.
func (s *Sample) LesionContrast(k int) (image, echo float64, core, ring int, err error) {
	if k < 0 || k >= len(s.Lesions) {
		return 0, 0, 0, 0, fmt.Errorf("phantom: sample %d has no lesion %d", s.Index, k)
	}
	l := &s.Lesions[k]
	n := s.Size
	inner := 2*l.Blur + 1
	outer := inner + max(0.5*l.Radius(), 3)
	var ci, ce, ri, re float64
	for y := range n {
		fy := float64(y) + 0.5
		if fy > l.CY {
			break
		}
		for x := range n {
			i := y*n + x
			d := l.SignedDistance(float64(x)+0.5, fy)
			switch {
			case l.Membership(float64(x)+0.5, fy) >= 0.9:
				ci += float64(s.Image[i])
				ce += float64(s.Echo[i])
				core++
			case -d >= inner && -d <= outer && s.Soft[i] < 0.05:
				ri += float64(s.Image[i])
				re += float64(s.Echo[i])
				ring++
			}
		}
	}
	if core == 0 || ring == 0 {
		return 0, 0, core, ring, fmt.Errorf("phantom: sample %d lesion %d: empty core (%d px) or ring (%d px)", s.Index, k, core, ring)
	}
	return (ci / float64(core)) / (ri / float64(ring)), (ce / float64(core)) / (re / float64(ring)), core, ring, nil
}
