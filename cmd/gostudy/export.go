package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/export"
)

func init() {
	commands["export"] = command{runExport, "export a finished run's best model (-format onnx|safetensors)"}
}

// maxExportBatch bounds -batch: the ONNX graph's batch axis is static, and a larger value is
// a typing mistake rather than a model anyone serves.
const maxExportBatch = 1 << 16

// flagGiven reports whether the flag was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// runExport implements `gostudy export <run dir> -format onnx|safetensors -o FILE`.
func runExport(args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	format := fs.String("format", export.FormatSafetensors, "onnx or safetensors")
	out := fs.String("o", "", "output file (default: <run>/model.<format>)")
	batch := fs.Int("batch", 1, "batch size baked into the ONNX graph (its shapes are static)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: gostudy export <run dir> [-format onnx|safetensors] [-o FILE] [-batch N]\n\n"+
			"<run dir> is a finished run, e.g. runs/digits/<config id>/seed-0; its best checkpoint is exported.\n"+
			"safetensors keys are timm state_dict names; the metadata names the timm model when there is one.\n"+
			"onnx needs a binary built with -tags onnx and the ONNX Runtime library (see package export);\n"+
			"if the exporter lacks an op the model needs, it says which and writes safetensors instead.\n\nflags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nexperiments known to this binary: %s\n", strings.Join(experiment.Names(), ", "))
	}
	dir, err := parseWithPositional(fs, args)
	if err != nil {
		return err
	}
	if dir == "" {
		fs.Usage()
		return usagef("missing the run directory")
	}
	if *format != export.FormatONNX && *format != export.FormatSafetensors {
		return usagef("-format %q: want %s or %s", *format, export.FormatONNX, export.FormatSafetensors)
	}
	if err := checkRange("batch", int64(*batch), 1, maxExportBatch); err != nil {
		return err
	}
	if fs.Lookup("o").Value.String() == "" && flagGiven(fs, "o") {
		return usagef("-o is empty: give the output file, or leave -o out for <run>/model.<format>")
	}
	run, err := experiment.OpenRun(dir)
	if err != nil {
		return err
	}
	path := *out
	if path == "" {
		path = filepath.Join(dir, "model."+*format)
	}
	res, err := export.File(run, *format, path, *batch)
	if err != nil {
		return err
	}
	if res.FellBackFrom != nil {
		fmt.Fprintf(os.Stderr, "gostudy export: %v; wrote safetensors instead\n", res.FellBackFrom)
	}
	switch res.Format {
	case export.FormatONNX:
		fmt.Printf("wrote %s (ONNX, inputs %v %v, outputs %v)\n", res.Path, res.InputNames, res.InputShapes, res.OutputNames)
	default:
		fmt.Printf("wrote %s (safetensors, %d tensors)\n", res.Path, len(res.Keys))
		if res.Timm != nil {
			fmt.Printf("load in Python: timm.create_model(%q, pretrained=False, **kwargs).load_state_dict("+
				"safetensors.torch.load_file(%q)); kwargs are in the file's %q metadata; inputs NCHW\n",
				res.Timm.Name, res.Path, export.MetaTimmModel)
		}
	}
	return nil
}
