"""Lesson 1 (dropout scaling): notebooks/01-dropout.ipynb executed headless through the gostudy
kernel at the test budget; the printed claims and the figures are asserted.

Tolerances are several standard deviations of each estimate at the test budget, so a claim that
were false (a mean of 1−p where 1 is claimed, a mask that is not per sample, a test network that
does not scale) fails. Runs go to a fresh folder (GOSTUDY_RUNS), so every execution trains."""

import math
import re

import pytest

from conftest import cell_outputs, cell_text, execute_notebook, floats, fresh_runs, svg_elements, svg_texts, svgs

NUM = r"([-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)"


@pytest.fixture(scope="module")
def nb():
    with fresh_runs("dropout-runs-"):
        yield execute_notebook("01-dropout.ipynb")


def test_setup_reads_the_test_budget(nb):
    text = cell_text(nb["setup"])
    assert re.search(r"budget test on xla:cpu: 200 draws per p; network trained on 3000 MNIST images for 2 epochs; 1 seed per setting", text)
    assert re.search(r"runs are kept in \S*dropout-runs-", text)


def test_mechanism_in_a_few_lines_equals_the_library(nb):
    text = cell_text(nb["mechanism"])
    assert re.search(r"the few lines = nn\.Dropout, training mode — max \|difference\| 0; evaluation mode 0", text), text
    assert re.search(r"the network's scaling \"original\", training mode — 0; evaluation mode 0", text), text


def test_activations_are_real_feature_maps(nb):
    text = cell_text(nb["activations"])
    assert re.search(r"digits \[7 2 1 0\] → activations \(Float32\)\[4, 14, 14, 16\]", text), text
    (fig,) = svgs(nb["activations"])
    assert "stem activations for a test image of a 7" in svg_texts(fig)
    assert len(svg_elements(fig, "image")) >= 16, "one raster per channel"


def test_scaling_claims(nb):
    one, many = svgs(nb["scaling"])
    assert "one draw of dropout, p = 0.5" in svg_texts(one) and "dropout ÷ (1−p) (mean" in svg_texts(one)
    assert "averaged over 200 draws" in svg_texts(many) and "with 1/(1−p) (mean" in svg_texts(many)
    text = cell_text(nb["claim-scaling"])
    rows = re.findall(r"claim p=" + NUM + r": with 1/\(1-p\) E\[y\]/x = 1 — measured " + NUM + r" \(per unit " + NUM +
                      r" ± " + NUM + r", binomial " + NUM + r"\); without: 1-p = " + NUM + r" — measured " + NUM +
                      r"; dropped " + NUM, text)
    assert [float(r[0]) for r in rows] == [0.1, 0.3, 0.5, 0.8], text
    for r in rows:
        p, ratio, unit, spread, binom, _, naive, dropped = map(float, r)
        # About 6000 positive units × 200 draws: the totals are known to a few 1e-3.
        assert abs(ratio - 1) < 0.01, (p, ratio)
        assert abs(unit - 1) < 0.01, (p, unit)
        assert abs(naive - (1 - p)) < 0.01, (p, naive)
        assert abs(dropped - p) < 0.005, (p, dropped)
        assert 0.85 < spread / binom < 1.15, (p, spread, binom)
    (err,) = floats(r"largest relative error " + NUM, text)
    assert err < 1e-5


def test_train_vs_test_in_three_conventions(nb):
    text = cell_text(nb["train-eval"])
    for op, tol in (("Dropout", 0.02), ("DropPath", 0.15)):  # DropPath: one mask per sample, 4 digits × 200 draws
        for scaling, scale, ratio in (("inverted", 1, 1), ("original", 0.5, 1), ("none", 1, 0.5)):
            got_scale, exact, got_ratio = floats(r"claim " + op + ", " + scaling + r", p=0\.5: test output = [\d.]+·x — measured " +
                                                 NUM + r" \(exact to " + NUM + r"\); E\[train\]/test = " + NUM, text)
            assert abs(got_scale - scale) < 1e-6 and exact < 1e-6, (op, scaling, got_scale, exact)
            assert abs(got_ratio - ratio) < tol * ratio, (op, scaling, got_ratio)
    summary = cell_outputs(nb["summary-1"], "display_data")[0].data["text/markdown"]
    assert "Measured in section 1" in summary and "with inverted" in summary


def test_dropout_vs_droppath_masks(nb):
    (grid,) = svgs(nb["kinds"])
    t = svg_texts(grid)
    assert "single elements" in t and "whole samples" in t
    assert len(svg_elements(grid, "image")) >= 2
    text = cell_text(nb["kinds"])
    d, dp = floats(r"elements — measured Dropout " + NUM + r", DropPath " + NUM, text)
    assert abs(d - 0.3) < 0.005 and abs(dp - 0.3) < 0.03
    dp_s, d_s = floats(r"whole samples with probability p, Dropout never — measured DropPath " + NUM + r", Dropout " + NUM, text)
    assert d_s == 0 and abs(dp_s - 0.3) < 0.03  # 32 samples × 200 draws
    d_std, dp_std, bern = floats(r"spread across samples: Dropout " + NUM + r", DropPath " + NUM + r" \(√\(p\(1-p\)\) = " + NUM, text)
    assert d_std < 0.03 and abs(dp_std - bern) < 0.03


def test_training_live_curve_and_accuracy(nb):
    cell = nb["train"]
    text = cell_text(cell)
    assert re.search(r"the network, per image: params 24\dK, MACs 3\.\d+M", text)
    assert re.search(r"trained 92 steps in \d+ s; best epoch \d", text)
    bars = [o for o in cell_outputs(cell, "display_data") if "text/html" in o.data]
    assert "92/92" in bars[-1].data["text/plain"]
    (curve,) = svgs(cell)
    t = svg_texts(curve)
    # The chart says what it plots: the training loss, one curve for the one run.
    assert "Main run, Dropout p=0.5: training loss" in t and "batch loss" in t and "dropout" in t
    (acc,) = floats(r"claim MNIST test accuracy ≥ 0\.97 at the full budget — measured " + NUM + r" on 2000 test images \(budget test\)",
                    cell_text(nb["claim-accuracy"]))
    # The test budget is 92 steps on 3000 images with Dropout 0.5: an honest floor, not 97%.
    assert acc >= 0.85, acc


def test_feature_maps_of_each_stage(nb):
    grid, hidden = svgs(nb["featmaps"])
    t = svg_texts(grid)
    for stage in ("stem [14 14 16]", "layer1 [14 14 16]", "layer2 [7 7 32]"):
        assert stage in t
    assert len(svg_elements(grid, "image")) >= 3 * 16, "16 channel panels per stage"
    th = svg_texts(hidden)
    assert "train 4" in th and "eval" in th and "hidden unit" in th and "for a test image of a 7" in th


def test_dropout_inside_the_network(nb):
    text = cell_text(nb["in-network"])
    ratio, vs_eval = floats(r"site head\.drop \(p=0\.5\): claim E\[after\]/E\[before\] = 1 — measured " + NUM + r"; E\[train\]/eval = " + NUM, text)
    assert abs(ratio - 1) < 0.02 and abs(vs_eval - 1) < 0.02
    ev, one, mc = floats(r"evaluation mode " + NUM + r" \| one training-mode pass " + NUM + r" \| MC average of 20 passes " + NUM, text)
    assert ev >= 0.85 and mc >= 0.85 and one < ev + 0.02
    agree, gap = floats(r"agreement " + NUM + r", mean logit gap " + NUM, text)
    assert agree >= 0.9 and gap < 0.5


def arm_accuracies(text):
    return {name.strip(): float(acc) for name, acc in re.findall(r"^(.+?) +test accuracy " + NUM + r" ± ", text, re.M)}


def test_compare_kinds_conventions_and_placements(nb):
    cell = nb["compare"]
    figs = svgs(cell)
    assert len(figs) == 2, "live training curves and the bar chart"
    live = svg_texts(figs[0])
    # One curve per arm, including the main run reused from its record.
    for arm in ("none", "Dropout p=0.5, inverted", "Dropout p=0.5, original", "DropPath q=0.2", "the paper's dropout"):
        assert arm in live, arm
    assert "training loss" in live and "validation accuracy" not in live
    assert "MNIST test accuracy (mean ± std over 1 seed)" in svg_texts(figs[1])
    text = cell_text(cell)
    accs = arm_accuracies(text)
    assert len(accs) == 5 and all(a >= 0.8 for a in accs.values()), accs
    losses = floats(r"training loss none " + NUM + r" < each arm with drops: " + NUM + r", " + NUM + r", " + NUM + r", " + NUM, text)
    assert all(losses[0] < l for l in losses[1:]), losses
    (diff,) = floats(r"original vs inverted: " + NUM + r" points \(one seed: no verdict\)", text)
    assert abs(diff) < 3
    tables = [o.data["text/markdown"] for o in cell_outputs(cell, "display_data") if "text/markdown" in o.data]
    assert tables and "| arm |" in tables[-1] and "the paper's dropout" in tables[-1]


def test_forgetting_the_correction(nb):
    text = cell_text(nb["original"])
    kept = floats(r"Dropout p, original +test-time convention original: first site head\.drop E\[train\]/test = " + NUM, text)[0]
    forgot = floats(r"Dropout p, original +test-time convention none +: first site head\.drop E\[train\]/test = " + NUM, text)[0]
    assert abs(kept - 1) < 0.02 and abs(forgot - 0.5) < 0.02
    head, every = floats(r"accuracy change: head only " + NUM + r" points, input \+ every layer " + NUM + r" points", text)
    # One drop before a linear layer barely matters; drops before BatchNorm and ReLU do.
    assert abs(head) < 1 and every < head, (head, every)


def test_p_sweep(nb):
    cell = nb["sweep"]
    tables = [o.data["text/markdown"] for o in cell_outputs(cell, "display_data") if "text/markdown" in o.data]
    assert tables and "| 0 |" in tables[0] and "| 0.5 |" in tables[0]
    curve = svgs(cell)[-1]
    assert "test accuracy vs dropout probability p (mean ± std over 1 seed)" in svg_texts(curve)
    text = cell_text(cell)
    acc0, acc5 = floats(r"p=0\s+test accuracy " + NUM + r".*\n.*p=0\.5\s+test accuracy " + NUM, text)
    (worst,) = floats(r"does not hurt — measured: worst change " + NUM + r" at p=0\.5", text)
    assert abs(worst - (acc5 - acc0)) < 1e-3
    # The sweep's p = 0 and p = 0.5 runs are the comparison's: the same accuracies.
    accs = arm_accuracies(cell_text(nb["compare"]))
    assert abs(acc0 - accs["none"]) < 1e-4 and abs(acc5 - accs["Dropout p=0.5, inverted"]) < 1e-4


def test_questions_answered_with_numbers(nb):
    text = cell_text(nb["answers"])
    for q in ("Q1", "Q2", "Q3", "Q4", "Q5", "Q6"):
        assert re.search(r"^" + q + r"\. ", text, re.M), q
    assert "stage 4: [0.182 0.200]" in text and "is too strong" in text
    uni, normal, phi = floats(r"uniform draws keep " + NUM + r" \(1−p = 0\.7\), normal draws keep " + NUM + r"\s+\(1−Φ\(0\.3\) = " + NUM, text)
    assert abs(uni - 0.7) < 0.003 and abs(normal - phi) < 0.003 and abs(phi - 0.5 * math.erfc(0.3 / math.sqrt(2))) < 1e-4
