package metaformer

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

func goBackend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := countingBackend()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testSet(t testing.TB) *mnist.Set {
	t.Helper()
	s, err := mnist.Load(mnist.Test)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDumpMatchesTheNotes(t *testing.T) {
	d := CompareDump()
	if len(d.Notes) != 195 || len(d.Mismatches) != 0 {
		t.Errorf("%d lines in the notes, %d ours, mismatches at %v", len(d.Notes), len(d.Ours), d.Mismatches)
	}
	if d.Components != 7 || d.PatchEmbeds != 3 || d.Blocks != 12 {
		t.Errorf("%d components, %d PatchEmbeds, %d blocks; the notes count 7 = 4 stages + 3 PatchEmbeds, 2+2+6+2 blocks",
			d.Components, d.PatchEmbeds, d.Blocks)
	}
}

func TestAnatomyOfS12(t *testing.T) {
	layers, err := Anatomy(nn.PoolFormerS12(), 224)
	if err != nil {
		t.Fatal(err)
	}
	embeds := 0
	for _, l := range layers {
		isEmbed := slices.Contains([]string{"stage 2 PatchEmbed (3×3, stride 2)", "stage 3 PatchEmbed (3×3, stride 2)",
			"stage 4 PatchEmbed (3×3, stride 2)"}, l.Layer)
		switch {
		case isEmbed || l.Layer == "stem (7×7, stride 4)":
			embeds++
			if l.Norms != "none" || l.In == l.Out {
				t.Errorf("%+v: a patch embedding changes the width and has no norm", l)
			}
		default:
			if l.In != l.Out || l.Norms != "norm1, norm2" {
				t.Errorf("%+v: a block keeps its width and normalises twice", l)
			}
		}
	}
	if embeds != 4 || len(layers) != 4+12 {
		t.Errorf("%d layers, %d embeddings: %+v", len(layers), embeds, layers)
	}
}

func TestPoolIdentity(t *testing.T) {
	x, _, err := lesson.Digits(testSet(t), 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ProvePoolIdentity(goBackend(t), x)
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxAbsPool < 0.1 || p.MaxAbsDiff > 1e-5*p.MaxAbsPool || p.MixerOnly < 0.1 {
		t.Errorf("%+v", p)
	}
}

func TestMixerArmsHaveEqualParameters(t *testing.T) {
	cfg := ForBudget(lesson.Test)
	arms, err := cfg.MixerArms()
	if err != nil {
		t.Fatal(err)
	}
	target, err := CostOf(cfg.Run)
	if err != nil {
		t.Fatal(err)
	}
	if len(arms) != 5 || arms[0].Config.TokenMixer != nn.MixerPooling || arms[0].Config.MLPRatio != 4 {
		t.Fatalf("arms %v", arms)
	}
	for _, a := range arms {
		c, err := CostOf(a.Config)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-28s %v", a.Name, c)
		if d := math.Abs(float64(c.Params)/float64(target.Params) - 1); d > 0.01 {
			t.Errorf("%s: %d parameters, %.1f%% from the pooling network's %d", a.Name, c.Params, 100*d, target.Params)
		}
		if err := a.Config.Validate(); err != nil {
			t.Error(err)
		}
		// The mixers with parameters pay with a narrower MLP.
		if (a.Config.TokenMixer == nn.MixerAttention || a.Config.TokenMixer == nn.MixerDepthwise) && a.Config.MLPRatio >= 4 {
			t.Errorf("%s: MLP ratio %g", a.Name, a.Config.MLPRatio)
		}
	}
	if r := cfg.RatioArms(); len(r) != 3 || r[2].Config.MLPRatio != 4 || mustID(t, r[2].Config) != mustID(t, arms[0].Config) {
		t.Errorf("ratio arms %v: the ×4 arm should be the pooling arm", r)
	}
}

func mustID(t *testing.T, c RunConfig) string {
	id, err := experiment.ConfigID(c)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestForBudget(t *testing.T) {
	var prev *Config
	for _, b := range lesson.Budgets {
		c := ForBudget(b)
		if err := c.Run.Validate(); err != nil {
			t.Errorf("%s: %v", b, err)
		}
		if c.Run.MaxShift != 0 {
			t.Errorf("%s: trained with shifts; section 5 needs unshifted training", b)
		}
		if prev != nil && (prev.Run.TrainSize > c.Run.TrainSize || prev.Seeds > c.Seeds || prev.TestImages > c.TestImages ||
			!slices.Equal(prev.Run.Dims, c.Run.Dims)) {
			t.Errorf("%s is not smaller than %s, or trains another network", prev.Budget, b)
		}
		prev = &c
	}
}

func TestShiftDigits(t *testing.T) {
	x, _, err := lesson.Digits(testSet(t), 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	y, err := ShiftDigits(x, 2, -3)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := tensors.CopyFlatData[float32](x)
	b, _ := tensors.CopyFlatData[float32](y)
	bg := slices.Min(a[784:])
	if b[784+(14+2)*28+(10-3)] != a[784+14*28+10] || b[784+0*28+5] != bg || b[784+10*28+27] != bg {
		t.Error("shift by (2, −3) wrong")
	}
}

func TestShiftedAccuracyAndMixing(t *testing.T) {
	cfg := ForBudget(lesson.Test)
	set := testSet(t)
	// An untrained network: the point is the plumbing (four directions, one per shift).
	s, err := ShiftedAccuracy(context.Background(), goBackend(t), model.NewStore(), cfg.Run, set, 20, []int{0, 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 2 || s[1].Pixels != 3 || s[0].Acc < 0 || s[0].Acc > 1 {
		t.Errorf("%+v", s)
	}
	mlp, att := cfg.Run, cfg.Run
	mlp.TokenMixer, att.TokenMixer = nn.MixerSpatialMLP, nn.MixerAttention
	stores := map[string]*model.Store{}
	for name, c := range map[string]RunConfig{"mlp": mlp, "att": att} {
		st := model.NewStore()
		if _, err := nn.Build(goBackend(t), st, c.Logits, shapeOf(1, 28, 28, 1)); err != nil {
			t.Fatal(err)
		}
		if err := st.InitializeVariables(goBackend(t), nil); err != nil {
			t.Fatal(err)
		}
		stores[name] = st
	}
	a, _, _ := lesson.Digits(set, 0, 1)
	b, _, _ := lesson.Digits(set, 1, 1)
	m, err := MixingMatrices(goBackend(t), stores["mlp"], stores["att"], att, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Tokens != 49 || len(m.AttentionA) != 49 || math.Abs(m.MeanAttention-1.0/49) > 1e-4 || m.AttentionChange <= 0 {
		t.Errorf("tokens %d, mean attention %g (rows sum to 1), change %g", m.Tokens, m.MeanAttention, m.AttentionChange)
	}
}

func TestJudgeMixers(t *testing.T) {
	cfg := ForBudget(lesson.Test)
	mk := func(mixer string, accs ...float64) lesson.Result[RunConfig] {
		c := cfg.Run
		c.TokenMixer = mixer
		var recs []*experiment.Record
		for _, a := range accs {
			recs = append(recs, &experiment.Record{Status: experiment.StatusDone, Final: map[string]float64{"acc": a}})
		}
		s, err := experiment.Summarize(recs)
		if err != nil {
			t.Fatal(err)
		}
		return lesson.Result[RunConfig]{Arm: lesson.Arm[RunConfig]{Name: mixer, Config: c}, Summary: s}
	}
	s, err := JudgeMixers([]lesson.Result[RunConfig]{mk(nn.MixerPooling, 0.90, 0.91), mk(nn.MixerIdentity, 0.80, 0.81),
		mk(nn.MixerAttention, 0.92, 0.93), mk(nn.MixerSpatialMLP, 0.89, 0.90)})
	if err != nil {
		t.Fatal(err)
	}
	if s.Best != nn.MixerAttention || s.Worst != nn.MixerSpatialMLP || math.Abs(s.Spread-3) > 1e-9 || math.Abs(s.IdentityGap-12) > 1e-9 {
		t.Errorf("%+v", s)
	}
	if s.Mixers[1].VsPooling.Verdict != lesson.Lower {
		t.Errorf("identity vs pooling: %v", s.Mixers[1].VsPooling)
	}
	if _, err := JudgeMixers(nil); err == nil {
		t.Error("no arms accepted")
	}
}
