package nn

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
	"github.com/gostudy/gostudy/pkg/safetensors"
)

// The one harness every reference fixture goes through. Fixtures are written by
// scripts/fixtures/<family>.py in the schema scripts/fixtures/common.py describes: a module's
// state_dict under timm's names, "__input__"/"__output__" (plus "__input_<k>__"/"__output_<k>__"
// for each k in metadata "extra_inputs", and "__intermediate_<i>__" for timm's
// forward_intermediates), and metadata family, config, num_params, input_layout,
// output_layout, intermediates_layout, timm_version, torch_version.

// fixtureTol is the largest |Go − reference| accepted on any output of any fixture: float32
// arithmetic done in another order than PyTorch's stays well below it at the fixtures'
// magnitudes (1–10).
const fixtureTol = 1e-4

// minReferenceMagnitude rejects a fixture whose reference output is nearly zero: below it,
// fixtureTol would be a loose relative bound (over 1e-3) and a Go model that outputs almost
// nothing could pass.
const minReferenceMagnitude = 1000 * fixtureTol

// fixtureCase is one reference fixture and the Go function that must reproduce it.
type fixtureCase struct {
	name string  // "<family>/<config>": pkg/nn/testdata/<family>/<config>.safetensors
	fn   ModelFn // input (channels-last) → output
	// intermediates, if set, returns the model's output and, in order, what the fixture's
	// "__intermediate_<i>__" hold (timm's forward_intermediates), from the same variables as fn.
	intermediates func(scope *model.Scope, x *graph.Node) (out *graph.Node, inter []*graph.Node)
}

// fixture is a loaded fixture file with its tensors converted to the Go layout.
type fixture struct {
	*safetensors.File
	name string
}

// loadFixture reads pkg/nn/testdata/<name>.safetensors and checks its metadata schema.
func loadFixture(t *testing.T, name string) fixture {
	t.Helper()
	f := fixture{File: nntest.LoadFixture(t, name+".safetensors"), name: name}
	for _, key := range []string{"family", "config", "timm_version", "torch_version"} {
		if f.Metadata[key] == "" {
			t.Fatalf("%s: metadata %q missing (regenerate with scripts/fixtures/%s.py)", name, key, f.Metadata["family"])
		}
	}
	return f
}

// goLayout returns a copy of a fixture tensor stored in layout, channels-last. It is a
// fresh local tensor, so it can be fed to any backend.
func goLayout(t *testing.T, x *tensors.Tensor, layout string) *tensors.Tensor {
	t.Helper()
	if layout == "NCHW" && x.Rank() == 4 {
		return nntest.NCHWToNHWC(t, x)
	}
	c, err := x.LocalClone()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tensor returns the fixture's tensor name, failing the test if it is missing.
func (f fixture) tensor(t *testing.T, name string) *tensors.Tensor {
	t.Helper()
	x := f.Tensors[name]
	if x == nil {
		t.Fatalf("%s lacks %s", f.name, name)
	}
	return x
}

// input returns "__input<sfx>__" in the Go layout.
func (f fixture) input(t *testing.T, sfx string) *tensors.Tensor {
	t.Helper()
	return goLayout(t, f.tensor(t, "__input"+sfx+"__"), f.Metadata["input_layout"])
}

// output returns "__output<sfx>__" in the Go layout.
func (f fixture) output(t *testing.T, sfx string) *tensors.Tensor {
	t.Helper()
	return goLayout(t, f.tensor(t, "__output"+sfx+"__"), f.Metadata["output_layout"])
}

// suffixes lists the fixture's input/output pairs: "" and "_<k>" for each extra input.
func (f fixture) suffixes() []string {
	out := []string{""}
	if extra := f.Metadata["extra_inputs"]; extra != "" {
		for _, k := range strings.Split(extra, ",") {
			out = append(out, "_"+k)
		}
	}
	return out
}

// store returns a new store holding the fixture's state_dict (non-strict: it creates the
// variables), for tests that run other functions on the reference weights.
func (f fixture) store(t *testing.T) *model.Store {
	t.Helper()
	store := model.NewStore()
	if err := LoadStateDict(store, f.Tensors, false); err != nil {
		t.Fatal(err)
	}
	return store
}

// assertReference compares got with a reference tensor within fixtureTol and rejects a
// near-zero reference.
func assertReference(t *testing.T, what string, got, want *tensors.Tensor) {
	t.Helper()
	nntest.AssertClose(t, what, got, want, fixtureTol)
	if m := nntest.MaxAbs(want); m < minReferenceMagnitude {
		t.Errorf("%s: reference is nearly zero (max |v| = %g < %g): the comparison proves little", what, m, minReferenceMagnitude)
	}
}

// checkFixture is the whole check of one fixture:
//   - names: fn, built for the input, creates exactly the fixture's state_dict keys with the
//     same shapes (a strict load into a store holding only what fn created);
//   - parameter count: fn's trainable parameters equal the reference's num_params;
//   - on every test backend, in eval mode, fn reproduces each output and, with
//     c.intermediates, each intermediate within fixtureTol;
//   - the Go state dict is exported once as <config>.roundtrip.safetensors, which the
//     fixture script's second run loads into timm (the export check).
func checkFixture(t *testing.T, c fixtureCase) {
	t.Helper()
	f := loadFixture(t, c.name)
	built := model.NewStore()
	if _, err := Build(goBackend(t), built, c.fn, f.input(t, "").Shape()); err != nil {
		t.Fatalf("%s: build: %v", c.name, err)
	}
	if err := LoadStateDict(built, f.Tensors, true); err != nil {
		t.Errorf("%s: names differ from the reference state_dict: %v", c.name, err)
	}
	want, err := strconv.ParseInt(f.Metadata["num_params"], 10, 64)
	if err != nil {
		t.Fatalf("%s: metadata num_params %q: %v", c.name, f.Metadata["num_params"], err)
	}
	if got, _ := CountParams(built); got != want {
		t.Errorf("%s: %d trainable parameters, the reference has %d", c.name, got, want)
	}
	numInter, _ := strconv.Atoi(f.Metadata["intermediates"])
	if (numInter > 0) != (c.intermediates != nil) {
		t.Fatalf("%s: the fixture has %d intermediates; the case must check them all or none", c.name, numInter)
	}
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		store := f.store(t)
		exec, err := model.NewExec(b.Backend, store, c.fn)
		if err != nil {
			t.Fatal(err)
		}
		for _, sfx := range f.suffixes() {
			got, err := exec.Call1(f.input(t, sfx))
			if err != nil {
				t.Fatalf("%s input%s on %s: %v", c.name, sfx, b.Name, err)
			}
			assertReference(t, c.name+" output"+sfx, got, f.output(t, sfx))
		}
		if c.intermediates == nil {
			return
		}
		got := runModel(t, b, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
			// The output goes last: the pure-Go backend (gomlx/compute v0.1.2) sizes its buffers by
			// the last output node and fails on variables created after it.
			out, inter := c.intermediates(scope, x)
			return append(inter, out)
		}, f.input(t, ""))
		got = got[:len(got)-1]
		if len(got) != numInter {
			t.Fatalf("%s: %d intermediates, the reference has %d", c.name, len(got), numInter)
		}
		for i, g := range got {
			want := goLayout(t, f.tensor(t, "__intermediate_"+strconv.Itoa(i)+"__"), f.Metadata["intermediates_layout"])
			assertReference(t, c.name+" intermediate "+strconv.Itoa(i), g, want)
		}
	})
	sd, err := StateDict(built)
	if err != nil {
		t.Fatal(err)
	}
	path := nntest.FixturePath(t, c.name+".roundtrip.safetensors")
	if err := safetensors.WriteFile(path, sd, map[string]string{"config": f.Metadata["config"], "writer": "gostudy pkg/nn test"}); err != nil {
		t.Fatalf("write round trip: %v", err)
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
