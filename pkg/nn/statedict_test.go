package nn

import (
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
	"github.com/gostudy/gostudy/pkg/safetensors"
)

// goTestBackend returns the pure-Go test backend (or the first test backend if "go" is not
// among them), for checks whose result does not depend on the backend.
func goTestBackend(t *testing.T) nntest.Backend {
	t.Helper()
	for _, b := range nntest.Backends(t) {
		if b.Name == "go" {
			return b
		}
	}
	return nntest.Backends(t)[0]
}

// goBackend is goTestBackend's compute backend.
func goBackend(t *testing.T) compute.Backend {
	t.Helper()
	return goTestBackend(t).Backend
}

func TestStateDictNamesAndStrictLoad(t *testing.T) {
	net := func(scope *model.Scope, x *graph.Node) *graph.Node {
		stem := scope.In("stem")
		x = Conv2d(stem.In("conv"), x, Conv2dConfig{Out: 4, Kernel: 3, Padding: 1})
		x = ReLU(BatchNorm2d(stem.In("bn"), x, BatchNormConfig{}))
		return Linear(scope.In("head").In("fc"), GlobalAvgPool2d(x), 3, true)
	}
	b := goBackend(t)
	store := model.NewStore()
	if _, err := Build(b, store, net, shapes.Make(dtypes.Float32, 1, 5, 5, 2)); err != nil {
		t.Fatal(err)
	}
	// GoMLX bookkeeping variables must stay out of the state dict.
	optimizer.GetGlobalStepVar(store)
	if err := store.InitializeVariables(b, nil); err != nil {
		t.Fatal(err)
	}
	sd, err := StateDict(store)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range sd {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{
		"head.fc.bias", "head.fc.weight",
		"stem.bn.bias", "stem.bn.num_batches_tracked", "stem.bn.running_mean", "stem.bn.running_var", "stem.bn.weight",
		"stem.conv.weight",
	}
	if strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Fatalf("keys %v\nwant %v", keys, want)
	}
	if got := sd["stem.conv.weight"].Shape().Dimensions; len(got) != 4 || got[0] != 4 || got[1] != 2 || got[2] != 3 {
		t.Errorf("conv weight shape %v, want [4 2 3 3] (PyTorch OIHW)", got)
	}

	// Strict load reports missing, unexpected and mis-shaped keys by name and changes nothing.
	bad := map[string]*tensors.Tensor{}
	for k, v := range sd {
		bad[k] = v
	}
	delete(bad, "stem.bn.running_var")
	bad["stem.bn.extra"] = tensors.FromValue([]float32{1})
	bad["head.fc.bias"] = tensors.FromValue([]float32{1, 2})
	before := flat(store.GetVariable("/stem/conv/weight").MustValue())
	bad["stem.conv.weight"] = randTensor(rand.New(rand.NewPCG(1, 1)), 4, 2, 3, 3)
	err = LoadStateDict(store, bad, true)
	if err == nil {
		t.Fatal("strict load of a bad state dict succeeded")
	}
	for _, frag := range []string{"missing keys: stem.bn.running_var", "unexpected keys: stem.bn.extra", "head.fc.bias: model has"} {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf("error %q lacks %q", err, frag)
		}
	}
	if maxDiff(flat(store.GetVariable("/stem/conv/weight").MustValue()), before) != 0 {
		t.Error("failed strict load modified the store")
	}
	// Non-strict load ignores what is missing but still refuses a wrong shape.
	if err := LoadStateDict(store, map[string]*tensors.Tensor{"head.fc.bias": tensors.FromValue([]float32{1})}, false); err == nil {
		t.Error("non-strict load accepted a wrong shape")
	}
}

// TestStateDictSafetensorsRoundTrip exports a model, reloads it into a fresh store through a
// .safetensors file and checks the outputs are identical.
func TestStateDictSafetensorsRoundTrip(t *testing.T) {
	net := func(scope *model.Scope, x *graph.Node) *graph.Node {
		x = Conv2d(scope.In("conv"), x, Conv2dConfig{Out: 4, Kernel: 3, Padding: 1, Bias: true})
		x = ReLU(BatchNorm2d(scope.In("bn"), x, BatchNormConfig{}))
		return Linear(scope.In("fc"), GlobalAvgPool2d(x), 3, true)
	}
	x := randTensor(rand.New(rand.NewPCG(2, 2)), 2, 5, 5, 2)
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		store := model.NewStore()
		if err := store.SetRNGStateFromSeed(42); err != nil {
			t.Fatal(err)
		}
		want := runModel(t, b, store, net, x)[0]
		sd, err := StateDict(store)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "m.safetensors")
		if err := safetensors.WriteFile(path, sd, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		f, err := safetensors.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		store2 := model.NewStore()
		if _, err := Build(b.Backend, store2, net, x.Shape()); err != nil {
			t.Fatal(err)
		}
		if err := LoadStateDict(store2, f.Tensors, true); err != nil {
			t.Fatal(err)
		}
		got := runModel(t, b, store2, net, x)[0]
		if d := nntest.MaxAbsDiff(t, got, want); d != 0 || nntest.MaxAbs(want) == 0 {
			t.Errorf("reloaded model differs by %g (|out| %g)", d, nntest.MaxAbs(want))
		}
	})
}

func TestConvertStateDict(t *testing.T) {
	f, err := safetensors.ReadFile(filepath.Join(nntest.RepoRoot(t), "pkg", "safetensors", "testdata", "dtypes.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ConvertStateDict(f.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	if got := flat(out["f16"]); got[2] != 65504 || out["f16"].DType() != dtypes.Float32 {
		t.Errorf("f16 → %v (%s)", got, out["f16"].DType())
	}
	if got := flat(out["bf16"]); got[2] != 3.140625 {
		t.Errorf("bf16 → %v", got)
	}
	if out["i64"].DType() != dtypes.Int64 {
		t.Errorf("integers must be kept, got %s", out["i64"].DType())
	}
}
