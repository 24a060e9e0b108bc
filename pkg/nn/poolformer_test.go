package nn

import (
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
)

// TestPoolingMixerBorders checks pool(x) − x by hand on a 3×3 map: a corner averages its 4
// neighbours (padding left out), the centre all 9.
func TestPoolingMixerBorders(t *testing.T) {
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		exec, err := graph.NewExec(b.Backend, func(x *graph.Node) *graph.Node { return PoolingMixer(x, 3) })
		if err != nil {
			t.Fatal(err)
		}
		y, err := exec.Call1(tensors.FromFlatDataAndDimensions(x, 1, 3, 3, 1))
		if err != nil {
			t.Fatal(err)
		}
		got := tensors.MustCopyFlatData[float32](y)
		want := map[int]float32{
			0: (1+2+4+5)/4.0 - 1, // corner: 4 values, not 9 with zeros
			1: (1+2+3+4+5+6)/6.0 - 2,
			4: 45/9.0 - 5,
		}
		for i, w := range want {
			if d := got[i] - w; d > 1e-6 || d < -1e-6 {
				t.Errorf("pool(x)-x at %d = %g, want %g", i, got[i], w)
			}
		}
	})
}

// notesDumpS12 is an excerpt of the notes' dump of poolformer_s12's network (components 0, 1
// and the start of 6), indentation dropped as in the notes.
const notesDumpS12 = `*block 0*
Sequential(
(0): PoolFormerBlock(
(norm1): GroupNorm(1, 64, eps=1e-05, affine=True)
(token_mixer): Pooling(
(pool): AvgPool2d(kernel_size=3, stride=1, padding=1)
)
(norm2): GroupNorm(1, 64, eps=1e-05, affine=True)
(mlp): Mlp(
(fc1): Conv2d(64, 256, kernel_size=(1, 1), stride=(1, 1))
(act): GELU()
(fc2): Conv2d(256, 64, kernel_size=(1, 1), stride=(1, 1))
(drop): Dropout(p=0.0, inplace=False)
)
(drop_path): Identity()
)
(1): PoolFormerBlock(
(norm1): GroupNorm(1, 64, eps=1e-05, affine=True)
(token_mixer): Pooling(
(pool): AvgPool2d(kernel_size=3, stride=1, padding=1)
)
(norm2): GroupNorm(1, 64, eps=1e-05, affine=True)
(mlp): Mlp(
(fc1): Conv2d(64, 256, kernel_size=(1, 1), stride=(1, 1))
(act): GELU()
(fc2): Conv2d(256, 64, kernel_size=(1, 1), stride=(1, 1))
(drop): Dropout(p=0.0, inplace=False)
)
(drop_path): Identity()
)
)
*block 1*
PatchEmbed(
(proj): Conv2d(64, 128, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))
(norm): Identity()
)`

func TestPoolFormerS12SummaryMatchesNotes(t *testing.T) {
	got := PoolFormerS12().NetworkSummary()
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
		lines = append(lines, strings.TrimSpace(l))
	}
	flat := strings.Join(lines, "\n")
	if !strings.HasPrefix(flat, notesDumpS12) {
		t.Errorf("summary does not start like the notes' dump:\n%s", flat[:min(len(flat), 1500)])
	}
	// 7 components (4 stages + 3 PatchEmbeds) and 2+2+6+2 blocks, as the notes count them.
	if n := strings.Count(flat, "*block "); n != 7 {
		t.Errorf("%d components, want 7", n)
	}
	if n := strings.Count(flat, "PoolFormerBlock("); n != 12 {
		t.Errorf("%d blocks, want 12", n)
	}
	for _, want := range []string{
		"(proj): Conv2d(128, 320, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))",
		"(fc1): Conv2d(512, 2048, kernel_size=(1, 1), stride=(1, 1))",
		"*block 6*",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}
