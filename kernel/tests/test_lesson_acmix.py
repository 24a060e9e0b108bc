"""Lesson 8 (ACmix) executed headless through the gostudy kernel at the test budget; the printed
claims, the verdicts computed from the run and the figures are asserted. Runs go to a fresh folder
(GOSTUDY_RUNS), so every execution trains.

The equivalences (shifted 1×1 convs, the four vectorisation steps) are exact to float32 rounding and
checked at 1e-4 of the outputs' scale; the parameter and MAC counts are exact; the trained
comparisons have one seed here, so no verdict may be claimed; the timing is a ratio measured in the
run, checked only for consistency."""

import re

import pytest

from conftest import NUM, cell_text, execute_notebook, floats, fresh_runs, svg_texts, svgs, cell_html as html, cell_markdown as markdown


@pytest.fixture(scope="module")
def nb():
    with fresh_runs("acmix-runs-"):
        yield execute_notebook("08-acmix.ipynb")


def test_setup_reads_the_budget(nb):
    out = cell_text(nb["setup"])
    assert "budget test: 1280 MNIST training images × 1 epoch(s), batch 32; 1000 test images; 1 seed per network" in out
    assert re.search(r"runs are kept in \S*acmix-runs-", out)


def test_shifted_1x1(nb):
    diff, scale = floats(r"summed = the 3×3 conv — max \|difference\| " + NUM + r" \(outputs up to ([\d.]+)\)", cell_text(nb["shift-hand"]))
    assert scale > 0.1 and diff < 1e-4 * scale
    out = cell_text(nb["shift"])
    diff, scale = floats(r"\(nn.ConvAsShifted1x1\) — measured: max \|difference\| " + NUM + r" \(outputs up to ([\d.]+)\)", out)
    assert diff < 1e-4 * scale
    no_shift, pct = floats(r"added at the same position — measured: max \|difference\| ([\d.]+), (\d+)% of the output's range", out)
    assert no_shift > 0.1 * scale and pct > 10


def test_vectorisation(nb):
    cell = nb["vec"]
    out = cell_text(cell)
    steps = re.findall(r"claim: step (\d) computes the 3×3 conv — measured: max \|difference\| " + NUM + r" \(outputs up to ([\d.]+)\), (\d+) learnable", out)
    assert [s[0] for s in steps] == ["1", "2", "3", "4"], out
    for _, diff, scale, _ in steps:
        assert float(diff) < 1e-4 * float(scale)
    assert [int(s[3]) for s in steps] == [0, 0, 16 * 81, 16 * 81]
    assert "starts as step 2's fixed shift kernel — max |difference| 0" in out
    assert "对上一种方式重复了N次" in html(cell)
    assert "Measured in sections 1–2" in markdown(cell)


def test_code_vs_figure_and_costs(nb):
    out = cell_text(nb["figure"])
    code_fc, fig_fc, ratio, dep = floats(r"fc (\d+) weights \(\[9 12 1 1\]\) in the code, (\d+) \(\[36 12 1 1\]\) in the figure, (\d+)×; dep_conv (\d+) in both", out)
    assert code_fc == 108 and fig_fc == 432 and ratio == 4 and dep == 64 * 81
    out = cell_text(nb["cost"])
    both, ratio, conv = floats(r"ACmix per pixel: (\d+) MACs, ([\d.]+)× the 3×3 conv's (\d+)", out)
    assert conv == 9 * 64 * 64 and both < conv and abs(ratio - both / conv) < 0.01
    table = html(nb["cost"])
    assert "MACs per pixel (formula)" in table and "local attention (7×7 window)" in table
    assert "Measured in sections 3–4" in markdown(nb["cost"])


def test_training(nb):
    cell = nb["train"]
    out = cell_text(cell)
    names = ("ResNet \\(3×3 conv\\)", "ResNet-ACmix", "attention path only", "conv path only")
    accs = re.findall(r"(" + "|".join(names) + r") +test accuracy ([\d.]+) ± 0", out)
    assert len(accs) == 4, out
    assert float(accs[0][1]) > 0.3 and float(accs[1][1]) > 0.3, accs
    assert re.search(r"ResNet-ACmix +test accuracy [\d.]+ ± 0; vs the ResNet: [-+][\d.]+ points \(one seed: no verdict\)", out)
    t = svg_texts(svgs(cell)[-1])
    assert "ResNet-ACmix" in t and "conv path only" in t
    assert "Measured in section 5" in markdown(cell)


def test_rates(nb):
    cell = nb["rates"]
    table = html(cell)
    for block in ("layer1.0", "layer2.0", "layer3.0"):
        assert block in table
    out = cell_text(cell)
    early, late = floats(r"conv share β/\(α\+β\): first stage ([\d.]+) ± [\d.]+, last stage ([\d.]+) ± [\d.]+", out)
    assert 0 < early < 1 and 0 < late < 1
    assert "first vs last stage conv share: " in out and "one seed: no verdict" in out
    t = svg_texts(svgs(cell)[-1])
    assert "α (attention)" in t and "β (conv)" in t and "layer1.0 (14)" in t


def test_latency(nb):
    out = cell_text(nb["latency"])
    assert "8 maps of 28×28×64, 2 heads, 7×7 windows: 22656 MACs per token for both (W-MSA's graph counts 22656)" in out
    wmsa, sliding, ratio = floats(r"W-MSA ([\d.]+) ms, sliding windows ([\d.]+) ms per batch: sliding takes ([\d.]+)× as long", out)
    assert wmsa > 0 and sliding > 0 and abs(ratio - sliding / wmsa) < 0.02 * ratio
    verdict = "backwards" if ratio > 1 else "not slower"
    assert verdict in out


def test_answers(nb):
    answers = cell_text(nb["answers"])
    for n in range(1, 5):
        assert re.search(r"^" + str(n) + r"\. ", answers, re.M), n
    assert "1. Only with the shifts" in answers and "one seed: no verdict" in answers
