package patchembed

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gostudy/gostudy/datasets/batching"
	"github.com/gostudy/gostudy/datasets/mnist"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/experiment"
)

// Name is the registered experiment name: `gostudy ablate patchembed -grid stem=patch,overlap`.
const Name = "patchembed"

// splitSeed fixes which training-split images are held out for validation, the same for every
// run seed, so runs compare on equal ground.
const splitSeed = 0x9a7c4

// Splits returns the run's images: TrainSize training and ValSize validation images drawn
// (disjoint) from MNIST's training split, and the first TestSize images of the test split.
func Splits(cfg RunConfig) (trainSet, valSet, testSet *mnist.Set, err error) {
	all, err := mnist.Load(mnist.Train)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("patchembed: %w", err)
	}
	test, err := mnist.Load(mnist.Test)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("patchembed: %w", err)
	}
	if cfg.TrainSize+cfg.ValSize > all.Len() || cfg.TestSize > test.Len() {
		return nil, nil, nil, fmt.Errorf("patchembed: %d+%d training/validation images requested from %d", cfg.TrainSize, cfg.ValSize, all.Len())
	}
	perm := batching.RNG(splitSeed).Perm(all.Len())
	valIdx := slices.Sorted(slices.Values(perm[:cfg.ValSize]))
	trIdx := slices.Sorted(slices.Values(perm[cfg.ValSize : cfg.ValSize+cfg.TrainSize]))
	if trainSet, err = all.Select(trIdx); err != nil {
		return nil, nil, nil, err
	}
	if valSet, err = all.Select(valIdx); err != nil {
		return nil, nil, nil, err
	}
	first := make([]int, cfg.TestSize)
	for i := range first {
		first[i] = i
	}
	if testSet, err = test.Select(first); err != nil {
		return nil, nil, nil, err
	}
	return trainSet, valSet, testSet, nil
}

// Data is the experiment's data: standardized MNIST, shuffled per (seed, epoch), shifted by up
// to MaxShift pixels, full batches only; validation and test in order, EvalBatch at a time.
func Data(cfg RunConfig, seed int64) (*experiment.Data, error) {
	trainSet, valSet, testSet, err := Splits(cfg)
	if err != nil {
		return nil, err
	}
	data, err := lesson.MNISTData(trainSet, valSet, testSet, cfg.BatchSize, EvalBatch, cfg.MaxShift, seed)
	if err != nil {
		return nil, fmt.Errorf("patchembed: %w", err)
	}
	return data, nil
}

// Timm names the timm model with the same state_dict: the patch-stem models are timm's
// VisionTransformer; the overlap and conv stems and the tanh head are not expressible with
// timm's keyword arguments, so they export under the same names without a timm recipe.
func Timm(cfg RunConfig) *experiment.TimmModel {
	if cfg.Stem != StemPatch || cfg.RepresentationSize > 0 {
		return nil
	}
	v := cfg.ViT()
	return &experiment.TimmModel{Name: "vit_tiny_patch16_224", Kwargs: map[string]any{
		"img_size": v.ImageSize, "patch_size": v.PatchSize, "in_chans": v.InChans, "num_classes": v.NumClasses,
		"embed_dim": v.EmbedDim, "depth": v.Depth, "num_heads": v.NumHeads, "mlp_ratio": v.MLPRatio,
		"qkv_bias": v.QKVBias, "class_token": v.ClassToken, "global_pool": v.Pool,
	}}
}

// Exp is the lesson's registered experiment: a ViT on MNIST with a choice of stem and pooling.
var Exp = &experiment.Experiment[RunConfig]{
	Name:        Name,
	Description: "lesson 2: ViT on MNIST — patchify vs overlapping conv stem, class token vs average pooling",
	Defaults:    func() RunConfig { return ForBudget(lesson.Full).Run },
	Model:       Model,
	Loss:        loss.SparseCategoricalCrossEntropyLogits,
	Metrics:     lesson.Metrics[RunConfig],
	Data:        Data,
	Select:      lesson.BestAccuracy,
	Timm:        Timm,
}

func init() { experiment.MustRegister(Exp) }
