"""Lesson 4 (window attention, Swin): notebooks/04-window-attention.ipynb executed through the
gostudy kernel with the test budget; its printed claims and figures are asserted.

Runs go to a fresh temporary folder (GOSTUDY_RUNS), so every execution trains and draws the
live curve instead of reading back runs a previous execution left."""

import os
import re
import time

import pytest

from conftest import cell_outputs, cell_text, execute_notebook, floats, fresh_runs, svg_elements, svg_texts, svgs

NOTEBOOK = "04-window-attention.ipynb"


@pytest.fixture(scope="module")
def nb():
    with fresh_runs("windowattention-runs-"):
        start = time.time()
        cells = execute_notebook(NOTEBOOK)
        print(f"\n{NOTEBOOK}: executed in {time.time() - start:.0f} s")
        yield cells


def test_setup_reads_the_test_budget(nb):
    out = cell_text(nb["setup"])
    assert 'budget "test"' in out
    assert "M = 7, shift true, relative bias true" in out


def test_partition_drawn_on_a_real_digit(nb):
    assert "test image 0 is a 7" in cell_text(nb["digit"])
    (root,) = svgs(nb["partition-draw"])
    assert len(svg_elements(root, "image")) >= 3, "three overlays of the digit"
    assert "padding" in svg_texts(root) and "M = 4" in svg_texts(root)
    out = cell_text(nb["partition-graph"])
    assert "[1, 28, 28, 1] → (Float32)[4, 196, 1]" in out
    assert floats(r"differs from x by at most (\S+)", out)[0] == 0
    (root,) = svgs(nb["partition-graph"])
    assert len(svg_elements(root, "image")) >= 8, "4 plain + 4 shifted window panels"
    assert "window 3 (the 4 corners)" in svg_texts(root)


def test_padding_one_side(nb):
    out = cell_text(nb["padding-claim"])
    assert "windows holding padding: one side 7, split 12" in out
    assert "one side 196/196, split 0/196" in out


def test_shift_mask(nb):
    (root,) = svgs(nb["mask-draw"])
    t = svg_texts(root)
    assert "window 3" in t and "mask regions" in t
    assert len(svg_elements(root, "image")) >= 5, "region map + 4 window masks"
    out = cell_text(nb["mask-claim"])
    assert "largest distance 6" in out and "smallest distance 8" in out
    assert "far pairs let through: 0, near pairs masked: 0" in out
    assert "regions per window: [1 2 2 4]" in out
    out = cell_text(nb["order-claim"])
    assert re.search(r"roll, then pad\): largest allowed distance 6 .* far pairs let through 80", out)
    assert re.search(r"pad, then roll\): largest allowed distance 3 .* far pairs let through 0, near pairs masked 0", out)


def test_relative_position_index(nb):
    (root,) = svgs(nb["index-plot"])
    assert "relative position index" in svg_texts(root)
    out = cell_text(nb["index-claim"])
    assert out.count("collisions 0, same offset → same row: true") == 2
    assert "index uses 169 distinct rows (0..168)" in out
    assert "naive Δy+Δx: 25 rows, 144 collisions" in out


def test_cost_formula_equals_count(nb):
    (root,) = svgs(nb["cost"])
    t = svg_texts(root)
    assert "MSA counted" in t and "W-MSA counted" in t
    out = cell_text(nb["cost-claim"])
    assert "equal at all 4 sizes: true" in out
    assert floats(r"multiply-adds: ([\d.]+)× less", out)[0] == pytest.approx(13.8, abs=0.05)


def test_model_size(nb):
    assert "params 95.5K" in cell_text(nb["model"])


def test_training_live_curve_and_accuracy(nb):
    roots = svgs(nb["train"])
    assert roots, "the live training curve"
    t = svg_texts(roots[-1])
    assert "train loss" in t and "val accuracy" in t
    bars = [o for o in cell_outputs(nb["train"], "display_data") if "32/32" in o.data.get("text/plain", "")]
    assert bars, "the progress bar reached 32/32 steps"
    acc = floats(r"test accuracy ([\d.]+) on 1000 test images", cell_text(nb["train-claim"]))[0]
    # Test budget: 32 steps on 2,048 images. Chance is 0.10 (±0.01 on 1,000 images); measured 0.23.
    assert acc >= 0.15


def test_feature_maps_and_attention(nb):
    out = cell_text(nb["analyze"])
    assert "stage 2 (patch merging, W-MSA, SW-MSA) (Float32)[8, 7, 7, 64]" in out
    (root,) = svgs(nb["features-plot"])
    assert len(svg_elements(root, "image")) >= 3 * 16, "16 channels per stage"
    (root,) = svgs(nb["attention-plot"])
    t = svg_texts(root)
    assert "SW-MSA, window 3, head 0" in t and "block 1 (shift 3)" in t
    out = cell_text(nb["attention-claim"])
    assert floats(r"masked keys: (\S+) ", out)[0] <= 1e-6
    assert floats(r"rows sum to 1 within (\S+)", out)[0] <= 1e-4


def test_bias_table_and_window_change(nb):
    (root,) = svgs(nb["bias-plot"])
    t = svg_texts(root)
    assert "(13×13)" in t and "(27×27)" in t
    out = cell_text(nb["window-eval"])
    accs = [float(a) for a in re.findall(r"M' = 14, table by .*: test accuracy ([\d.]+)", out)]
    assert len(accs) == 3 and all(0 <= a <= 1 for a in accs)


def test_ablation(nb):
    md = [o.data["text/markdown"] for o in cell_outputs(nb["ablation"], "display_data") if "text/markdown" in o.data]
    assert md and md[-1].count("\n| ") == 3, "one row per variant"
    (root,) = svgs(nb["ablation"])
    assert "no shift (W-MSA only)" in svg_texts(root)
    out = cell_text(nb["ablation-claim"])
    assert len(re.findall(r"full Swin − .* = [+-][\d.]+", out)) == 2


def test_questions_answered(nb):
    out = cell_text(nb["q-evidence"])
    for topic in ("padding", "mask", "table", "bias before softmax", "new window"):
        assert f"answer ({topic})" in out
    out = cell_text(nb["q-alternate"])
    assert "shifts [0 0]: a token draws on 49.0 tokens" in out
    assert "shifts [0 3 0 3]: a token draws on 196.0 tokens" in out
    assert floats(r"shifts \[0 3\]: a token draws on ([\d.]+)", out)[0] > 49
    assert floats(r"max \|difference\| (\S+)", cell_text(nb["q-merge"]))[0] < 1e-4


def test_notebook_structure():
    import nbformat

    nb = nbformat.read(os.path.join(os.path.dirname(__file__), "..", "..", "notebooks", NOTEBOOK), as_version=4)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "## Questions from the notes" in md and "## Exercises" in md
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "lesson.MustCurrent()" in first.source and "ForBudget(budget)" in first.source
