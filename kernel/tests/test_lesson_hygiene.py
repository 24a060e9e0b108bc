"""Lesson 14 (experiment hygiene): notebooks/14-experiment-hygiene.ipynb executed headless through
the gostudy kernel at the test budget; its printed claims and figures are asserted.

The claims are exact where the lesson says they are (the same seed twice is bit-identical on
xla:cpu; the pure-Go backend draws other initial weights from the same seed; a comparison's
changed keys) and loose where they are statistics of two or three seeds. Runs go to a fresh
folder (GOSTUDY_RUNS), so every execution trains."""

import math
import re

import pytest

from conftest import cell_outputs, cell_text, execute_notebook, floats, fresh_runs, cell_markdown, svg_texts, svgs

NUM = r"([-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)"
HASH = r"([0-9a-f]{40})"


@pytest.fixture(scope="module")
def nb():
    with fresh_runs("hygiene-runs-"):
        yield execute_notebook("14-experiment-hygiene.ipynb", timeout=1200)


def test_setup_reads_the_test_budget(nb):
    text = cell_text(nb["setup"])
    assert re.search(r"budget test on xla:cpu: the main run trains on 1024 MNIST images for 1 epoch\(s\), 16 steps; "
                     r"2 seeds for the spread, 2 \+ 2 runs for init vs data, 3 arms × 1 seed for the comparison", text), text


def test_run_by_hand_is_the_library_bit_for_bit(nb):
    main = cell_text(nb["main"])
    assert re.search(r"conv stem, basic block, batch norm: trained 16 steps", main), main
    text = cell_text(nb["byhand"])
    assert re.search(r"claim the same config and seed give the same run, bit for bit — measured on xla:cpu: 16 of 16 step "
                     r"losses identical, 1 of 1 validation accuracies identical, test accuracy [0-9.]+ by hand vs [0-9.]+ "
                     r"recorded \(identical: true\)", text), text
    assert re.search(r"the record names the best checkpoint best/step-0+16-\d+ \(epoch 1\)", text), text
    assert "reproduced `experiment.Run` exactly" in cell_markdown(nb["summary-1"])


def test_order_of_additions(nb):
    text = cell_text(nb["sums"])
    (distinct,) = floats(r"the same 100000 float32 values, 5 orders of addition: (\d+) different float32 sums", text)
    # A forward and a backward float32 loop over 10^5 normal values never agree; the tree and XLA may.
    assert 2 <= distinct <= 5, text
    assert "the same op on the same backend twice: identical true" in text
    for order in ("forward loop", "backward loop", "pairwise tree", "ReduceSum on xla:cpu", "ReduceSum on go"):
        assert order in text, order


def test_two_backends(nb):
    text = cell_text(nb["backends"])
    rel, differ, tensors = floats(r"same seed on xla:cpu and go: initial weights " + NUM + r" apart \(‖Δw‖/‖w‖\), (\d+) of (\d+) "
                                  r"weight tensors differ", text)
    # Unrelated N(0, σ²) draws are √2 apart; the BatchNorm constants (1 and 0) agree, hence less.
    assert 0.8 < rel < 1.5 and 0 < differ < tensors == 20, text
    logits, scale = floats(r"logits differ by at most " + NUM + r" \(largest logit " + NUM + r"\)", text)
    assert 0 <= logits < 1e-4 * scale, text
    w1, big, elements = floats(r"after step 1: weights " + NUM + r" apart; (\d+) of (\d+) weights differ by more than lr/1000", text)
    assert 0 < w1 < 0.05 and big >= 1 and elements == 14978, text
    _, w4, first = floats(r"after step 4: \|Δloss\| " + NUM + r", weights " + NUM + r" apart; first step whose loss differs in any bit: (\d+)", text)
    assert w4 >= w1 and 1 <= first <= 4, text
    assert "the xla:cpu side is the main run: 4 of its 4 losses equal the record's, bit for bit" in text
    scale_text = cell_text(nb["backends-scale"])
    seeds, backends = floats(r"two seeds' losses differ by " + NUM + r" on average, the two backends' by " + NUM, scale_text)
    assert backends < seeds, scale_text
    (fig,) = svgs(nb["backends-scale"])
    t = svg_texts(fig)
    assert "Seed 0 on xla:cpu vs on go" in t and "seed 0 vs seed 1, xla:cpu" in t and "|Δ training loss|" in t


def test_seed_spread_and_power(nb):
    text = cell_text(nb["seeds"])
    mean, std = floats(r"2 seeds: test accuracy " + NUM + r" ± " + NUM, text)
    assert 0.5 < mean < 1 and std >= 0, text
    (expected,) = floats(r"the best of 2 runs sits about " + NUM + r" standard deviations above the mean", text)
    assert abs(expected - 1 / math.sqrt(math.pi)) < 0.01, text  # E[max of two standard normals] = 1/√π
    (rank,) = floats(r"the main run \(seed 0\) ranks (\d) of 2", text)
    assert rank in (1, 2)
    assert "worst to best" in svg_texts(svgs(nb["seeds"])[-1])
    power = cell_text(nb["power"])
    sigma, delta, need = floats(r"σ = " + NUM + r" points between seeds: detecting δ = " + NUM + r" points with 80% power takes (\d+) seeds", power)
    # n = 2·((2 + z_0.8)·σ/δ)²; σ is printed to two decimals, hence the tolerance.
    assert delta == 0.2 and abs(need - 2 * (2.8416 * sigma / delta) ** 2) <= 0.05 * need + 2, power
    assert "Measured in section 3" in cell_markdown(nb["power"])


def test_init_vs_data_order(nb):
    text = cell_text(nb["sources"])
    for source, n in (("initial weights", 2), ("data order", 2), ("both", 2)):
        assert re.search(source + r" +varied \(" + str(n) + r" seeds\): test accuracy [0-9.]+ ± [0-9.e-]+, σ = [0-9.]+ ± [0-9.]+ points", text), source
    share, = floats(r"the initial weights' share of the two sources' variance: (\d+)%", text)
    assert 0 <= share <= 100
    # Two values per σ: ±71%, so no verdict is possible at the test budget.
    assert "each σ uncertain by ±71%); the larger source: within noise" in text, text


def test_confounded_and_controlled(nb):
    cell = nb["compare"]
    text = cell_text(cell)
    assert re.search(r"convnext-like: stem \+ block \+ norm +vs the baseline changes 3 key\(s\): stem: conv → patch, "
                     r"block: basic → convnext, norm: batch → layer", text), text
    assert re.search(r"block only +vs the baseline changes 1 key\(s\): block: basic → convnext", text), text
    assert len(re.findall(r"vs the baseline [-+][0-9.]+ points \(one seed: no verdict\)", text)) == 2, text
    tables = [o.data["text/markdown"] for o in cell_outputs(cell, "display_data") if "text/markdown" in o.data]
    assert any("| resnet-like (baseline) |" in t and "| block only |" in t for t in tables)
    assert "Test accuracy (mean ± std over 1 seed)" in svg_texts(svgs(cell)[-1])


def test_record_commit_and_dirty_flag(nb):
    text = cell_text(nb["provenance"])
    assert re.search(r"git commit +[0-9a-f]{40}(\+dirty)?", text), text
    first, dirty, second = (re.search(label + r" +" + HASH + r"(\+dirty)?", text) for label in ("committed:", "edited:", "edit committed:"))
    assert first and dirty and second, text
    assert first.group(2) is None and dirty.group(1) == first.group(1) and dirty.group(2) == "+dirty", text
    assert second.group(1) != first.group(1) and second.group(2) is None, text
    short = first.group(1)[:12]
    assert f"reused after the edit: trained at commit {short}, the code is now at {short}+dirty" in text, text
    assert f"and after the commit: trained at commit {short}, the code is now at {second.group(1)[:12]}" in text, text


def test_questions_answered(nb):
    text = cell_text(nb["answers"])
    for q in ("Q1", "Q2", "Q3", "Q4", "Q5", "Q6"):
        assert re.search(r"^" + q + r"\. ", text, re.M), q
    assert "16 of 16 losses here" in text and "found 3 changed keys" in text and "matched it bit for bit" in text
