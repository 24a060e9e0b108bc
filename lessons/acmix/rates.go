package acmix

import "github.com/gostudy/gostudy/pkg/experiment"

// RateStat is one ACmix module's α and β over seeds.
type RateStat struct {
	Block string `display:"block"`
	Side  int    `display:"map side"`
	// Alpha (attention) and Beta (conv) over the seeds; ConvShare is β/(α+β) per seed.
	Alpha     experiment.Stat `display:"α (attention)"`
	Beta      experiment.Stat `display:"β (conv)"`
	ConvShare experiment.Stat `display:"β / (α + β)"`
}

// SummarizeRates pools the rates of several seeds of one network, block by block.
func SummarizeRates(seeds [][]Rate) []RateStat {
	if len(seeds) == 0 {
		return nil
	}
	var out []RateStat
	for i, r := range seeds[0] {
		var a, b, share []float64
		for _, s := range seeds {
			a, b = append(a, s[i].Alpha), append(b, s[i].Beta)
			share = append(share, s[i].Beta/(s[i].Alpha+s[i].Beta))
		}
		out = append(out, RateStat{Block: r.Block, Side: r.Side, Alpha: experiment.NewStat(a), Beta: experiment.NewStat(b),
			ConvShare: experiment.NewStat(share)})
	}
	return out
}

// EarlyLate is the conv path's mean share β/(α+β) in the first stage's modules and in the last
// stage's, per seed: the paper reports convolution dominating early layers, so early > late.
func EarlyLate(seeds [][]Rate, net Net) (early, late experiment.Stat) {
	first, last := net.Depths[0], net.Depths[len(net.Depths)-1]
	var e, l []float64
	for _, s := range seeds {
		var se, sl float64
		for i, r := range s {
			share := r.Beta / (r.Alpha + r.Beta)
			if i < first {
				se += share / float64(first)
			}
			if i >= len(s)-last {
				sl += share / float64(last)
			}
		}
		e, l = append(e, se), append(l, sl)
	}
	return experiment.NewStat(e), experiment.NewStat(l)
}
