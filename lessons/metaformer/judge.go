package metaformer

import (
	"fmt"

	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// MixerVerdict is one mixer's test accuracy against PoolFormer's pooling.
type MixerVerdict struct {
	Mixer string
	Acc   experiment.Stat
	// VsPooling is lesson.Versus(Acc, pooling's).
	VsPooling lesson.Diff
}

// Skeleton answers "does the skeleton matter more than the mixer?" from the mixer arms.
type Skeleton struct {
	Mixers []MixerVerdict
	// Spread is (best − worst) mean accuracy among the mixers that mix tokens, in points;
	// IdentityGap is the best of them minus the identity mixer, in points.
	Spread, IdentityGap float64
	// Best and Worst name the mixers of Spread.
	Best, Worst string
}

// JudgeMixers compares the mixer arms (Config.MixerArms' results; pooling and identity among them).
func JudgeMixers(results []lesson.Result[RunConfig]) (Skeleton, error) {
	var s Skeleton
	var pool, id *experiment.Stat
	for _, r := range results {
		a := r.Acc()
		switch r.Config.TokenMixer {
		case nn.MixerPooling:
			pool = &a
		case nn.MixerIdentity:
			id = &a
		}
	}
	if pool == nil || id == nil {
		return s, fmt.Errorf("judge mixers: need the pooling and identity arms among %d results", len(results))
	}
	first := true
	for _, r := range results {
		a := r.Acc()
		s.Mixers = append(s.Mixers, MixerVerdict{Mixer: r.Config.TokenMixer, Acc: a, VsPooling: lesson.Versus(a, *pool)})
		if r.Config.TokenMixer == nn.MixerIdentity {
			continue
		}
		if first || a.Mean > accOf(results, s.Best) {
			s.Best = r.Config.TokenMixer
		}
		if first || a.Mean < accOf(results, s.Worst) {
			s.Worst = r.Config.TokenMixer
		}
		first = false
	}
	s.Spread = 100 * (accOf(results, s.Best) - accOf(results, s.Worst))
	s.IdentityGap = 100 * (accOf(results, s.Best) - id.Mean)
	return s, nil
}

func accOf(results []lesson.Result[RunConfig], mixer string) float64 {
	for _, r := range results {
		if r.Config.TokenMixer == mixer {
			return r.Acc().Mean
		}
	}
	return 0
}
