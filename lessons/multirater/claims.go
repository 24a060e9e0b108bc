package multirater

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gostudy/gostudy/datasets/batching"
	"github.com/gostudy/gostudy/datasets/phantom"
	"github.com/gostudy/gostudy/datasets/raters"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/lessons/segkit"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
)

// Cost counts the run's network on one image (rater id 0).
func Cost(cfg RunConfig) (nn.Cost, error) {
	return segkit.Cost(func(s *model.Scope, x *Node) *Node {
		ids := Zeros(x.Graph(), shapes.Make(dtypes.Int32, x.Shape().Dimensions[0]))
		return Network(s, cfg, x, ids)
	}, cfg.ImageSize)
}

// Predictions are a trained model's masks for every (test image, rater) of the training
// raters: Probs[r][i] is rater r's predicted lesion probability on image i.
type Predictions struct {
	Probs [][][]float32
}

// PredictRaters runs a trained model on samples once per rater in rs (ids = r; a pooled model
// ignores them) and returns the probabilities per rater.
func PredictRaters(b compute.Backend, store *model.Store, cfg RunConfig, samples []*phantom.Sample, rs []int) ([][][]float32, error) {
	p, err := segkit.NewPredictor(b, store, Logits(cfg), true)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	out := make([][][]float32, len(rs))
	ids := make([]int32, len(samples))
	for k, r := range rs {
		for i := range ids {
			ids[i] = int32(r)
		}
		if out[k], err = p.Predict(samples, ids); err != nil {
			return nil, fmt.Errorf("rater %d: %w", r, err)
		}
	}
	return out, nil
}

// RaterRow is what one rater's labels show against what a model reproduces for that rater.
type RaterRow struct {
	Rater string `display:"rater"`
	// TrueOffset is the rater's measured margin offset on the test labels (px, + outward);
	// ModelOffset the same measure of the model's masks for that rater; the area ratios and
	// miss rates likewise.
	TrueOffset  float64 `display:"true offset;unit=px;format=%+.2f"`
	ModelOffset float64 `display:"model's offset;unit=px;format=%+.2f"`
	TrueArea    float64 `display:"true area ratio;format=%.2f"`
	ModelArea   float64 `display:"model's area ratio;format=%.2f"`
	TrueMiss    float64 `display:"true miss rate;format=%.2f"`
	ModelMiss   float64 `display:"model's miss rate;format=%.2f"`
	// Dice is the model's mean Dice against this rater's test labels.
	Dice float64 `display:"Dice vs the rater;format=%.3f"`
}

// RecoverBiases measures, for each training rater, the rater's biases on the test labels
// (raters.Measure) and the same biases of the model's predicted masks for that rater.
func RecoverBiases(probs [][][]float32, set *raters.Set) ([]RaterRow, error) {
	var rows []RaterRow
	for r := range probs {
		labels := set.RaterLabels(r)
		truth, err := raters.Measure(labels, set.Samples)
		if err != nil {
			return nil, err
		}
		masks := make([][]uint8, len(probs[r]))
		for i, p := range probs[r] {
			masks[i] = segkit.Binarize(p)
		}
		model, err := raters.Measure(masks, set.Samples)
		if err != nil {
			return nil, err
		}
		dice, err := segkit.Dice(masks, set.Samples, labels)
		if err != nil {
			return nil, err
		}
		rows = append(rows, RaterRow{Rater: set.Panel[r].Name, TrueOffset: truth.Offset, ModelOffset: model.Offset,
			TrueArea: truth.AreaRatio, ModelArea: model.AreaRatio, TrueMiss: truth.MissRate, ModelMiss: model.MissRate,
			Dice: experiment.NewStat(dice).Mean})
	}
	return rows, nil
}

// OffsetFit summarizes how well models' offsets follow the raters': the slope and correlation
// of model offset against true offset over the raters, and the mean absolute error.
type OffsetFit struct {
	Slope, Correlation, MeanAbsError float64
}

// FitOffsets regresses the model offsets of rows on the true ones.
func FitOffsets(rows []RaterRow) OffsetFit {
	n := float64(len(rows))
	var mx, my float64
	for _, r := range rows {
		mx += r.TrueOffset / n
		my += r.ModelOffset / n
	}
	var sxy, sxx, syy, mae float64
	for _, r := range rows {
		sxy += (r.TrueOffset - mx) * (r.ModelOffset - my)
		sxx += (r.TrueOffset - mx) * (r.TrueOffset - mx)
		syy += (r.ModelOffset - my) * (r.ModelOffset - my)
		mae += math.Abs(r.ModelOffset-r.TrueOffset) / n
	}
	f := OffsetFit{MeanAbsError: mae}
	if sxx > 0 {
		f.Slope = sxy / sxx
	}
	if sxx > 0 && syy > 0 {
		f.Correlation = sxy / math.Sqrt(sxx*syy)
	}
	return f
}

// LatentNorms reads the trained latent table and returns ‖z_r‖ for every rater of the panel.
func LatentNorms(store *model.Store) ([]float64, error) {
	v := store.GetVariable("/raters/weight")
	if v == nil {
		return nil, fmt.Errorf("no rater latents in the checkpoint (a pooled model?)")
	}
	t, err := v.Value()
	if err != nil {
		return nil, err
	}
	d := t.Shape().Dimensions
	flat := tensors.MustCopyFlatData[float32](t)
	out := make([]float64, d[0])
	for r := range d[0] {
		var s float64
		for _, x := range flat[r*d[1] : (r+1)*d[1]] {
			s += float64(x) * float64(x)
		}
		out[r] = math.Sqrt(s)
	}
	return out, nil
}

// Fit is the newcomer fitted from k images, starting from a trained run.
type Fit struct {
	K      int  `json:"k" display:"images k"`
	Frozen bool `json:"frozen" display:"backbone frozen"`
	// NewDice is the fitted model's Dice against the newcomer's test labels; TrueOffset and
	// Offset the newcomer's margin offset in the labels and in the model's masks.
	NewDice    float64 `json:"new_dice" display:"Dice vs the newcomer;format=%.3f"`
	Offset     float64 `json:"offset" display:"model's offset;unit=px;format=%+.2f"`
	TrueOffset float64 `json:"true_offset" display:"newcomer's offset;unit=px;format=%+.2f"`
	// OldBefore and OldAfter are the mean Dice against the training raters' test labels
	// before and after the fit: what fitting the newcomer cost the others.
	OldBefore float64 `json:"old_before" display:"others' Dice before;format=%.3f"`
	OldAfter  float64 `json:"old_after" display:"others' Dice after;format=%.3f"`
	Steps     int     `json:"steps" display:"-"`
}

// fitFile keeps a run's fits next to its record, keyed by k, frozen and steps.
const fitFile = "newcomer_fits.json"

// FitNewcomer starts from the finished run of cfg and seed (under dir, "" for the default)
// and fits the newcomer — the panel's held-out rater — from the first k training images he
// labelled, for steps steps of Adam: with the backbone frozen (only the latent table trains,
// BatchNorm in inference mode; only the newcomer's row gets a gradient) or with everything
// trainable. The latents' penalty is on the newcomer's row alone. The result is cached in the
// run's folder; the checkpoint itself is never changed.
func FitNewcomer(ctx context.Context, b compute.Backend, cfg RunConfig, seed int64, dir string, k int, frozen bool, steps int) (*Fit, error) {
	if cfg.Mode != ModeEmbedding || cfg.OnlyRater >= 0 {
		return nil, fmt.Errorf("fit a newcomer: the run must have a latent per rater (mode %s, only_rater %d)", cfg.Mode, cfg.OnlyRater)
	}
	tr, err := lesson.Load(Experiment, cfg, seed, dir)
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	file := filepath.Join(tr.Dir, fitFile)
	var cached []Fit
	if data, err := os.ReadFile(file); err == nil {
		_ = json.Unmarshal(data, &cached)
	}
	for _, f := range cached {
		if f.K == k && f.Frozen == frozen && f.Steps == steps {
			return &f, nil
		}
	}
	trainImgs, _, test, err := cfg.Splits()
	if err != nil {
		return nil, err
	}
	if k <= 0 || k > len(trainImgs) {
		return nil, fmt.Errorf("fit a newcomer from %d images: the run has %d training images", k, len(trainImgs))
	}
	panel := Panel(cfg.ImageSize)
	testSet, err := raters.NewSet(test, panel, raters.AllRaters, lesson.PhantomSeed)
	if err != nil {
		return nil, err
	}
	old := make([]int, TrainingRaters)
	for i := range old {
		old[i] = i
	}
	// The others' Dice before any fit is the base run's: computed once, kept with the fits.
	oldBefore := math.NaN()
	for _, f := range cached {
		oldBefore = f.OldBefore
	}
	if math.IsNaN(oldBefore) {
		before, err := PredictRaters(b, tr.Store, cfg, test, old)
		if err != nil {
			return nil, err
		}
		oldBefore = meanDice(before, testSet, old)
	}
	fit := &Fit{K: k, Frozen: frozen, Steps: steps, OldBefore: oldBefore}
	fitSet, err := raters.NewSet(trainImgs[:k], panel, raters.AllRaters, lesson.PhantomSeed)
	if err != nil {
		return nil, err
	}
	fitSet = fitSet.ForRaters(Newcomer)
	fitSet.Augment = phantom.Augment{FlipH: cfg.FlipH}
	ds, err := batching.New("newcomer", fitSet, batching.Options{BatchSize: min(k, cfg.BatchSize), Seed: uint64(seed), Shuffle: true,
		DropRemainder: true, Loop: true})
	if err != nil {
		return nil, err
	}
	_, err = lesson.Catch("fit the newcomer", func() (struct{}, error) {
		modelFn := func(scope *model.Scope, _ any, inputs []*Node) []*Node {
			g := inputs[0].Graph()
			if frozen {
				scope.Store().SetTraining(g, false) // BatchNorm keeps its statistics
			}
			logits := Network(scope, cfg, inputs[0], inputs[1])
			scope.Store().SetTraining(g, true)
			if frozen {
				for v := range scope.Store().IterVariables() {
					if v.Path() != "/raters/weight" && v.Trainable {
						v.SetTrainable(false)
					}
				}
			}
			table := scope.Store().GetVariable("/raters/weight").NodeValue(g)
			row := Slice(table, AxisRange(Newcomer, Newcomer+1), AxisRange())
			return []*Node{logits, MulScalar(ReduceAllSum(Square(row)), cfg.LatentL2)}
		}
		// A fresh Adam state: the checkpoint keeps the main run's moments, and with them every
		// latent row would keep moving on its old momentum though its gradient is zero.
		opt := optimizer.Adam().Scope("newcomer_adam").LearningRate(cfg.LearningRate).Done()
		trainer := train.NewTrainer(b, tr.Store, modelFn, Loss, opt, nil, nil)
		defer trainer.ResetComputationGraphs()
		loop := train.NewLoop(trainer)
		loop.OnStep("cancel", 0, func(*train.Loop, []*tensors.Tensor) error { return ctx.Err() })
		_, err := loop.RunSteps(ds, steps)
		return struct{}{}, err
	})
	if err != nil {
		return nil, err
	}
	after, err := PredictRaters(b, tr.Store, cfg, test, append(old, Newcomer))
	if err != nil {
		return nil, err
	}
	fit.OldAfter = meanDice(after[:len(old)], testSet, old)
	fit.NewDice = meanDice(after[len(old):], testSet, []int{Newcomer})
	masks := make([][]uint8, len(test))
	for i, p := range after[len(old)] {
		masks[i] = segkit.Binarize(p)
	}
	modelBias, err := raters.Measure(masks, test)
	if err != nil {
		return nil, err
	}
	trueBias, err := raters.Measure(testSet.RaterLabels(Newcomer), test)
	if err != nil {
		return nil, err
	}
	fit.Offset, fit.TrueOffset = modelBias.Offset, trueBias.Offset
	cached = append(cached, *fit)
	if data, err := json.Marshal(cached); err == nil {
		_ = os.WriteFile(file, data, 0o644)
	}
	return fit, nil
}

// meanDice is the mean Dice of probs[k] (rater rs[k]'s predictions) against rater rs[k]'s
// labels in set, over the raters.
func meanDice(probs [][][]float32, set *raters.Set, rs []int) float64 {
	var sum float64
	for k, r := range rs {
		masks := make([][]uint8, len(probs[k]))
		for i, p := range probs[k] {
			masks[i] = segkit.Binarize(p)
		}
		d, err := segkit.Dice(masks, set.Samples, set.RaterLabels(r))
		if err != nil {
			return math.NaN()
		}
		sum += experiment.NewStat(d).Mean
	}
	return sum / float64(len(rs))
}
