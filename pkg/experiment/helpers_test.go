package experiment

import (
	"math/rand/v2"

	_ "github.com/gomlx/gomlx/backends/default"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/metric"
)

// blobConfig is the config of the tiny test experiment: 4 Gaussian blobs in 8 dimensions.
type blobConfig struct {
	Train
	Hidden  int     `json:"hidden" help:"hidden units"`
	Dropout float64 `json:"dropout" help:"dropout rate"`
	Noise   float64 `json:"noise" help:"blob spread"`
}

const (
	blobDim     = 8
	blobClasses = 4
)

func blobDefaults() blobConfig {
	return blobConfig{
		Train:   Train{Epochs: 3, BatchSize: 16, LearningRate: 0.01, LogEvery: 2},
		Hidden:  16,
		Dropout: 0.1,
		Noise:   1.0,
	}
}

// blobSet draws n examples; the centres are fixed (seed 0) so every split shares them.
func blobSet(name string, n int, seed uint64, noise float64) *InMemory {
	centres := rand.New(rand.NewPCG(0, 1))
	c := make([]float32, blobClasses*blobDim)
	for i := range c {
		c[i] = float32(centres.NormFloat64() * 2)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	m := &InMemory{Name: name, ExampleDims: []int{blobDim}, X: make([]float32, n*blobDim), Y: make([]int32, n)}
	for i := range n {
		k := r.IntN(blobClasses)
		m.Y[i] = int32(k)
		for j := range blobDim {
			m.X[i*blobDim+j] = c[k*blobDim+j] + float32(r.NormFloat64()*noise)
		}
	}
	return m
}

func blobModel(scope *model.Scope, cfg blobConfig, inputs []*graph.Node) []*graph.Node {
	x := layers.DenseWithBias(scope.In("fc1"), inputs[0], cfg.Hidden)
	x = activation.Relu(x)
	if cfg.Dropout > 0 {
		x = layers.DropoutStatic(scope, x, cfg.Dropout)
	}
	return []*graph.Node{layers.DenseWithBias(scope.In("fc2"), x, blobClasses)}
}

func newBlobExperiment(name string) *Experiment[blobConfig] {
	return &Experiment[blobConfig]{
		Name:        name,
		Description: "4 Gaussian blobs, a 2-layer MLP",
		Defaults:    blobDefaults,
		Model:       blobModel,
		Loss:        loss.SparseCategoricalCrossEntropyLogits,
		Metrics: func(blobConfig) []metric.Interface {
			return []metric.Interface{metric.NewSparseCategoricalAccuracy("Accuracy", "acc")}
		},
		Data: func(cfg blobConfig, seed int64) (*Data, error) {
			tr := blobSet("train", 256, uint64(seed)+100, cfg.Noise)
			val := blobSet("val", 96, 2, cfg.Noise)
			test := blobSet("test", 128, 3, cfg.Noise)
			return &Data{
				Train:         tr.TrainEpochs(seed, cfg.BatchSize),
				StepsPerEpoch: tr.NumBatches(cfg.BatchSize, true),
				Val:           val.Dataset(64),
				Test:          test.Dataset(64),
			}, nil
		},
		Select: Selection{Metric: "acc", Maximize: true},
	}
}
