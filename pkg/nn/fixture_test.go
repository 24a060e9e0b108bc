package nn

import (
	"strconv"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/nn/internal/nntest"
	"github.com/gostudy/gostudy/pkg/safetensors"
)

// checkFixture runs fn on a timm fixture (pkg/nn/testdata/<family>/<config>.safetensors, made
// by scripts/fixtures/<family>.py) on every test backend, in eval mode, and checks:
//   - the output matches timm's within tol;
//   - the state_dict names match exactly (strict load after the graph is built);
//   - the trainable parameter count equals timm's sum(p.numel() for p in parameters());
//   - the Go state dict exported to <config>.roundtrip.safetensors (for the script's check
//     that timm loads it) is written once.
//
// NCHW fixtures (metadata layout) are transposed to channels-last for the Go model.
func checkFixture(t *testing.T, family, config string, fn ModelFn, tol float64) {
	t.Helper()
	rel := family + "/" + config + ".safetensors"
	f := nntest.LoadFixture(t, rel)
	x, want := f.Tensors["__input__"], f.Tensors["__output__"]
	if x == nil || want == nil {
		t.Fatalf("%s lacks __input__/__output__", rel)
	}
	if f.Metadata["layout"] == "NCHW" {
		if x.Rank() == 4 {
			x = nntest.NCHWToNHWC(t, x)
		}
		if want.Rank() == 4 {
			want = nntest.NCHWToNHWC(t, want)
		}
	}
	wantParams, err := strconv.ParseInt(f.Metadata["num_params"], 10, 64)
	if err != nil {
		t.Fatalf("%s: bad num_params metadata %q", rel, f.Metadata["num_params"])
	}
	// Names and parameter count, on a store holding only what the model itself creates.
	built := model.NewStore()
	if _, err := Build(goBackend(t), built, fn, x.Shape()); err != nil {
		t.Fatal(err)
	}
	if err := LoadStateDict(built, f.Tensors, true); err != nil {
		t.Errorf("names differ from timm's state_dict: %v", err)
	}
	if p, _ := CountParams(built); p != wantParams {
		t.Errorf("trainable params %d, timm has %d", p, wantParams)
	}
	exported := false
	nntest.ForEachBackend(t, func(t *testing.T, b nntest.Backend) {
		store := model.NewStore()
		if err := LoadStateDict(store, f.Tensors, false); err != nil {
			t.Fatal(err)
		}
		got := runModel(t, b, store, fn, x)[0]
		nntest.AssertClose(t, config+" vs reference", got, want, tol)
		if nntest.MaxAbs(want) < 1e-2 {
			t.Errorf("fixture output is near zero (max %g): the comparison proves little", nntest.MaxAbs(want))
		}
		if exported {
			return
		}
		sd, err := StateDict(store)
		if err != nil {
			t.Fatal(err)
		}
		path := nntest.FixturePath(t, family+"/"+config+".roundtrip.safetensors")
		if err := safetensors.WriteFile(path, sd, map[string]string{"format": "pt", "written_by": "gostudy pkg/nn tests"}); err != nil {
			t.Fatal(err)
		}
		exported = true
	})
}

// fixtureInput returns a fixture's input in channels-last layout, for tests that reuse it.
func fixtureInput(t *testing.T, family, config string) (*safetensors.File, *tensors.Tensor) {
	t.Helper()
	f := nntest.LoadFixture(t, family+"/"+config+".safetensors")
	x := f.Tensors["__input__"]
	if f.Metadata["layout"] == "NCHW" && x.Rank() == 4 {
		x = nntest.NCHWToNHWC(t, x)
	}
	return f, x
}
