// Package digits is the example experiment behind `gostudy ablate digits`: an MNIST-like task
// that needs no download. Images are 16×16 seven-segment digits drawn with random position,
// stroke width, ink level and background noise, so a model has to generalise over jitter
// rather than memorise pixels; the classifier is a small MLP or strided CNN whose width,
// depth-free knobs and dropout are config fields to ablate.
//
// Importing the package registers the experiment under [Name]; that registration is all a
// lesson needs to do for its own experiments to work with `gostudy ablate` and
// `gostudy export`.
package digits

import (
	"fmt"
	"math/rand/v2"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/metric"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// Name is the registered experiment name.
const Name = "digits"

// Size is the image side; Classes the number of digits.
const (
	Size    = 16
	Classes = 10
)

// Config is the experiment's config.
type Config struct {
	experiment.Train
	// Arch is "mlp" (flatten → hidden → classes), "cnn" (two 3×3 stride-2 convs, then the
	// same head; strided convs instead of max-pool keep it trainable on the pure-Go backend,
	// which lacks the max-pool gradient) or "vit" (pkg/nn's Vision Transformer: 4×4 patches,
	// width Hidden, 2 blocks of 2 heads; its variables are timm's, so it exports to timm).
	Arch string `json:"arch" help:"mlp, cnn or vit"`
	// Channels is the width of the first conv (the second has twice as many).
	Channels int `json:"channels" help:"channels of the first conv (cnn)"`
	// Hidden is the width of the hidden dense layer.
	Hidden int `json:"hidden" help:"hidden units of the head"`
	// Dropout is applied after the hidden layer.
	Dropout float64 `json:"dropout" help:"dropout rate after the hidden layer"`
	// Noise is the standard deviation of the pixel noise.
	Noise float64 `json:"noise" help:"pixel noise std"`
	// Jitter is the largest shift of a glyph from the centre, in pixels.
	Jitter int `json:"jitter" help:"largest glyph shift from the centre (pixels)"`
	// TrainSize, ValSize and TestSize are the numbers of images per split.
	TrainSize int `json:"train_size" help:"training images"`
	ValSize   int `json:"val_size" help:"validation images"`
	TestSize  int `json:"test_size" help:"test images"`
}

// Validate implements the check the runner calls before training.
func (c *Config) Validate() error {
	switch {
	case c.Arch != "mlp" && c.Arch != "cnn" && c.Arch != "vit":
		return fmt.Errorf("arch %q: want mlp, cnn or vit", c.Arch)
	case c.Arch == "vit" && c.Hidden%vitHeads != 0:
		return fmt.Errorf("vit: hidden %d must be a multiple of %d heads", c.Hidden, vitHeads)
	case c.Hidden <= 0 || (c.Arch == "cnn" && c.Channels <= 0):
		return fmt.Errorf("hidden (%d) and channels (%d) must be positive", c.Hidden, c.Channels)
	case c.Jitter < 0 || c.Jitter > 2:
		return fmt.Errorf("jitter %d outside [0, 2]", c.Jitter)
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("dropout %v outside [0, 1)", c.Dropout)
	case c.BatchSize <= 0 || c.TrainSize < c.BatchSize || c.ValSize <= 0 || c.TestSize <= 0:
		return fmt.Errorf("sizes: batch %d, train %d, val %d, test %d", c.BatchSize, c.TrainSize, c.ValSize, c.TestSize)
	}
	return nil
}

// Defaults is a configuration that trains in a few seconds on a laptop CPU.
func Defaults() Config {
	return Config{
		Train:     experiment.Train{Epochs: 3, BatchSize: 32, LearningRate: 3e-3, LogEvery: 5},
		Arch:      "mlp",
		Channels:  8,
		Hidden:    64,
		Dropout:   0.1,
		Noise:     0.2,
		Jitter:    1,
		TrainSize: 1024,
		ValSize:   256,
		TestSize:  512,
	}
}

// vitHeads and vitDepth fix the ViT's shape apart from its width.
const (
	vitHeads = 2
	vitDepth = 2
)

// ViTConfig is the pkg/nn ViT the "vit" arch trains.
func ViTConfig(cfg Config) nn.ViTConfig {
	return nn.ViTConfig{ImageSize: Size, InChans: 1, PatchSize: 4, NumClasses: Classes, EmbedDim: cfg.Hidden,
		Depth: vitDepth, NumHeads: vitHeads, MLPRatio: 2, QKVBias: true, ClassToken: true, Pool: "token",
		DropRate: cfg.Dropout}
}

// Timm is the timm model equal to the "vit" arch (nil for the others, which timm lacks).
// timm takes images NCHW where the Go model takes NHWC.
func Timm(cfg Config) *experiment.TimmModel {
	if cfg.Arch != "vit" {
		return nil
	}
	v := ViTConfig(cfg)
	return &experiment.TimmModel{Name: "vit_tiny_patch16_224", Kwargs: map[string]any{
		"img_size": v.ImageSize, "patch_size": v.PatchSize, "in_chans": v.InChans, "num_classes": v.NumClasses,
		"embed_dim": v.EmbedDim, "depth": v.Depth, "num_heads": v.NumHeads, "mlp_ratio": v.MLPRatio,
		"qkv_bias": v.QKVBias, "class_token": v.ClassToken, "global_pool": v.Pool,
	}}
}

// Model is the classifier; inputs[0] is [batch, 16, 16, 1], the output [batch, 10] logits.
func Model(scope *model.Scope, cfg Config, inputs []*graph.Node) []*graph.Node {
	x := inputs[0]
	if cfg.Arch == "vit" {
		return []*graph.Node{nn.ViT(ViTConfig(cfg))(scope, x)}
	}
	batch := x.Shape().Dimensions[0]
	if cfg.Arch == "cnn" {
		x = layers.Convolution(scope.In("conv1"), x).Channels(cfg.Channels).KernelSize(3).Strides(2).PadSame().Done()
		x = activation.Relu(x)
		x = layers.Convolution(scope.In("conv2"), x).Channels(2 * cfg.Channels).KernelSize(3).Strides(2).PadSame().Done()
		x = activation.Relu(x)
	}
	x = graph.Reshape(x, batch, -1)
	x = layers.DenseWithBias(scope.In("fc1"), x, cfg.Hidden)
	x = activation.Relu(x)
	if cfg.Dropout > 0 {
		x = layers.DropoutStatic(scope, x, cfg.Dropout)
	}
	return []*graph.Node{layers.DenseWithBias(scope.In("head"), x, Classes)}
}

// segments lists, per digit, which of the seven segments (a top, b top-right, c bottom-right,
// d bottom, e bottom-left, f top-left, g middle) are lit.
var segments = [Classes]string{
	"abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg",
}

// Render draws digit d into a Size×Size image (row-major, values about 0..1), shifted by up to
// jitter pixels each way from the centre, using r for the shift, stroke and noise.
func Render(d int, noise float64, jitter int, r *rand.Rand) []float32 {
	img := make([]float32, Size*Size)
	w, h := 7, 11 // glyph box, centred at (4, 2)
	x0 := 4 + r.IntN(2*jitter+1) - jitter
	y0 := 2 + r.IntN(2*jitter+1) - jitter
	stroke := 1 + r.IntN(2)
	ink := float32(0.7 + 0.3*r.Float64())
	fill := func(x, y, ww, hh int) {
		for yy := y; yy < y+hh; yy++ {
			for xx := x; xx < x+ww; xx++ {
				if xx >= 0 && xx < Size && yy >= 0 && yy < Size {
					img[yy*Size+xx] = ink
				}
			}
		}
	}
	mid := y0 + h/2
	for _, s := range segments[d] {
		switch s {
		case 'a':
			fill(x0, y0, w, stroke)
		case 'd':
			fill(x0, y0+h-stroke, w, stroke)
		case 'g':
			fill(x0, mid-stroke/2, w, stroke)
		case 'f':
			fill(x0, y0, stroke, mid-y0+1)
		case 'e':
			fill(x0, mid, stroke, y0+h-mid)
		case 'b':
			fill(x0+w-stroke, y0, stroke, mid-y0+1)
		case 'c':
			fill(x0+w-stroke, mid, stroke, y0+h-mid)
		}
	}
	for i := range img {
		img[i] += float32(r.NormFloat64() * noise)
	}
	return img
}

// Set renders n labelled images (classes uniformly drawn) from a generator seeded by seed.
func Set(name string, n int, noise float64, jitter int, seed uint64) *experiment.InMemory {
	r := rand.New(rand.NewPCG(seed, 0xd191))
	m := &experiment.InMemory{Name: name, ExampleDims: []int{Size, Size, 1},
		X: make([]float32, 0, n*Size*Size), Y: make([]int32, n)}
	for i := range n {
		d := r.IntN(Classes)
		m.Y[i] = int32(d)
		m.X = append(m.X, Render(d, noise, jitter, r)...)
	}
	return m
}

// Data builds the splits: the validation and test images are the same for every seed (so
// seeds compare on equal ground); the training images and their order depend on the seed.
func Data(cfg Config, seed int64) (*experiment.Data, error) {
	tr := Set("digits/train", cfg.TrainSize, cfg.Noise, cfg.Jitter, uint64(seed)+1000)
	val := Set("digits/val", cfg.ValSize, cfg.Noise, cfg.Jitter, 1)
	test := Set("digits/test", cfg.TestSize, cfg.Noise, cfg.Jitter, 2)
	return &experiment.Data{
		Train:         tr.TrainEpochs(seed, cfg.BatchSize),
		StepsPerEpoch: tr.NumBatches(cfg.BatchSize, true),
		Val:           val.Dataset(128),
		Test:          test.Dataset(128),
	}, nil
}

// Experiment is the registered experiment.
var Experiment = &experiment.Experiment[Config]{
	Name:        Name,
	Description: "synthetic 16×16 seven-segment digits (MNIST-like, no download); MLP, strided CNN or ViT",
	Defaults:    Defaults,
	Model:       Model,
	Loss:        loss.SparseCategoricalCrossEntropyLogits,
	Metrics: func(Config) []metric.Interface {
		return []metric.Interface{metric.NewSparseCategoricalAccuracy("Accuracy", "acc")}
	},
	Data:   Data,
	Select: experiment.Selection{Metric: "acc", Maximize: true},
	Timm:   Timm,
}

func init() { experiment.MustRegister(Experiment) }
