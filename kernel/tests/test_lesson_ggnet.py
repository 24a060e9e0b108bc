"""Lesson 6 (GG-Net: global guidance and boundary detection): notebooks/06-gg-net.ipynb executed
headless through the gostudy kernel at the test budget; the printed claims, the measures
computed from the run and the figures are asserted.

The test budget trains the main run and the subtraction-order arm with one seed, so the
comparisons read "one seed: no verdict"; what is asserted holds at any size: exact checks of the
blocks written out, symmetric logits with asymmetric weights, the BD edge's sign and its error
floor, the cost table. Runs go to a fresh folder (GOSTUDY_RUNS), so every execution trains."""

import re

import pytest

from conftest import cell_html, cell_markdown, cell_text, execute_notebook, floats, fresh_runs, svg_texts, svgs

NUM = r"([-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)"


@pytest.fixture(scope="module")
def nb():
    with fresh_runs("ggnet-runs-"):
        yield execute_notebook("06-gg-net.ipynb")


markdown, html = cell_markdown, cell_html


def test_setup(nb):
    text = cell_text(nb["setup"])
    assert ("budget test on xla:cpu: synthetic phantoms (datasets/phantom) at 32×32; 3 levels, base 8; 160 training images × 3 "
            "epochs; 50 test images; 1 seed; questions trained: order") in text, text


def test_guidance_trains(nb):
    """γ = 0 at the start blocks the guidance's gradient only at the first step: its fuse conv moves."""
    text = cell_text(nb["moved"])
    spatial, channel = floats(r"γ after training: spatial " + NUM + ", channel " + NUM, text)
    (moved,) = floats(r"the guidance map's fuse conv moved " + NUM, text)
    assert spatial != 0 and channel != 0, text
    assert 0.01 < moved < 1, text
    assert "guidance" in re.sub(r"<[^>]+>", " ", html(nb["moved"]))


def test_costs(nb):
    text = cell_text(nb["cost"])
    params, flops = floats(r"both GGBs add ([\d.]+)% of the U-Net's parameters and ([\d.]+)% of its FLOPs", text)
    assert 0 < params < 50 and 0 < flops < 50, text
    growth, pgrowth = floats(r"FLOPs grow (\d+)× from an 8×8 to a 32×32 map \(16× the positions\), its parameters (\d+)×", text)
    assert growth > 16 and pgrowth == 1, text
    assert "U-Net (same encoder and decoder)" in html(nb["cost"])


def test_main_run(nb):
    text = cell_text(nb["train"])
    graph, go = floats(r"test Dice " + NUM + r" \(the run's metric\) = " + NUM, text)
    assert abs(graph - go) < 1e-4 and graph > 0.3, text


def test_ggb_written_out_and_symmetry(nb):
    text = cell_text(nb["ggb"])
    (diff,) = floats(r"nn\.ChannelGGB — max \|difference\| " + NUM, text)
    assert diff < 1e-5
    spatial, channel = floats(r"the blocks written out = nn's — spatial " + NUM + ", channel " + NUM, text)
    assert spatial < 1e-4 and channel < 1e-4
    w, prod, soft = floats(r"W_c: asymmetry " + NUM + r"; W_c ⊙ W_g: " + NUM + r"; softmax rows \(the weights used\): " + NUM, text)
    assert w < 1e-5 and prod < 1e-5 and soft > 1e-4, text
    (sw,) = floats(r"spatial W = QKᵀ: asymmetry " + NUM, text)
    assert sw > 0.1
    figs = svgs(nb["guidance-fig"])
    assert "The guidance map G" in svg_texts(figs[0])
    assert "softmax(W ⊙ W′): what GG-Net uses" in svg_texts(figs[1])
    (udiff,) = floats(r"identity projections — max \|difference\| " + NUM, cell_text(nb["unify"]))
    assert udiff < 1e-4


def test_comparison_arms(nb):
    table = html(nb["compare"])
    for arm in ("GG-Net (softmax(W⊙W′))", "E = maxpool(F) − F"):
        assert f">{arm}<" in table, arm
    assert "W only (self-attention) not trained at this budget" in cell_text(nb["guidance"])


def test_edges_of_a_mask(nb):
    text = cell_text(nb["edges"])
    table = re.sub(r"<[^>]+>", " ", html(nb["edges"]))
    assert "just outside the margin" in table and "just inside the margin" in table
    (inside,) = floats(r"Canny's contour pixels lie inside the mask: (\d+)%", text)
    assert 0 < inside < 100
    assert "is 0 at a corner with −∞ padding (PyTorch's max-pool), -3 with zero padding" in text, text


def test_bd_modules(nb):
    text = cell_text(nb["bd-probe"])
    for lo, hi, mse, floor in re.findall(r"level \d: E in \[" + NUM + ", " + NUM + r"\]; edge MSE " + NUM + " vs " + NUM, text):
        assert float(hi) <= 0 and float(mse) >= float(floor), text  # E ≤ 0 cannot beat E ≡ 0
    rev = re.findall(r"maxpool\(F\) − F, level \d: E in \[" + NUM + ", " + NUM + r"\]", text)
    assert rev and all(float(lo) >= 0 for lo, _ in rev), text
    assert "Measured in section 7" in markdown(nb["bd-probe"])


def test_targets_and_answers(nb):
    (fig,) = svgs(nb["target"])
    assert "native mask (rendered)" in svg_texts(fig)
    text = cell_text(nb["answers"])
    for n in range(1, 14):
        assert f"{n}. " in text, n
