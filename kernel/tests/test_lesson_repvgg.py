"""Lesson 9 (RepVGG and train ≠ inference; normalization) executed headless through the gostudy
kernel at the test budget; the printed claims, the verdicts computed from the run and the figures
are asserted. Runs go to a fresh folder (GOSTUDY_RUNS), so every execution trains.

Tolerances: the fusion and normalisation claims are exact up to float32 rounding, so they are
checked at 1e-4 of the outputs' scale — a wrong fold, a missing branch or a GroupNorm over other
axes misses by orders of magnitude."""

import re

import pytest

from conftest import NUM, cell_text, execute_notebook, floats, fresh_runs, svg_texts, svgs, cell_html as html, cell_markdown as markdown


@pytest.fixture(scope="module")
def nb():
    with fresh_runs("repvgg-runs-"):
        yield execute_notebook("09-repvgg-normalization.ipynb")


def headers(cell):
    return re.findall(r"<th[^>]*>([^<]*)</th>", html(cell))


def test_setup_reads_the_budget(nb):
    out = cell_text(nb["setup"])
    assert "budget test: 1280 MNIST training images × 1 epoch(s), batch 32; 1000 test images; 1 seed per network" in out
    assert "network: stem 16 + stages [2 4 4] of [16 32 64] channels = 11 3×3 layers" in out
    assert re.search(r"runs are kept in \S*repvgg-runs-", out)


def test_main_run_learns(nb):
    out = cell_text(nb["train"])
    (acc,) = floats(r"trained 40 steps: best validation accuracy [\d.]+, test accuracy ([\d.]+)", out)
    # 40 steps of 32 digits (chance 0.10); measured 0.63 on xla:cpu.
    assert acc > 0.3, out
    assert svgs(nb["train"]), "no live training curve"


def test_each_fusion_step_is_exact(nb):
    cell = nb["fusion"]
    out = cell_text(cell)
    assert "block /stages/0/1 (16 channels in and out)" in out
    steps = re.findall(r"claim (\d)\. [^\n]*max \|difference\| " + NUM + r" \(outputs up to " + NUM + r"\)", out)
    assert [s[0] for s in steps] == ["1", "2", "3", "4"], out
    for _, diff, scale in steps:
        assert float(scale) > 0.1 and float(diff) < 1e-4 * float(scale), out
    (kd,) = floats(r"library's fused kernel \(nn.RepVGGReparameterize\): max \|difference\| " + NUM, out)
    assert kd < 1e-4
    (root,) = svgs(cell)
    t = svg_texts(root)
    for name in ("3×3 branch (BN folded)", "1×1 branch, padded to 3×3", "identity branch as 3×3", "fused kernel (their sum)"):
        assert name in t, name
    assert "Measured in section 2" in markdown(cell)


def test_fold_by_hand(nb):
    out = cell_text(nb["byhand"])
    w, nw, bias, nb_ = floats(r"max \|difference\| " + NUM + r" over (\d+) weights, " + NUM + r" over (\d+) biases", out)
    assert nw == 16 * 16 * 9 and nb_ == 16 and w < 1e-4 and bias < 1e-4, out


def test_fused_network_equals_trained(nb):
    out = cell_text(nb["equal"])
    n, diff, scale = floats(r"measured on (\d+) test digits: max \|logit difference\| " + NUM + r" \(logits up to " + NUM, out)
    assert n == 250 and diff < 1e-4 * max(scale, 1), out
    agree, total, acc_u, acc_f = floats(r"(\d+) of (\d+) digits classified the same; accuracy ([\d.]+) trained form, ([\d.]+) fused", out)
    assert agree == total == 250 and acc_u == acc_f


def test_costs_and_time(nb):
    cell = nb["cost"]
    out = cell_text(cell)
    p0, p1, buf, m0, m1, br0, br1 = floats(r"measured: (\d+) → (\d+) parameters \([\d.]+% fewer\), (\d+) BN buffers → 0, ([\d.]+) → ([\d.]+) M MACs "
                                          r"\([\d.]+% fewer\), (\d+) branches → (\d+)", out)
    assert p1 < p0 and buf > 0 and m1 < m0 and (br0, br1) == (29, 11)
    m = re.search(r"exactly the plain VGG — measured: (.+) vs (.+)\n", out)
    assert m and m.group(1) == m.group(2), out
    unfused, fused, speedup = floats(r"([\d.]+) ms trained form, ([\d.]+) ms fused, per batch of 64 \(median of 5 alternating rounds\): ([\d.]+)×", out)
    assert unfused > 0 and fused > 0 and abs(speedup - unfused / fused) < 0.02
    assert headers(cell) == ["form", "parameters", "BN buffers", "MACs (M)", "branches"], headers(cell)
    assert "Measured in section 4" in markdown(cell)


def test_comparison(nb):
    cell = nb["compare"]
    out = cell_text(cell)
    accs = dict(re.findall(r"(repvgg|plain|resnet) \[2 4 4\] +test accuracy ([\d.]+) ± 0", out))
    assert set(accs) == {"repvgg", "plain", "resnet"}, out
    for arch, acc in accs.items():
        assert float(acc) > 0.3, (arch, acc)
    # One seed: the verdict must not claim anything.
    assert re.search(r"repvgg vs plain: [-+][\d.]+ points \(one seed: no verdict\)", out)
    t = svg_texts(svgs(cell)[-1])
    assert "repvgg [2 4 4]" in t and "resnet [2 4 4]" in t and "1 seed" in t
    # The reading's number is the printed difference.
    points = float(re.search(r"repvgg vs plain: ([-+][\d.]+) points", out).group(1))
    assert abs(points - 100 * (float(accs["repvgg"]) - float(accs["plain"]))) < 0.011
    assert "Measured in section 5" in markdown(cell)


def test_batchnorm_modes(nb):
    cell = nb["bn"]
    assert headers(cell) == ["batch size", "accuracy, BN on batch statistics", "accuracy, BN on running statistics",
                             "mean |logit difference|", "predictions changed"], headers(cell)
    out = cell_text(cell)
    b1, ch1, d1, b2, ch2, d2 = floats(r"at batch (\d+), ([\d.]+)% of predictions differ from eval mode \(mean \|logit difference\| ([\d.]+)\); "
                                      r"at batch (\d+), ([\d.]+)% \(([\d.]+)\)", out)
    assert (b1, b2) == (1, 250) and d1 > 0 and d2 > 0 and ch1 > 0
    t = svg_texts(svgs(cell)[-1])
    assert "train mode: batch statistics" in t and "eval mode: running statistics" in t and "batch size" in t
    md = markdown(cell)
    assert "Measured in section 6" in md and "at every batch size" in md


def test_norms(nb):
    out = cell_text(nb["norm-params"])
    lines = re.findall(r"claim: (.+) learns only γ and β — measured: (\d+) parameters \(bias \[32\], weight \[32\]\); a linear layer would learn (\d+)", out)
    assert [l[0] for l in lines] == ["BatchNorm2d", "LayerNorm (over channels)", "GroupNorm(1, C)", "GroupNorm(4, C)"]
    assert all(l[1] == "64" and l[2] == "1056" for l in lines)
    assert "running_mean [32]" in html(nb["norm-params"])
    out = cell_text(nb["ln-scale"])
    diff, scale = floats(r"LN\(a·x\) = LN\(x\) for per-sample scales \[0.5 2 10 100\] — measured: max \|difference\| " + NUM + r" \(outputs up to " + NUM, out)
    assert diff < 1e-4 * scale
    moved, homog = floats(r"its output moved by up to ([\d.]+)× its norm; FC\(a·x\) − b = a·\(FC\(x\) − b\) to " + NUM, out)
    assert moved > 1 and homog < 1e-2
    out = cell_text(nb["groupnorm"])
    assert "on feature maps [16 14 14 16]" in out
    (by_hand,) = floats(r"std over C·H·W — measured: max \|difference\| " + NUM, out)
    (ln_diff,) = floats(r"it is not LayerNorm over C — measured: max \|difference\| ([\d.]+)", out)
    assert by_hand < 1e-4 and ln_diff > 0.5
    assert "Measured in section 7" in markdown(nb["groupnorm"])


def test_answers(nb):
    answers = cell_text(nb["answers"])
    for n in range(1, 5):
        assert re.search(r"^" + str(n) + r"\. ", answers, re.M), n
    assert "one seed: no verdict" in answers
    assert "2. Both." in answers and "3. No." in answers and "4. Over C·H·W" in answers
