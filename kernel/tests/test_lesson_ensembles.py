"""Lesson 11 (residual networks as ensembles) executed headless through the gostudy kernel at the
test budget; the printed claims, the verdicts computed from the run and the figures are asserted.
Runs go to a fresh folder (GOSTUDY_RUNS), so every execution trains.

At the test budget (40 steps, one seed) the networks are far from trained and no verdict may be
claimed: the tests check that the numbers are printed, consistent with each other and with the
verdicts, and that the exact claims (a deleted block passes its input on; concatenation keeps its
input) hold exactly."""

import re

import pytest

from conftest import NUM, cell_text, execute_notebook, floats, fresh_runs, svg_texts, svgs, cell_html as html, cell_markdown as markdown


@pytest.fixture(scope="module")
def nb():
    with fresh_runs("ensembles-runs-"):
        yield execute_notebook("11-residual-ensembles.ipynb")


def test_setup_reads_the_budget(nb):
    out = cell_text(nb["setup"])
    assert "budget test: 1280 MNIST training images × 1 epoch(s), batch 32; 1 seed per network; deletions judged on 500 test digits" in out
    assert re.search(r"runs are kept in \S*ensembles-runs-", out)


def test_four_networks_train(nb):
    cell = nb["train"]
    out = cell_text(cell)
    accs = dict(re.findall(r"(resnet|plain|preact|densenet) \[[\d ]+\](?: k=20)? +test accuracy ([\d.]+) ± 0", out))
    assert set(accs) == {"resnet", "plain", "preact", "densenet"}, out
    # 40 steps (chance 0.10); measured resnet 0.76, densenet 0.72, preact 0.62, plain 0.30 on xla:cpu.
    assert float(accs["resnet"]) > 0.4 and float(accs["densenet"]) > 0.4
    assert "densenet [4 4 4] k=20" in html(cell)
    t = svg_texts(svgs(cell)[-1])
    assert "training loss" in t and "plain [3 3 3]" in t


def test_deleting_by_hand(nb):
    out = cell_text(nb["mechanism"])
    (d1,) = floats(r"ReLU\(x \+ 1·F\(x\)\) = nn.BasicBlock — max \|difference\| " + NUM, out)
    d0, xin, fx = floats(r"passes its input on — max \|difference\| " + NUM + r" \(the input is up to ([\d.]+), F\(x\) up to ([\d.]+)\)", out)
    assert d1 < 1e-5 and d0 < 1e-5 and xin > 0.1 and fx > 0.1


def test_single_deletions(nb):
    cell = nb["single"]
    out = cell_text(cell)
    res_drop, plain_drop = floats(r"keeps the map size: resnet ([-\d.]+) ± [\d.]+ points, plain ([-\d.]+) ± [\d.]+ points", out)
    (points,) = floats(r"plain vs resnet: ([-+][\d.]+) points \(one seed: no verdict\)", out)
    assert abs(points - (plain_drop - res_drop)) < 0.011
    t = svg_texts(svgs(cell)[-1])
    assert "layer2.0*" in t and "layer3.0*" in t and "layer1.1" in t and "accuracy drop" in t
    for arch in ("resnet", "plain", "preact"):
        assert arch in t
    assert "Measured in section 3" in markdown(cell)


def test_downsampling_and_multi(nb):
    out = cell_text(nb["downsample"])
    ch, keep = floats(r"resnet: mean drop ([-\d.]+) ± [\d.]+ points for the 2 blocks that change the map size, ([-\d.]+) ± [\d.]+ points for the 7", out)
    (points,) = floats(r"downsampling vs the others: ([-+][\d.]+) points \(one seed: no verdict\)", out)
    assert abs(points - (ch - keep)) < 0.011
    out = cell_text(nb["multi"])
    for arch in ("resnet", "preact", "plain"):
        a0, a1, a2, a3, k, a_all = floats(arch + r" +accuracy with 0, 1, 2, 3 blocks deleted: ([\d.]+), ([\d.]+), ([\d.]+), ([\d.]+); all (\d+): ([\d.]+)", out)
        assert k == 7 and all(0 <= a <= 1 for a in (a0, a1, a2, a3, a_all))
    t = svg_texts(svgs(nb["multi"])[-1])
    assert "blocks deleted" in t and "test accuracy" in t


def test_preact_and_dense(nb):
    out = cell_text(nb["preact"])
    assert re.search(r"preact vs resnet: [-+][\d.]+ points \(one seed: no verdict\)", out)
    cell = nb["dense"]
    out = cell_text(cell)
    assert "measured: 16 → 80 channels (concatenation) vs 16 → 16 (addition)" in out
    d_in, d_first, r_in, r_first = floats(r"input changed by " + NUM + r", first layer by " + NUM + r"; addition: by ([\d.]+) and ([\d.]+)", out)
    assert d_in == 0 and d_first == 0 and r_in > 0.1 and r_first > 0.01
    assert re.findall(r"<th[^>]*>([^<]*)</th>", html(cell))[:3] == ["how the input is joined", "3×3 convs", "parameters"]
    assert "Measured in section 7" in markdown(cell)


def test_answers(nb):
    answers = cell_text(nb["answers"])
    for n in range(1, 6):
        assert re.search(r"^" + str(n) + r"\. ", answers, re.M), n
    # One seed: answers 2 and 3 must not claim a verdict.
    assert "2. This run cannot say" in answers and "3. This run cannot say" in answers
    assert re.search(r"1\. With 1, 2, 3 blocks .* the ResNet kept -?\d+%", answers)
