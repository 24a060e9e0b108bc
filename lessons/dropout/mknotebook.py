"""Writes notebooks/01-dropout.ipynb (clean: no outputs, no execution counts, stable cell ids).

Run from the repository root: .venv/bin/python lessons/dropout/mknotebook.py
The kernel tests look cells up by id (kernel/tests/test_lesson_dropout.py)."""

import os

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "notebooks", "01-dropout.ipynb")

cells = []


def md(cid, text):
    cells.append(new_markdown_cell(text.strip("\n"), id=cid))


def code(cid, text, raises=False):
    c = new_code_cell(text.strip("\n"), id=cid)
    if raises:
        c.metadata["tags"] = ["raises-exception"]
    cells.append(c)


md("intro", r"""
# Lesson 1 — Dropout scaling (速记: dropout)

The notes ask, under 速记 (quick notes): *Dropout对于张量、网络分别是什么意思呢？如何理解其在训练和测试里面的区别？*
— what does dropout mean for a **tensor**, and for a **network**, and how should we understand the
difference between **training and testing**? Another 速记 entry answers part of it:

> drop的时候通常是利用随机向量把某些位置上的值全部置为0，而另外位置上的值需要放大。实际操作中，是把另外位置上的原数值除以保留概率。……
> 其数学期望是 (1-p)·a + p·0 = (1-p)·a，为了保证和不使用drop策略的期望一致，所以需要除以1-p。这里的a可以理解成原来特征空间中需要进行筛选的任意一个单位的值……

A drop uses a random vector to set some positions to 0 and **enlarges** the others, by dividing them
by the keep probability [保留概率] 1−p. Each unit *a* is either kept or deleted — a 0/1 (Bernoulli)
variable — so its expected output is (1−p)·a + p·0 = (1−p)·a; dividing the kept units by 1−p makes
the expectation [数学期望] equal to *a*, the value without dropout. And *a* is **any single unit**
[任意一个单位], not the whole tensor.

$$y_i = \frac{m_i}{1-p}\,x_i,\quad m_i \sim \text{Bernoulli}(1-p) \qquad\Rightarrow\qquad \mathbb{E}[y_i] = x_i \;\text{ for every unit } i.$$

This lesson builds that, measures it, and follows it into a network:

1. **Dropout on a tensor** — the 1/(1−p) factor over many draws and several p; train vs eval mode.
2. **The two kinds of drop** the notes meet in ViT and Swin [drop有两种方式]: Dropout (single
   elements) vs DropPath (stochastic depth: a whole residual branch, per sample).
3. **Dropout on a network** — a small residual CNN trained on real MNIST with a live curve, its
   feature maps, and the same op measured inside it in training and evaluation mode.
4. **Dropout vs DropPath on MNIST**, and a **p-sweep ablation** (with `pkg/ablation`).
5. **Questions from the notes**, answered with numbers computed here, and **Exercises**.

**Budget.** The first code cell reads `GOSTUDY_BUDGET`: `full` (the default) is what you should run
to study the lesson — more draws, 20 000 training images, two seeds per setting, 12 training runs
(48 minutes on a busy two-core CPU; a few minutes on a GPU); `test` is what the test suite runs (the
same code with smaller numbers, about 1½ minutes of CPU). Only the numbers in `ForBudget` change.

**Backends.** Everything runs on `xla:cpu` and `xla:cuda` (chosen by `backend.Default()`; `%backend`
switches). The network avoids max-pooling, so it also trains on the pure-Go backend `go` (which has no
max-pool gradient), only much more slowly.
""")

code("setup", r"""
import (
	"math/rand/v2"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gostudy/gostudy/lessons/dropout"
	"github.com/gostudy/gostudy/lessons/lesson"
	"github.com/gostudy/gostudy/pkg/ablation"
	"github.com/gostudy/gostudy/pkg/backend"
	"github.com/gostudy/gostudy/pkg/display"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
	"github.com/gostudy/gostudy/pkg/plots"
)

budget := lesson.MustCurrent() // GOSTUDY_BUDGET: "test" or "full" (the default)
cfg := dropout.ForBudget(budget)
if err := cfg.Validate(); err != nil {
	panic(err)
}
b := backend.MustDefault()
// This session's training runs go to a fresh folder. Point runsDir at a fixed folder (say "runs")
// to keep them: a finished run (same config, same seed) is then found and not trained again.
runsDir, err := os.MkdirTemp("", "gostudy-dropout-")
if err != nil {
	panic(err)
}
fmt.Printf("budget %s on %s: %d draws per p; network trained on %d MNIST images for %d epochs\n",
	budget, backend.Active(), cfg.Draws, cfg.Net.TrainSize, cfg.Net.Epochs)
fmt.Println("runs of this session:", runsDir) // `gostudy export <run dir>` exports any of them
""")

md("tensor-md", r"""
## 1. Dropout on a tensor [张量]

The tensor we drop is real: the activations of the network's stem — ReLU(BN(conv3×3, stride 2)) — for a
few MNIST test digits, with the network as initialized (no training needed to study the op). It is
`[digits, 14, 14, 16]`; about half its units are positive (after a ReLU the others are 0 and stay 0).
""")

code("activations", r"""
_, _, testSet, err := dropout.Splits(cfg.Net)
if err != nil {
	panic(err)
}
digits, digitLabels, err := dropout.Images(testSet, 0, cfg.ActImages)
if err != nil {
	panic(err)
}
initStore := model.NewStore()
initStore.SetParam(model.ParamInitialSeed, cfg.Seed)
initStages, err := dropout.StageMaps(b, initStore, cfg.Net, digits, 1)
if err != nil {
	panic(err)
}
x := initStages.Eval[0] // the stem's activations [B, 14, 14, 16]
fmt.Println("digits", digitLabels, "→ activations", x.Shape())
plots.FeatureMaps{Data: x, Title: fmt.Sprintf("The tensor we drop: stem activations of the digit %d", digitLabels[0]),
	MaxChannels: 16}
""")

md("scaling-md", r"""
Now drop it `cfg.Draws` times (a fresh mask each time, as in successive training steps) for several p,
with `nn.Dropout` (kept units divided by 1−p) and with `nn.DropoutNoRescale` (no factor). The first
histogram is one draw: about half the units (p = 0.5) fall to 0, the survivors double, and the mean stays
where it was — without the factor it halves. The second is the notes' point about a single unit *a*:
each unit's own output, averaged over all draws and divided by its input, gathers around 1 with the
factor and around 1−p without. The claim cell then prints, for every p, the ratio of the means
(`Ratio`, `RatioNaive`), the same ratio per unit, its spread next to the binomial prediction
√(p/((1−p)·draws)), the fraction of units dropped, and how exactly kept units equal x/(1−p).
""")

code("scaling", r"""
sc, err := dropout.MeasureScaling(b, x, cfg.Ps, cfg.Draws, cfg.HistP, cfg.Seed)
if err != nil {
	panic(err)
}
// One draw: the positive units of x (a drop cannot change the zeros) and what one mask makes of them.
display.Show(plots.Histogram{Title: fmt.Sprintf("The positive units of x and one draw of dropout, p = %g", sc.HistP),
	XLabel: "activation", ShowMean: true, Max: sc.HistMax,
	Series: []plots.HistSeries{
		{Name: "x", Values: sc.Input},
		{Name: "dropout ÷ (1−p)", Values: sc.Rescaled},
		{Name: "dropout, no factor", Values: sc.Naive},
	}})
// Many draws: every unit's output averaged over all draws, divided by its own input.
plots.Histogram{Title: fmt.Sprintf("Each unit's output averaged over %d draws ÷ its input, p = %g", cfg.Draws, sc.HistP),
	XLabel: "E[y] / x (per unit)", ShowMean: true,
	Series: []plots.HistSeries{
		{Name: "with 1/(1−p)", Values: sc.UnitRatios},
		{Name: "without", Values: sc.UnitRatiosNaive},
	}}
""")

code("claim-scaling", r"""
for _, r := range sc.Rows {
	fmt.Printf("claim p=%.1f: with 1/(1-p) E[y]/x = 1 — measured %.4f (per unit %.4f ± %.4f, binomial %.4f); "+
		"without: 1-p = %.2f — measured %.4f; dropped %.4f (claim %.1f)\n",
		r.P, r.Ratio, r.UnitRatioMean, r.UnitRatioStd, r.UnitRatioStdExpected, 1-r.P, r.RatioNaive, r.DroppedFrac, r.P)
}
fmt.Printf("kept units are exactly x/(1-p): largest relative error %.1e\n", func() float64 {
	m := 0.0
	for _, r := range sc.Rows {
		m = math.Max(m, r.KeptScaleErr)
	}
	return m
}())
sc.Rows // the whole table
""")

md("train-eval-md", r"""
### Train vs eval mode

In training mode a drop draws a fresh mask every call; in evaluation mode it does **nothing** — it is
the identity, and because of the 1/(1−p) factor the expected training output already equals it. The
same graph holds both modes here (the training flag is switched on around the training-mode calls
while the graph is built). Without the factor the expected training output is (1−p)·x while evaluation
passes x: the layers after it would see activations 1/(1−p) times larger at test time than in training.
""")

code("train-eval", r"""
trainEval, err := dropout.MeasureTrainEval(b, x, cfg.HistP, cfg.Draws, cfg.Seed)
if err != nil {
	panic(err)
}
for _, r := range trainEval {
	fmt.Printf("claim %s p=%g: eval is the identity — max|eval(x)-x| = %g; E[train(x)]/eval(x) = %.4f; "+
		"one training call changed %.2f of the positive units\n",
		r.Op, r.P, r.EvalMaxAbsDiff, r.TrainOverEval, r.TrainChangedFrac)
}
""")

md("kinds-md", r"""
## 2. Two kinds of drop: Dropout and DropPath

The ViT note says *drop有两种方式，需要按照需要进行选择* (there are two ways to drop; choose as needed)
and the Swin note *注意里面有多个地方用到了drop* (drops are used in several places). The two kinds are:

* **Dropout** (`nn.Dropout`, timm's `drop_rate`, `proj_drop`, `attn_drop`): each **element** is kept or
  zeroed independently.
* **DropPath** (`nn.DropPath`, timm's `drop_path_rate`; *stochastic depth*, Huang et al. 2016): each
  **sample** of the batch keeps or loses its whole residual branch, so `x + DropPath(f(x))` is just `x`
  for that sample — the block is skipped. Kept branches are divided by 1−p as well.

Below, both are applied with the same p to a batch of ones shaped like the stem activations
`[batch, 14, 14, 16]`: rows are samples, columns the first units of each sample, black = dropped.
""")

code("kinds", r"""
dims := append([]int{cfg.KindsBatch}, x.Shape().Dimensions[1:]...)
kinds, err := dropout.MeasureDropKinds(b, dims, 0.3, cfg.KindsDraws, cfg.MaskUnits, cfg.Seed)
if err != nil {
	panic(err)
}
maskFig := func(m [][]float32, title string) plots.Heatmap {
	return plots.Heatmap{Data: m, Title: title, XLabel: "unit", YLabel: "sample", ColorMap: plots.GrayMap(),
		BarLabel: "kept", Min: 0, Max: 1}
}
display.Show(plots.Grid{Cols: 2, Figures: []plots.Figure{
	maskFig(kinds.DropoutMask, fmt.Sprintf("Dropout p=%g: single elements", kinds.P)),
	maskFig(kinds.DropPathMask, fmt.Sprintf("DropPath p=%g: whole samples", kinds.P)),
}})
fmt.Printf("claim both zero a fraction p=%.1f of the elements — measured Dropout %.4f, DropPath %.4f\n",
	kinds.P, kinds.DropoutElementZeroFrac, kinds.DropPathElementZeroFrac)
fmt.Printf("claim DropPath zeroes whole samples with probability p, Dropout never — measured DropPath %.4f, Dropout %.4f\n",
	kinds.DropPathSampleZeroFrac, kinds.DropoutSampleZeroFrac)
fmt.Printf("claim per-sample dropped fraction: Dropout ≈ p for every sample, DropPath all or nothing — spread across samples: "+
	"Dropout %.4f, DropPath %.4f (√(p(1-p)) = %.4f)\n",
	kinds.DropoutPerSampleFracStd, kinds.DropPathPerSampleFracStd, math.Sqrt(kinds.P*(1-kinds.P)))
""")

md("network-md", r"""
## 3. Dropout on a network [网络]

The network (`dropout.Classifier`, timm-style names) is a small ResNet for 28×28 digits:

* stem: conv3×3 stride 2 → BN → ReLU (28 → 14 px, 16 channels);
* two stages of two residual blocks (16 channels at 14 px, 32 at 7 px). Each block is ResNet's
  BasicBlock with both kinds of drop: `y = ReLU(shortcut(x) + DropPath_q(BN(conv(Dropout_b(ReLU(BN(conv(x))))))))`
  (`branch_dropout` b is 0 by default; the DropPath rate grows linearly from 0 at the first block to
  `drop_path` q at the last, timm's schedule);
* head: flatten → fc1 (128) → ReLU → **Dropout p** → fc (10) — the hidden layer is where Srivastava et
  al. (2014) put dropout, and where ViT's MLP has it.

The main run trains it with p = `cfg.Net.Dropout` with Adam, keeps the best checkpoint by validation
accuracy, and scores that checkpoint on MNIST test images (`pkg/experiment`: one call).
""")

code("train", r"""
cost, err := nn.Measure(b, dropout.Classifier(cfg.Net), shapes.Make(dtypes.Float32, 1, 28, 28, 1))
if err != nil {
	panic(err)
}
fmt.Printf("the network, per image: %s\n", cost)
// A live chart (redrawn in place) and a progress bar, both fed by the run's progress events.
live := plots.NewLiveCurvesWith(plots.Curves{Title: fmt.Sprintf("Training with Dropout p=%g (live)", cfg.Net.Dropout),
	XLabel: "step", YLabel: "loss / accuracy", Smooth: 0.8}, plots.LiveOptions{})
bar := display.NewProgress(cfg.Net.Steps(), "training")
mainRec, err := dropout.Exp.Run(ctx, cfg.Net, experiment.Options{Dir: runsDir, Seed: cfg.Seed,
	Progress: dropout.Watch(live, bar, fmt.Sprintf("p=%g", cfg.Net.Dropout), cfg.Net.Steps())})
live.Flush()
bar.Done()
if err != nil {
	panic(err) // an interrupt stops after the current step; running the cell again resumes
}
fmt.Printf("trained %d steps in %.0f s; best epoch %d (val acc %.4f)\n",
	mainRec.Step, mainRec.WallSeconds, mainRec.Best.Epoch+1, mainRec.Best.Value)
""")

code("claim-accuracy", r"""
fmt.Printf("claim MNIST test accuracy ≥ 0.97 at the full budget — measured %.4f on %d test images (budget %s)\n",
	mainRec.Final["acc"], cfg.Net.TestSize, budget)
""")

md("featmaps-md", r"""
### Feature maps of a real digit at each stage

The trained network in evaluation mode on one test digit: the stem and the two stages. Then the head's
128 hidden units for the same digit: the first row in evaluation mode, the next rows after the
head's Dropout in training mode — each row one training step's mask: about half the units zeroed, the
survivors doubled (p = 0.5).
""")

code("featmaps", r"""
trained, err := dropout.LoadTrained(runsDir, cfg.Net, cfg.Seed)
if err != nil {
	panic(err)
}
one, oneLabel, _ := dropout.Images(testSet, 0, 1)
stages, err := dropout.StageMaps(b, trained.Store, cfg.Net, one, 4)
if err != nil {
	panic(err)
}
var figs []plots.Figure
for i, m := range stages.Eval {
	figs = append(figs, plots.FeatureMaps{Data: m, Title: fmt.Sprintf("%s %v", stages.Names[i], m.Shape().Dimensions[1:]),
		MaxChannels: 16})
}
display.Show(plots.Grid{Title: fmt.Sprintf("The trained network on a %d (evaluation mode)", oneLabel[0]), Cols: 3, Figures: figs})
rows := [][]float32{tensors.MustCopyFlatData[float32](stages.HiddenEval)}
labels := []string{"eval"}
for i, h := range stages.HiddenDropped {
	rows = append(rows, tensors.MustCopyFlatData[float32](h))
	labels = append(labels, fmt.Sprintf("train %d", i+1))
}
plots.Heatmap{Data: rows, YTicks: labels, XLabel: "hidden unit", YLabel: "pass",
	Title: fmt.Sprintf("Head hidden units of the %d: evaluation vs training-mode Dropout p=%g", oneLabel[0], cfg.Net.Dropout),
	BarLabel: "activation"}
""")

md("in-network-md", r"""
### The same op inside the network

Now run `cfg.MCImages` test digits through the trained network `cfg.MCDraws` times with its drops in
training mode (BatchNorm stays in evaluation mode, as with PyTorch's `model.eval()` followed by
re-enabling the Dropout modules) and compare with the deterministic evaluation-mode network:

* at the drop site, E[after]/E[before] — the op's own property, now on activations inside a net;
* the network's output: a single training-mode pass is a *thinned* network (Srivastava et al.) and is
  less accurate; the average over many passes (Monte-Carlo dropout) is close to the evaluation network,
  which is the cheap deterministic approximation of that average the 1/(1−p) factor makes possible;
* the same weights with the drops **without** the factor: what forgetting it does. At the drop site the
  mismatch is the full factor 1−p. What it does to predictions depends on what follows: here only `fc`,
  a linear layer, so the logits' weighted part shrinks by 1−p while the bias does not — the argmax often
  survives. Behind BatchNorm or several nonlinear layers the damage is larger (exercises 1 and 6).
""")

code("in-network", r"""
mcImages, mcLabels, err := dropout.Images(testSet, 0, cfg.MCImages)
if err != nil {
	panic(err)
}
inNet, err := dropout.MeasureInNetwork(b, trained, mcImages, mcLabels, cfg.MCDraws, cfg.Seed)
if err != nil {
	panic(err)
}
for i, s := range inNet.Rescaled.Sites {
	fmt.Printf("site %s (p=%g): claim E[after]/E[before] = 1 — measured %.4f; without the factor (claim %.2f) — measured %.4f\n",
		s.Site, s.P, s.OpRatio, 1-s.P, inNet.Naive.Sites[i].OpRatio)
}
fmt.Printf("accuracy on %d images: evaluation mode %.4f | one training-mode pass %.4f | MC average of %d passes %.4f\n",
	inNet.Images, inNet.EvalAcc, inNet.Rescaled.DrawAcc, inNet.Draws, inNet.Rescaled.MCAcc)
fmt.Printf("claim the evaluation network approximates the MC average — agreement %.4f, mean logit gap %.3f of the logit scale\n",
	inNet.Rescaled.Agreement, inNet.Rescaled.LogitRelGap)
fmt.Printf("without the factor: one pass %.4f, MC average %.4f, agreement with evaluation mode %.4f\n",
	inNet.Naive.DrawAcc, inNet.Naive.MCAcc, inNet.Naive.Agreement)
""")

md("compare-md", r"""
## 4. Dropout vs DropPath on MNIST

Three networks, the same data, seeds and steps: no drop, Dropout p in the head, and DropPath (last-block
rate q, linear from 0) on the residual branches. The main run above is one of them, and is not trained
again (same config, same seed). Besides test accuracy, the table gives the last epoch's training loss
(measured *with* the drops on) and the validation loss (drops off): a regularizer makes the training
task harder than the test-time one.
""")

code("compare", r"""
variants := dropout.Variants(cfg.Net.Dropout, cfg.CompareDropPath)
seeds := cfg.Seeds(cfg.CompareSeeds)
cmpLive := plots.NewLiveCurves("Dropout vs DropPath: validation accuracy (live)", "step", "val accuracy")
cmpBar := display.NewProgress(len(variants)*len(seeds)*cfg.Net.Steps(), "compare")
compare, err := dropout.CompareDrops(ctx, cfg.Net, variants, seeds, experiment.Options{Dir: runsDir},
	func(v dropout.Variant) experiment.Progress { return dropout.Watch(cmpLive, cmpBar, v.Name, cfg.Net.Steps()) })
cmpLive.Flush()
cmpBar.Done()
if err != nil {
	panic(err)
}
bars := plots.Bars{Title: fmt.Sprintf("MNIST test accuracy (mean ± std over %d seeds)", len(seeds)), YLabel: "test accuracy",
	ShowValues: true, Series: []plots.BarSeries{{Name: "test accuracy"}}}
for _, r := range compare {
	bars.Categories = append(bars.Categories, r.Variant.Name)
	bars.Series[0].Values = append(bars.Series[0].Values, r.TestAcc.Mean)
	bars.Series[0].Err = append(bars.Series[0].Err, r.TestAcc.Std)
}
display.Show(bars)
for _, r := range compare {
	fmt.Printf("%-16s test acc %s | last-epoch train loss (drops on) %s | val loss %s | mean block drop-path rate %.3f\n",
		r.Variant.Name, r.TestAcc, r.TrainLoss, r.ValLoss, r.MeanBlockDropPath)
}
fmt.Printf("claim drops make training harder: train loss none %.4f < Dropout %.4f and < DropPath %.4f\n",
	compare[0].TrainLoss.Mean, compare[1].TrainLoss.Mean, compare[2].TrainLoss.Mean)
fmt.Printf("measured test accuracy: none %.4f, Dropout %.4f (%+.4f), DropPath %.4f (%+.4f)\n",
	compare[0].TestAcc.Mean, compare[1].TestAcc.Mean, compare[1].TestAcc.Mean-compare[0].TestAcc.Mean,
	compare[2].TestAcc.Mean, compare[2].TestAcc.Mean-compare[0].TestAcc.Mean)
""")

md("sweep-md", r"""
## 5. The p-sweep

An ablation over the head's dropout probability p with `pkg/ablation` — the same grid as
`gostudy ablate dropout -grid dropout=0,0.1,0.25,0.5,0.75 -seeds 2` from a terminal (the full budget's grid). Each grid point × seed
is an ordinary run in `runsDir`, so the points already trained above are reused. The claim usually made
is that *moderate* dropout does not hurt (and may help a little against overfitting); the numbers below
are what this network, data and budget actually give.
""")

code("sweep", r"""
tableView := display.New()
sweepBar := display.NewProgress(len(cfg.SweepPs)*cfg.SweepSeeds*cfg.Net.Steps(), "sweep")
table, sweep, verdict, err := dropout.Sweep(ctx, cfg.Net, cfg.SweepPs, cfg.SweepSeeds, cfg.Seed, cfg.Moderate,
	experiment.Options{Dir: runsDir, Progress: dropout.Watch(nil, sweepBar, "sweep", cfg.Net.Steps())},
	func(_ int, t *ablation.Table) { tableView.Markdown(t.Markdown()) })
sweepBar.Done()
if err != nil {
	panic(err)
}
display.Show(dropout.SweepCurves(sweep))
for _, r := range sweep {
	fmt.Printf("p=%-5g test acc %s  test loss %s\n", r.P, r.TestAcc, r.TestLoss)
}
fmt.Printf("claim moderate dropout (0 < p ≤ %g) does not hurt — measured: worst change %+.4f at p=%g (p=0: %s)\n",
	verdict.Moderate, -verdict.ModerateWorstDrop, verdict.ModerateWorstP, verdict.Acc0)
fmt.Printf("best p = %g (%s); largest p = %g changes accuracy by %+.4f\n",
	verdict.BestP, verdict.BestAcc, verdict.HighestP, -verdict.HighestDrop)
""")

md("questions", r"""
## Questions from the notes

**Q1 (速记). Dropout对于张量、网络分别是什么意思？ — What does dropout mean for a tensor, and for a network?**
For a tensor it is an elementwise product with a random 0/1 mask scaled by 1/(1−p): every unit keeps its
expected value (section 1). For a network it is the same op on hidden activations, which makes every
training step train a different *thinned* sub-network; at test time the full network stands in for the
average of all of them (section 3). The cell below prints the evidence.

**Q2 (速记). 如何理解其在训练和测试里面的区别？ — How do training and testing differ?**
Training draws a fresh mask every step; testing does nothing (identity). Because of the 1/(1−p) factor
the two agree in expectation, unit by unit — without it, test-time activations are 1/(1−p) times too large.

**Q3 (速记). 为什么要除以保留概率？ — Why divide by the keep probability, and what is *a*?**
E[m·a/(1−p)] = (1−p)·a/(1−p) = a for each single unit *a*: measured per unit, not only for the tensor's
total, and the per-unit averages scatter around 1 exactly as a mean of Bernoulli draws should.

**Q4 (ViT). drop有两种方式，需要按照需要进行选择 — which two ways, and how to choose?**
Dropout zeroes elements; DropPath zeroes a sample's whole residual branch. DropPath needs a residual
connection (it must leave something behind) and regularizes depth; Dropout works anywhere, typically
in MLP hidden layers. On MNIST we measured both.

**Q5 (Swin). 注意里面有多个地方用到了drop — where are the drops in Swin?**
Four places, each a field of pkg/nn's Swin config named after timm's arguments: `DropRate` (`drop_rate`,
Dropout before the classifier head), `AttnDropRate` (`attn_drop_rate`, Dropout on the attention
probabilities), `ProjDropRate` (`proj_drop_rate`, Dropout after the attention's output projection and in
the MLP), and `DropPathRate` (`drop_path_rate`, DropPath on both residual branches of every block, the
rate growing linearly with depth — printed below for Swin-T).

**Q6 (速记). torch.rand是[0,1)均匀分布，而randn是正态分布 — why does it matter for dropout?**
A mask keeps a unit when a uniform draw u ∈ [0, 1) satisfies u ≥ p, so P(keep) = 1−p exactly; with a
normal draw the same test would keep 1−Φ(p) instead.
""")

code("answers", r"""
r := sc.Row(cfg.HistP)
fmt.Printf("Q1 tensor: p=%g E[y]/x = %.4f (per unit %.4f); network: E[after]/E[before] at %s = %.4f, MC average vs eval agreement %.4f\n",
	r.P, r.Ratio, r.UnitRatioMean, inNet.Rescaled.Sites[0].Site, inNet.Rescaled.Sites[0].OpRatio, inNet.Rescaled.Agreement)
fmt.Printf("Q2 eval max|eval(x)-x| = %g; E[train]/eval with factor %.4f, without %.4f; a net run without the factor: MC acc %.4f vs %.4f\n",
	trainEval[0].EvalMaxAbsDiff, trainEval[0].TrainOverEval, trainEval[1].TrainOverEval, inNet.Naive.MCAcc, inNet.Rescaled.MCAcc)
fmt.Printf("Q3 per-unit ratio spread %.4f vs binomial prediction %.4f over %d draws\n", r.UnitRatioStd, r.UnitRatioStdExpected, r.Draws)
fmt.Printf("Q4 whole samples zeroed: DropPath %.4f, Dropout %.4f; MNIST test acc none %.4f, Dropout %.4f, DropPath %.4f\n",
	kinds.DropPathSampleZeroFrac, kinds.DropoutSampleZeroFrac, compare[0].TestAcc.Mean, compare[1].TestAcc.Mean, compare[2].TestAcc.Mean)
fmt.Println("Q5 Swin-T drop-path rates per block (drop_path_rate 0.2, depths 2,2,6,2):")
for s, rates := range nn.DropPathRates(0.2, 2, 2, 6, 2) {
	fmt.Printf("   stage %d: %.3f\n", s+1, rates)
}
rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 6))
uniformKept, normalKept, n := 0, 0, 1_000_000
for range n {
	if rng.Float64() >= 0.3 {
		uniformKept++
	}
	if rng.NormFloat64() >= 0.3 {
		normalKept++
	}
}
fmt.Printf("Q6 keep rule u ≥ p with p=0.3: uniform draws keep %.4f (1-p = 0.7), normal draws keep %.4f (1-Φ(0.3) = %.4f)\n",
	float64(uniformKept)/float64(n), float64(normalKept)/float64(n), 0.5*math.Erfc(0.3/math.Sqrt2))
""")

md("exercises", r"""
## Exercises

1. **Forget the factor while training.** Run `gostudy ablate dropout -grid no_rescale=false,true` (or
   set `cfg.Net.NoRescale = true` and rerun the training cell). Does test accuracy collapse, as the
   mismatch above suggests? *Hint: a uniform scale of the logits does not change their argmax — but the
   fc bias is not scaled.*
2. **Dropout in convolutional branches.** Train with `branch_dropout` 0.1 and 0.3. *Hint: neighbouring
   pixels of a feature map are strongly correlated, so zeroing single elements removes little information
   (the motivation for DropBlock).*
3. **MC dropout as uncertainty.** Find the test digits on which single training-mode passes disagree.
   *Hint: build a `model.Exec` as `MeasureInNetwork` does and keep each draw's argmax per image.*
4. **The stochastic-depth schedule.** Compare `drop_path` 0.2 with the linear schedule against a uniform
   rate on every block. *Hint: `nn.DropPathRates` gives the schedule; the block rates are set in `lessons/dropout/model.go`.*
5. **Is the p-sweep's difference real?** Rerun the sweep with more seeds
   (`gostudy ablate dropout -grid dropout=0,0.25,0.5 -seeds 5`). *Hint: compare each gap with the std over
   seeds.*
6. **Dropout before BatchNorm.** Put `branch_dropout` > 0 (its dropout feeds a BatchNorm) and compare the
   BN running variance with the batch variance in evaluation mode. *Hint: this "variance shift" (Li et
   al., 2019) is a reason dropout is usually placed after the last BatchNorm.*
""")

nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"name": "gostudy", "display_name": "Go (gostudy)", "language": "go"},
    "language_info": {"name": "go", "file_extension": ".go", "mimetype": "text/x-go"},
})
nbformat.validate(nb)
nbformat.write(nb, OUT)
print("wrote", OUT)
