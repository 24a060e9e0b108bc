package ensembles

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

func goBackend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := countingBackend()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testDigits(t testing.TB, n int) (*mnist.Set, *tensors.Tensor) {
	t.Helper()
	s, err := mnist.Load(mnist.Test)
	if err != nil {
		t.Fatal(err)
	}
	x, _, err := lesson.Digits(s, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	return s, x
}

func TestForBudget(t *testing.T) {
	var cfgs []Config
	for _, b := range lesson.Budgets {
		cfgs = append(cfgs, ForBudget(b))
	}
	for i, c := range cfgs {
		arms := c.Arms()
		if len(arms) != 4 || arms[0].Config.Arch != ArchResNet {
			t.Errorf("%s: arms %v", c.Budget, arms)
		}
		for _, a := range arms {
			if err := a.Config.Validate(); err != nil {
				t.Errorf("%s %s: %v", c.Budget, a.Name, err)
			}
			if a.Config.Arch != ArchDenseNet && (!slices.Equal(a.Config.Blocks, c.Run.Blocks) || !slices.Equal(a.Config.Widths, c.Run.Widths)) {
				t.Errorf("%s differs from the ResNet in more than its block", a.Name)
			}
		}
		if i > 0 {
			small := cfgs[i-1]
			if small.Run.TrainSize > c.Run.TrainSize || small.Seeds > c.Seeds || small.TestImages > c.TestImages || small.Draws > c.Draws {
				t.Errorf("%s is not smaller than %s", small.Budget, c.Budget)
			}
		}
	}
	// The DenseNet is compared at about the ResNet's parameters.
	c := cfgs[0]
	res, err := CostOf(c.Run.Net)
	if err != nil {
		t.Fatal(err)
	}
	den, err := CostOf(c.DenseNet)
	if err != nil {
		t.Fatal(err)
	}
	if r := float64(den.Params) / float64(res.Params); math.Abs(r-1) > 0.05 {
		t.Errorf("densenet %v vs resnet %v: %.2f× the parameters", den, res, r)
	}
	if _, err := CostOf(Net{Arch: "vgg"}); err == nil {
		t.Error("unknown arch accepted")
	}
}

func TestBlockList(t *testing.T) {
	bl := ForBudget(lesson.Test).Run.BlockList()
	var down []string
	for _, b := range bl {
		if b.Downsampling() {
			down = append(down, b.Name)
		}
	}
	if len(bl) != 9 || bl[3].Name != "layer2.0" || !slices.Equal(down, []string{"layer2.0", "layer3.0"}) {
		t.Errorf("blocks %v, downsampling %v", bl, down)
	}
}

// LogitsKeeping with every block kept is the trained network; a deleted post-activation block is
// the block with its residual branch zeroed (its last BN's γ and β set to 0), a deleted
// pre-activation block the block with its last conv zeroed.
func TestLogitsKeeping(t *testing.T) {
	_, x := testDigits(t, 4)
	for _, arch := range []string{ArchResNet, ArchPreAct, ArchPlain} {
		net := ForBudget(lesson.Test).Run.Net
		net.Arch = arch
		store := model.NewStore()
		keep := func(del int) *tensors.Tensor {
			k := make([]float32, 9)
			for i := range k {
				if i != del {
					k[i] = 1
				}
			}
			return tensors.FromFlatDataAndDimensions(k, 9)
		}
		exec, err := model.NewExec(goBackend(t), store, func(s *model.Scope, x, k *graph.Node) []*graph.Node {
			return []*graph.Node{net.Logits(s, x), net.LogitsKeeping(s.ResetVisited(), x, k)}
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Call(x, keep(-1))
		if err != nil {
			t.Fatal(err)
		}
		a, _ := tensors.CopyFlatData[float32](out[0])
		b, _ := tensors.CopyFlatData[float32](out[1])
		if d := maxDiff(a, b); d > 1e-5 {
			t.Errorf("%s: all kept differs from Logits by %g", arch, d)
		}
		out, err = exec.Call(x, keep(1))
		if err != nil {
			t.Fatal(err)
		}
		deleted, _ := tensors.CopyFlatData[float32](out[1])
		if maxDiff(a, deleted) < 1e-4 {
			t.Errorf("%s: deleting layer1.1 changed nothing", arch)
		}
		if arch == ArchPlain {
			exec.Finalize()
			continue
		}
		// Zero the residual branch of layer1.1 and keep every block: the same as deleting it.
		var zero []string
		if arch == ArchResNet {
			zero = []string{"/layer1/1/bn2/weight", "/layer1/1/bn2/bias"}
		} else {
			zero = []string{"/layer1/1/conv2/weight"}
		}
		for _, p := range zero {
			v := store.GetVariable(p)
			if err := v.SetValue(tensors.FromShape(v.Shape())); err != nil {
				t.Fatal(err)
			}
		}
		out, err = exec.Call(x, keep(-1))
		if err != nil {
			t.Fatal(err)
		}
		zeroed, _ := tensors.CopyFlatData[float32](out[1])
		if d := maxDiff(zeroed, deleted); d > 1e-5 {
			t.Errorf("%s: deleting layer1.1 ≠ zeroing its residual branch (%g)", arch, d)
		}
		exec.Finalize()
	}
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func TestDelete(t *testing.T) {
	set, _ := testDigits(t, 1)
	net := ForBudget(lesson.Test).Run.Net
	d, err := Delete(context.Background(), goBackend(t), model.NewStore(), net, set, 20, 1, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Single) != 9 || len(d.Multi) != 8 || d.Multi[0].Acc != d.Intact || d.Multi[0].K != 0 || d.Multi[7].K != 7 {
		t.Fatalf("deletion %+v", d)
	}
	if d.Retained(0) != 1 && d.Intact > Chance {
		t.Errorf("retained with nothing deleted: %g", d.Retained(0))
	}
	if r := (Deletion{Intact: 0.9, Multi: []Multi{{0, 0.9}, {1, 0.5}}}).Retained(1); math.Abs(r-0.5) > 1e-12 {
		t.Errorf("retained %g, want (0.5 − 0.1)/(0.9 − 0.1) = 0.5", r)
	}
	for _, s := range d.Single {
		if math.Abs(s.Drop-(d.Intact-s.Acc)) > 1e-12 || s.Downsampling != (s.Block == "layer2.0" || s.Block == "layer3.0") {
			t.Errorf("%+v", s)
		}
	}
	dn := ForBudget(lesson.Test).DenseNet
	if _, err := Delete(context.Background(), goBackend(t), model.NewStore(), dn, set, 20, 1, 7); err == nil {
		t.Error("deleting blocks of a densenet accepted")
	}
}

func TestConcatVsAdd(t *testing.T) {
	_, x := testDigits(t, 4)
	rows, err := ConcatVsAdd(goBackend(t), x, 16, 2, 8)
	if err != nil {
		t.Fatal(err)
	}
	res, den := rows[0], rows[1]
	t.Logf("%+v\n%+v", res, den)
	if den.Out != 16+4*8 || den.InputKept != 0 || den.FirstLayerKept != 0 {
		t.Errorf("concatenation changed its input or first layer: %+v", den)
	}
	if res.Out != 16 || res.InputKept < 0.1 || res.FirstLayerKept < 0.01 {
		t.Errorf("addition left its input untouched: %+v", res)
	}
	// Two basic blocks at 16 channels: 4 convs 9·16·16 + 4 BNs.
	if res.Params != 4*9*16*16+4*2*16 || den.Params == 0 {
		t.Errorf("parameters: residual %d, dense %d", res.Params, den.Params)
	}
}

func TestJudge(t *testing.T) {
	mk := func(keep, change float64, jitter ...float64) []Deletion {
		var out []Deletion
		for _, j := range jitter {
			out = append(out, Deletion{Single: []Deleted{{Drop: keep + j}, {Drop: change + j, Downsampling: true}, {Drop: keep - j}}})
		}
		return out
	}
	res := mk(0.01, 0.2, 0, 0.005, 0.01)
	plain := mk(0.6, 0.7, 0, 0.02, 0.04)
	pre := mk(0.012, 0.25, 0, 0.005, 0.01)
	acc := func(v ...float64) experiment.Stat { return experiment.NewStat(v) }
	v := Judge(res, plain, pre, acc(0.95, 0.96, 0.97), acc(0.951, 0.961, 0.971), acc(0.80, 0.81, 0.82))
	if v.PlainVsResNet.Verdict != lesson.Higher || v.DownVsOthers.Verdict != lesson.Higher || v.PreVsPost.Verdict != lesson.WithinNoise ||
		v.DenseVsRes.Verdict != lesson.Lower {
		t.Errorf("%+v", v)
	}
}
