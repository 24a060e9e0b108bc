package nn

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
	"github.com/gostudy/gostudy/pkg/safetensors"
)

// Helpers shared by the ViT, Swin and PoolFormer tests that check blocks against the timm
// fixtures written by scripts/fixtures/{vit,swin,poolformer}.py.

// fixtureTol is the largest |Go − timm| accepted on float32 outputs of magnitude ~1–5.
const fixtureTol = 1e-4

// timmRun is one fixture checked on one backend: the store holding timm's weights and the
// fixture itself.
type timmRun struct {
	store *model.Store
	file  *safetensors.File
}

// toGoLayout converts a fixture tensor from its stored layout to channels-last.
func toGoLayout(t *testing.T, x *tensors.Tensor, layout string) *tensors.Tensor {
	t.Helper()
	if layout == "NCHW" {
		return nntest.NCHWToNHWC(t, x)
	}
	return x
}

// matchTimm loads fixture rel (under pkg/nn/testdata), builds fn for its input, loads timm's
// state_dict strictly (every key must name one of fn's variables and every variable must get a
// value), checks the parameter count against timm's, runs fn on each "__input<sfx>__" and
// compares with "__output<sfx>__" (suffixes: "" plus extra), and writes the store's state dict
// as <config>.roundtrip.safetensors for the Python --check step.
func matchTimm(t *testing.T, b nntest.Backend, rel string, fn ModelFn, extra ...string) timmRun {
	t.Helper()
	f := nntest.LoadFixture(t, rel)
	inLayout, outLayout := f.Metadata["input_layout"], f.Metadata["output_layout"]
	store := model.NewStore()
	in := toGoLayout(t, f.Tensors["__input__"], inLayout)
	if _, err := Build(b.Backend, store, fn, in.Shape()); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if err := LoadStateDict(store, f.Tensors, true); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if want, err := strconv.ParseInt(f.Metadata["num_params"], 10, 64); err != nil {
		t.Fatalf("%s: metadata num_params: %v", rel, err)
	} else if got, _ := CountParams(store); got != want {
		t.Errorf("%s: %d parameters, timm has %d", rel, got, want)
	}
	exec, err := model.NewExec(b.Backend, store, fn)
	if err != nil {
		t.Fatal(err)
	}
	for _, sfx := range append([]string{""}, extra...) {
		key := "__input" + sfx + "__"
		x := toGoLayout(t, f.Tensors[key], inLayout)
		got, err := exec.Call1(x)
		if err != nil {
			t.Fatalf("%s %s on %s: %v", rel, key, b.Name, err)
		}
		want := f.Tensors["__output"+sfx+"__"]
		if outLayout == "NCHW" {
			want = nntest.NCHWToNHWC(t, want)
		}
		nntest.AssertClose(t, rel+" output"+sfx, got, want, fixtureTol)
		if nntest.MaxAbs(want) < 0.5 {
			t.Errorf("%s: reference output is nearly zero (max %g): the check would be vacuous", rel, nntest.MaxAbs(want))
		}
	}
	writeRoundtrip(t, store, rel, f.Metadata)
	return timmRun{store: store, file: f}
}

// writeRoundtrip exports the store as <config>.roundtrip.safetensors next to the fixture (git
// ignores these files); the fixture script's --check step loads them into timm.
func writeRoundtrip(t *testing.T, store *model.Store, rel string, meta map[string]string) {
	t.Helper()
	sd, err := StateDict(store)
	if err != nil {
		t.Fatal(err)
	}
	path := nntest.FixturePath(t, strings.TrimSuffix(rel, ".safetensors")+".roundtrip.safetensors")
	if err := safetensors.WriteFile(path, sd, map[string]string{"config": meta["config"], "writer": "gostudy pkg/nn test"}); err != nil {
		t.Fatalf("write roundtrip: %v", err)
	}
}

// presetCounts reads the parameter counts timm reports for the Go presets (counts.json written
// by the family's fixture script).
func presetCounts(t *testing.T, family string) map[string]int64 {
	t.Helper()
	data, err := os.ReadFile(nntest.FixturePath(t, family+"/counts.json"))
	if err != nil {
		t.Fatalf("read counts (regenerate with scripts/fixtures/%s.py): %v", family, err)
	}
	var counts map[string]int64
	if err := json.Unmarshal(data, &counts); err != nil {
		t.Fatalf("parse %s/counts.json: %v", family, err)
	}
	return counts
}
