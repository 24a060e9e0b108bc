// Package export writes a trained run's best model in formats other tools read:
//
//   - safetensors, with the variables named by their store paths as timm's state_dict keys
//     ("blocks/0/attn/qkv/weight" → "blocks.0.attn.qkv.weight", through nn.StateDict), so a
//     model built from pkg/nn loads into timm.create_model(...) with load_state_dict. The file's
//     metadata records the experiment, its config and, when the experiment names one, the timm
//     model and its kwargs;
//   - ONNX, through GoMLX's exporter (ml/model/onnx, build tag "onnx"): the inference graph is
//     compiled on the ONNX Runtime backend (github.com/gomlx/compute-onnx) with the variables
//     embedded as constants, and the backend's ONNX model is written out. It needs the ONNX
//     Runtime shared library at run time (see [FindONNXRuntime]); a binary built without the
//     tag reports [ErrONNXDisabled].
//
// Both take a done run directory (see experiment.OpenRun): the record names the best
// checkpoint, the registry gives the model, and the validation data gives the input shape.
package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/gostudy/gostudy/internal/checkout"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
	"github.com/gostudy/gostudy/pkg/safetensors"
)

// Formats accepted by [File].
const (
	FormatONNX        = "onnx"
	FormatSafetensors = "safetensors"
)

// Metadata keys written into exported safetensors files.
const (
	MetaFormat      = "format" // "pt", as Hugging Face writes it, so safetensors.torch is happy
	MetaExperiment  = "gostudy_experiment"
	MetaConfig      = "gostudy_config"
	MetaSeed        = "gostudy_seed"
	MetaGitCommit   = "gostudy_git_commit"
	MetaInputLayout = "gostudy_input_layout" // "NHWC": transpose to NCHW for timm
	MetaTimmModel   = "timm_model"           // JSON {"name": ..., "kwargs": {...}}
)

// Result describes an exported file.
type Result struct {
	Path   string
	Format string
	// InputShapes are the shapes the ONNX graph takes (static: batch included).
	InputShapes []shapes.Shape
	// InputNames and OutputNames are the ONNX graph's tensor names.
	InputNames, OutputNames []string
	// Keys are the safetensors tensor names, sorted.
	Keys []string
	// Timm is the timm model the safetensors file loads into, or nil.
	Timm *experiment.TimmModel
	// FellBackFrom is set when the requested format could not be written (an op missing from
	// the ONNX exporter) and safetensors was written instead: it holds the reason.
	FellBackFrom error
}

// UnsupportedOpError reports an operation the ONNX backend cannot express.
type UnsupportedOpError struct {
	// Op is the missing operation, e.g. "Rsqrt" (GoMLX's op name).
	Op string
	// Err is GoMLX's error (it wraps compute.ErrNotImplemented).
	Err error
}

// newUnsupportedOpError picks the op's name out of compute-onnx's message
// ("Rsqrt (88) not implemented for ONNX Runtime backend").
func newUnsupportedOpError(err error) *UnsupportedOpError {
	op := err.Error()
	if m := reNotImplemented.FindStringSubmatch(op); m != nil {
		op = m[1]
	}
	return &UnsupportedOpError{Op: op, Err: err}
}

var reNotImplemented = regexp.MustCompile(`(\w+) \(\d+\) not implemented`)

// Error names the missing op.
func (e *UnsupportedOpError) Error() string {
	return "GoMLX's ONNX exporter (compute-onnx) lacks the op " + e.Op + " that this model needs"
}

// Unwrap returns GoMLX's error, so errors.Is(err, compute.ErrNotImplemented) holds.
func (e *UnsupportedOpError) Unwrap() error { return e.Err }

// ErrONNXDisabled is returned by [ONNX] in binaries built without the "onnx" build tag.
var ErrONNXDisabled = errors.New("ONNX export is not built in: rebuild with -tags onnx")

// File exports run to path in format (FormatONNX or FormatSafetensors). For ONNX, when the
// exporter lacks an op the model needs, it writes safetensors next to path instead (path with
// its extension replaced by .safetensors) and says why in Result.FellBackFrom.
func File(run *experiment.FinishedRun, format, path string, batch int) (*Result, error) {
	switch format {
	case FormatSafetensors:
		return Safetensors(run, path)
	case FormatONNX:
		res, err := ONNX(run, path, batch)
		var unsupported *UnsupportedOpError
		if !errors.As(err, &unsupported) {
			return res, err
		}
		alt := strings.TrimSuffix(path, filepath.Ext(path)) + ".safetensors"
		res, serr := Safetensors(run, alt)
		if serr != nil {
			return nil, errors.Join(err, serr)
		}
		res.FellBackFrom = err
		return res, nil
	default:
		return nil, fmt.Errorf("unknown export format %q (want %s or %s)", format, FormatONNX, FormatSafetensors)
	}
}

// buildBackend builds graphs only to learn which variables a model uses; the pure-Go backend
// does that without compiling anything.
var buildBackend = sync.OnceValues(func() (compute.Backend, error) {
	b, err := compute.NewWithConfig("go")
	if err != nil {
		return nil, fmt.Errorf("open the go backend: %w", err)
	}
	return b, nil
})

// LoadModel returns the run's inference model and a Store holding exactly the variables the
// model uses, with the best checkpoint's values (the graph is built once for inputShapes so
// that the lazily loaded checkpoint hands over the model's variables and nothing else: no
// optimizer moments, no step counters). The caller finalizes the Store.
func LoadModel(run *experiment.FinishedRun, inputShapes []shapes.Shape) (
	fn func(scope *model.Scope, inputs []*graph.Node) []*graph.Node, store *model.Store, err error) {
	fn, err = run.Experiment.InferenceModel(run.Config)
	if err != nil {
		return nil, nil, err
	}
	b, err := buildBackend()
	if err != nil {
		return nil, nil, err
	}
	store, err = run.LoadBest()
	if err != nil {
		return nil, nil, err
	}
	err = func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("build %s model: %v", run.Record.Experiment, r)
			}
		}()
		e, err := model.NewExec(b, store, fn)
		if err != nil {
			return fmt.Errorf("build %s model: %w", run.Record.Experiment, err)
		}
		defer e.Finalize()
		if _, err := e.Compile(inputShapes...); err != nil {
			return fmt.Errorf("build %s model for inputs %v: %w", run.Record.Experiment, inputShapes, err)
		}
		return nil
	}()
	if err != nil {
		store.Finalize()
		return nil, nil, err
	}
	// Detach the checkpoint: whatever the model did not ask for stays out of the export.
	store.SetLoader(nil)
	return fn, store, nil
}

// Safetensors writes the run's model variables (nn.StateDict: timm state_dict keys) to path,
// atomically.
func Safetensors(run *experiment.FinishedRun, path string) (*Result, error) {
	in, err := run.Experiment.InputShapes(run.Config, run.Record.Seed, 1)
	if err != nil {
		return nil, err
	}
	_, store, err := LoadModel(run, in)
	if err != nil {
		return nil, err
	}
	defer store.Finalize()
	sd, err := nn.StateDict(store)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", run.Dir, err)
	}
	timm := run.Experiment.TimmModel(run.Config)
	meta := map[string]string{
		MetaFormat:      "pt",
		MetaExperiment:  run.Record.Experiment,
		MetaConfig:      string(run.Record.Config),
		MetaSeed:        fmt.Sprint(run.Record.Seed),
		MetaGitCommit:   run.Record.GitCommit,
		MetaInputLayout: "NHWC",
	}
	if timm != nil {
		b, err := json.Marshal(timm)
		if err != nil {
			return nil, fmt.Errorf("encode timm model: %w", err)
		}
		meta[MetaTimmModel] = string(b)
	}
	if err := atomicWrite(path, func(tmp string) error { return safetensors.WriteFile(tmp, sd, meta) }); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(sd))
	for k := range sd {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return &Result{Path: path, Format: FormatSafetensors, Keys: keys, Timm: timm}, nil
}

// atomicWrite has write produce the file under a temporary name in path's directory, then
// renames it to path.
func atomicWrite(path string, write func(tmp string) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	f.Close()
	if err := write(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Predict runs the run's model on inputs with backend and returns its outputs: the Go-side
// reference an exported file is checked against.
func Predict(run *experiment.FinishedRun, backend compute.Backend, inputs ...*tensors.Tensor) (out []*tensors.Tensor, err error) {
	shp := make([]shapes.Shape, len(inputs))
	args := make([]any, len(inputs))
	for i, t := range inputs {
		shp[i] = t.Shape()
		args[i] = t
	}
	fn, store, err := LoadModel(run, shp)
	if err != nil {
		return nil, err
	}
	defer store.Finalize()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("predict: %v", r)
		}
	}()
	e, err := model.NewExec(backend, store, fn)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	defer e.Finalize()
	out, err = e.Exec(args...)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	for _, t := range out {
		t.MaterializeLocal()
	}
	return out, nil
}

// EnvONNXRuntime is the variable ONNX Runtime's Go bindings read for the shared library path.
const EnvONNXRuntime = "ONNXRUNTIME_SHARED_LIBRARY_PATH"

// EnvPython names a Python interpreter with onnxruntime installed (the tests' .venv).
const EnvPython = "GOSTUDY_PYTHON"

// FindONNXRuntime returns the path of the ONNX Runtime shared library: $ONNXRUNTIME_SHARED_
// LIBRARY_PATH, else the library inside the onnxruntime Python package of $GOSTUDY_PYTHON,
// else of the project's .venv (scripts/setup.sh installs onnxruntime there). The PyPI wheel
// ships libonnxruntime.so, so no separate download is needed.
func FindONNXRuntime() (string, error) {
	if p := os.Getenv(EnvONNXRuntime); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$%s: %w", EnvONNXRuntime, err)
		}
		return p, nil
	}
	var dirs []string
	if py := os.Getenv(EnvPython); py != "" {
		out, err := exec.Command(py, "-c", "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))").Output()
		if err == nil {
			dirs = append(dirs, filepath.Join(strings.TrimSpace(string(out)), "capi"))
		}
	}
	if root, err := checkout.Find(checkout.Starts()...); err == nil {
		found, _ := filepath.Glob(filepath.Join(root, ".venv", "lib", "python3*", "site-packages", "onnxruntime", "capi"))
		dirs = append(dirs, found...)
	}
	for _, d := range dirs {
		libs, _ := filepath.Glob(filepath.Join(d, "libonnxruntime.so*"))
		if len(libs) == 0 {
			libs, _ = filepath.Glob(filepath.Join(d, "libonnxruntime*.dylib"))
		}
		sort.Strings(libs)
		if len(libs) > 0 {
			return libs[len(libs)-1], nil
		}
	}
	return "", fmt.Errorf("ONNX Runtime library not found: set $%s, or $%s to a Python with onnxruntime, "+
		"or run scripts/setup.sh (it installs onnxruntime into .venv)", EnvONNXRuntime, EnvPython)
}
