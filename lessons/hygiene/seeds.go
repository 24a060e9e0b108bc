package hygiene

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/ablation"
	"github.com/gostudy/gostudy/pkg/experiment"
	"gonum.org/v1/gonum/stat/distuv"
)

// Spread is where the runs of one config over many seeds land: what a "good run" is worth.
type Spread struct {
	// Acc holds the test accuracies, in seed order (seed i at index i), with their mean ± std.
	Acc experiment.Stat
	// Best and Worst are the seeds of the highest and lowest accuracy.
	Best, Worst int
	// BestZ is how many standard deviations the best run sits above the mean; ExpectedBestZ is
	// what the best of this many draws from a normal distribution is expected to reach.
	BestZ, ExpectedBestZ float64
	// FirstRank is the rank of seed 0 (1 = best): where the run someone ran once would sit.
	FirstRank int
}

// MeasureSpread summarizes the test accuracies of one config's runs in seed order.
func MeasureSpread(acc []float64) (Spread, error) {
	if len(acc) < 2 {
		return Spread{}, fmt.Errorf("spread of %d runs: need at least 2", len(acc))
	}
	s := Spread{Acc: experiment.NewStat(acc), ExpectedBestZ: ExpectedMaxZ(len(acc)), FirstRank: 1}
	for i, a := range acc {
		if a > acc[s.Best] {
			s.Best = i
		}
		if a < acc[s.Worst] {
			s.Worst = i
		}
		if i > 0 && a > acc[0] {
			s.FirstRank++
		}
	}
	if s.Acc.Std > 0 {
		s.BestZ = (acc[s.Best] - s.Acc.Mean) / s.Acc.Std
	}
	return s, nil
}

// ExpectedMaxZ is E[max of n independent standard normal draws]: ∫ z · n·φ(z)·Φ(z)^(n−1) dz,
// integrated numerically (0 for n = 1, 1/√π ≈ 0.564 for n = 2, ≈ 1.539 for n = 10).
func ExpectedMaxZ(n int) float64 {
	if n <= 1 {
		return 0
	}
	const lo, hi, steps = -10.0, 10.0, 20000
	h := (hi - lo) / steps
	sum := 0.0
	for i := range steps + 1 {
		z := lo + float64(i)*h
		w := 1.0
		if i == 0 || i == steps {
			w = 0.5
		}
		sum += w * z * float64(n) * distuv.UnitNormal.Prob(z) * math.Pow(distuv.UnitNormal.CDF(z), float64(n-1))
	}
	return sum * h
}

// Power is the chance the lessons' verdict rule finds a real difference; 0.8 is the usual aim.
const Power = 0.8

// zVerdict is the threshold of lesson.Versus: a difference counts when it exceeds two standard
// errors (a two-sided test at about the 5% level).
const zVerdict = 2.0

// SeedsToDetect is the number of seeds per arm with which a true difference of delta (same
// units as sigma, the seed-to-seed standard deviation of one arm) exceeds two standard errors
// with probability power: n = 2·((2 + z_power)·σ/δ)², rounded up, from the normal
// approximation (it is optimistic for a handful of seeds, where the sample standard deviations
// are themselves noisy; [SimulatePower] checks it).
func SeedsToDetect(sigma, delta, power float64) (int, error) {
	if sigma < 0 || delta <= 0 || power <= 0 || power >= 1 {
		return 0, fmt.Errorf("seeds to detect δ=%g with σ=%g at power %g: need σ ≥ 0, δ > 0, 0 < power < 1", delta, sigma, power)
	}
	z := zVerdict + distuv.UnitNormal.Quantile(power)
	return max(2, int(math.Ceil(2*math.Pow(z*sigma/delta, 2)))), nil
}

// Detectable is the smallest true difference that n seeds per arm find with probability power,
// for a seed-to-seed standard deviation sigma: (2 + z_power)·σ·√(2/n).
func Detectable(sigma float64, n int, power float64) float64 {
	return (zVerdict + distuv.UnitNormal.Quantile(power)) * sigma * math.Sqrt(2/float64(n))
}

// SimulatePower draws trials comparisons of two arms of n seeds each, normal with standard
// deviation sigma and means delta apart, and returns the fraction that lesson.Versus calls
// "higher": the power of the lessons' verdict rule, with the noise of the sample standard
// deviations included.
func SimulatePower(sigma, delta float64, n, trials int, seed uint64) float64 {
	rng := rand.New(rand.NewPCG(seed, 0x706f776572))
	draw := func(mean float64) experiment.Stat {
		v := make([]float64, n)
		for i := range v {
			v[i] = mean + sigma*rng.NormFloat64()
		}
		return experiment.NewStat(v)
	}
	hits := 0
	for range trials {
		if lesson.Versus(draw(delta), draw(0)).Verdict == lesson.Higher {
			hits++
		}
	}
	return float64(hits) / float64(trials)
}

// Sources is the seed-to-seed spread with one source of randomness varied at a time: the
// initial weights (run seed varied, data order fixed) and the data order (run seed fixed, data
// seed varied), next to both varied together.
type Sources struct {
	Init, Data, Both experiment.Stat
}

// InitShare is the initial weights' share of the variance of the two sources taken alone,
// σ²_init / (σ²_init + σ²_data); NaN when both are 0.
func (s Sources) InitShare() float64 {
	vi, vd := s.Init.Std*s.Init.Std, s.Data.Std*s.Data.Std
	return vi / (vi + vd)
}

// Larger names the source whose σ is larger by more than twice the standard error of the
// difference of the two σ (each σ's standard error is σ·[StdRelErr]): "initial weights", "data
// order", or [lesson.WithinNoise].
func (s Sources) Larger() string {
	ei, ed := s.Init.Std*StdRelErr(s.Init.N()), s.Data.Std*StdRelErr(s.Data.N())
	d := s.Init.Std - s.Data.Std
	switch {
	case math.Abs(d) <= 2*math.Sqrt(ei*ei+ed*ed) || math.IsNaN(d):
		return lesson.WithinNoise
	case d > 0:
		return "initial weights"
	default:
		return "data order"
	}
}

// StdRelErr is the relative standard error of a standard deviation estimated from n values of
// a normal distribution, 1/√(2(n−1)): with five seeds a measured σ is uncertain by about 35%.
func StdRelErr(n int) float64 {
	if n < 2 {
		return math.Inf(1)
	}
	return 1 / math.Sqrt(2*float64(n-1))
}

// InitOnly is base with the data order pinned to data seed 0, so that the run's seed varies
// only the initial weights; DataSeeds is the axis that varies the data order of it instead
// (data seeds 0 … n−1; run seed 0 with data seed 0 belongs to both studies).
func InitOnly(base RunConfig) RunConfig {
	base.DataSeed = 0
	return base
}

// DataSeeds is the sweep axis "data_seed" over 0 … n−1.
func DataSeeds(n int) ablation.Axis {
	a := ablation.Axis{Key: "data_seed"}
	for d := range n {
		a.Values = append(a.Values, strconv.Itoa(d))
	}
	return a
}
