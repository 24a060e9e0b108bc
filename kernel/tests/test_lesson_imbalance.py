"""Lesson 13 (class imbalance and dynamic sampling): notebooks/13-imbalance-sampling.ipynb executed
headless through the gostudy kernel at the test budget; its printed claims and figures are asserted.

The rule u < p is checked exactly (hand-written class-balanced probabilities equal the library's)
and statistically (kept samples per class within a few standard errors of Σp). The training claims
are one seed of a few hundred steps, so they are asserted only where the effect is large at that
size (the majority bias, the memorized rare digit, the shrinking epochs of the error sampler); the
comparisons between samplers must say they have no verdict. Runs go to a fresh folder."""

import re

import pytest

from conftest import cell_outputs, cell_text, execute_notebook, floats, fresh_runs, cell_markdown, svg_texts, svgs

NUM = r"([-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)"
SAMPLERS = ("all samples", "balanced, power 0.5", "balanced, power 1", "dynamic by per-class F1", "dynamic by per-sample error")


@pytest.fixture(scope="module")
def nb():
    with fresh_runs("imbalance-runs-"):
        yield execute_notebook("13-imbalance-sampling.ipynb", timeout=1200)


def test_setup_and_long_tail(nb):
    text = cell_text(nb["setup"])
    n, zero, nine = floats(r"budget test on [a-z:]+: 5000 MNIST training images cut to a long tail of ratio 100: (\d+) images "
                           r"\(digit 0: (\d+), digit 9: (\d+)\), 3 epochs, 5 samplers × 1 seed; 1000 balanced test images", text)
    # About a quarter of the digits survive a ratio-100 tail (Σ 100^(−c/9) / 10 = 0.248).
    assert 0.22 * 5000 < n < 0.28 * 5000 and 80 < zero / nine < 125, text
    tail = cell_text(nb["tail"])
    r100, r10 = floats(r"ratio 100: digit 0 has \d+, digit 9 \d+ \(" + NUM + r"×\); ratio 10: \d+ and \d+ \(" + NUM + r"×\)", tail)
    assert 80 < r100 < 125 and 8 < r10 < 12.5, tail
    assert "Training images per digit after the long-tail cut" in svg_texts(svgs(nb["tail"])[0])


def test_rule_u_below_p(nb):
    text = cell_text(nb["rule"])
    for power in ("0.5", "1"):
        m = re.search(r"power " + power + r": by hand vs sampling.ClassBalanced: largest \|Δp\| " + NUM + r"; kept per epoch: "
                      r"digit 0 " + NUM + r" by hand, " + NUM + r" by the library \(expected " + NUM + r"\), digit 9 " + NUM + ", "
                      + NUM + r" \(expected " + NUM + r"\); every class within " + NUM + " standard errors", text)
        assert m, text
        dp, h0, l0, e0, h9, l9, e9, se = map(float, m.groups())
        assert dp == 0, text  # the same formula
        assert h9 == l9 == e9, text  # the rarest digit has p = 1: always kept
        # 20 comparisons (10 digits, by hand and by the library) of a mean over 200 epochs.
        assert se < 4.5, text
    assert "epoch is 4% of all samples" in cell_markdown(nb["summary-1"]) or re.search(r"an epoch is \d+% of all samples", cell_markdown(nb["summary-1"]))


def test_samplers_table(nb):
    cell = nb["train"]
    html = "".join(o.data.get("text/html", "") for o in cell_outputs(cell, "display_data"))
    for s in SAMPLERS:
        assert s in html, s
    assert "macro-F1" in html and "recall, digit 9" in html
    assert re.search(r"mean ± std over 1 seed; trained in \d+ s", cell_text(cell))


def test_majority_bias(nb):
    text = cell_text(nb["bias"])
    head, rare = floats(r"claim training on all samples favours the frequent classes — measured: recall of digits 0–2 " + NUM
                        + r" ± 0, of digit 9 " + NUM, text)
    assert head > rare + 0.3, text
    f1, acc = floats(r"macro-F1 " + NUM + r" is below the accuracy " + NUM, text)
    assert f1 < acc, text
    for s in SAMPLERS[1:]:
        assert re.search(re.escape(s) + r" +vs all samples: macro-F1 [-+][0-9.]+ points \(one seed: no verdict\)", text), s
    assert "Test recall per digit" in svg_texts(svgs(nb["bias"])[0])
    assert "Measured in section 2" in cell_markdown(nb["summary-2"]) and "one seed: no verdict" in cell_markdown(nb["summary-2"])


def test_easy_samples_and_shrinking_epochs(nb):
    text = cell_text(nb["easy"])
    easy, = floats(r"at the end " + NUM + r"% of the training digits had q > 0.99", text)
    assert 20 <= easy <= 100, text
    first, last = floats(r"the error sampler's epochs shrink as the model learns: (\d+) samples in epoch 1, (\d+) in epoch 3", text)
    assert last < first, text
    assert re.search(r"all samples +\d+ \(1.00× all samples'\)", text), text
    assert "Validation accuracy (balanced) against training samples drawn" in svg_texts(svgs(nb["easy"])[0])


def test_rare_digit_memorized(nb):
    text = cell_text(nb["gap"])
    gap, = floats(r"train − test balanced accuracy " + NUM, text)
    train9, test9 = floats(r"digit 9 \(\d+ images\): " + NUM + r" − " + NUM, text)
    assert gap > 0.05 and train9 - test9 > 0.3, text
    assert "sits in the rare digits" in cell_markdown(nb["summary-4"])


def test_other_ratio_and_phantoms(nb):
    other = cell_text(nb["other"])
    assert re.search(r"ratio 10: dynamic by per-class F1 vs all samples: macro-F1 [-+][0-9.]+ points \(one seed: no verdict\)", other), other
    ph = cell_text(nb["phantoms"])
    normal, benign, malignant = floats(r"training phantoms per class: normal (\d+), benign (\d+), malignant (\d+)", ph)
    assert malignant < 0.3 * min(normal, benign), ph  # the step: malignant keeps a tenth
    for s in ("all samples", "balanced, power 1"):
        assert re.search(r"phantoms, " + re.escape(s) + r" +macro-F1 [0-9.]+ ± 0, malignant recall", ph), s
    assert "Phantoms: test recall per class" in svg_texts(svgs(nb["phantoms"])[-1])
    assert "Measured in section 5" in cell_markdown(nb["summary-5"])


def test_questions_answered(nb):
    text = cell_text(nb["answers"])
    for q in ("Q1", "Q2", "Q3", "Q4", "Q5"):
        assert re.search(r"^" + q + r"\. ", text, re.M), q
    assert "(1 seed, budget test)" in text and "one seed: no verdict" in text
