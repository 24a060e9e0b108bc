"""Lesson 5 (U-Net on speckled ultrasound phantoms): notebooks/05-ultrasound-unet.ipynb executed
headless through the gostudy kernel at the test budget; the printed claims, the measures
computed from the run and the figures are asserted.

At the test budget every comparison has one seed, so the verdicts read "one seed: no verdict";
what is asserted is what holds at any size (exact checks, consistent numbers, the large effects
of an appearance shift). Runs go to a fresh folder (GOSTUDY_RUNS), so every execution trains."""

import re

import pytest

from conftest import cell_html, cell_markdown, cell_text, execute_notebook, floats, fresh_runs, svg_elements, svg_texts, svgs

NUM = r"([-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)"


@pytest.fixture(scope="module")
def nb():
    with fresh_runs("unet-runs-"):
        yield execute_notebook("05-ultrasound-unet.ipynb")


markdown, html = cell_markdown, cell_html


def test_setup_reads_the_budget(nb):
    text = cell_text(nb["setup"])
    assert ("budget test on xla:cpu: synthetic phantoms (datasets/phantom) at 32×32; 160 training images × 4 epochs, "
            "batch 16; 50 validation, 50 test images; 1 seed per comparison") in text, text
    assert re.search(r"runs are kept in \S*unet-runs-", text)


def test_phantoms_are_shown_with_their_ground_truth(nb):
    grid, dist = svgs(nb["data"])
    assert "Phantoms with their exact ground truth" in svg_texts(grid)
    assert len(svg_elements(grid, "image")) == 6, "six phantoms"
    assert "Signed distance to the margin" in svg_texts(dist)
    with_lesion, lookalikes = floats(r"with a lesion \d+ \((\d+)%\); with a look-alike \d+ \((\d+)%\)", cell_text(nb["data-stats"]))
    assert 70 <= with_lesion <= 95 and 40 <= lookalikes <= 90  # ProbNormal 0.15, ProbLookalike 0.6 / ligament 0.3
    assert "Measured in section 1" in markdown(nb["data-stats"])


def test_unet_in_a_few_lines_equals_the_library(nb):
    text = cell_text(nb["mechanism"])
    diff, scale = floats(r"nn\.UNetForward on two test images — max \|difference\| " + NUM + r" \(logits up to " + NUM, text)
    assert diff <= 1e-5 * max(scale, 1) and scale > 0.01, text
    (fewer,) = floats(r"— ([\d.]+)% fewer parameters", text)
    assert 5 < fewer < 15, text


def test_main_run_metric_equals_the_go_measure(nb):
    text = cell_text(nb["train"])
    graph, go, mean, p95 = floats(r"test Dice " + NUM + r" \(the run's metric\) = " + NUM +
                                  r" \(per-image mean, computed here\); boundary error " + NUM + r" px mean, " + NUM, text)
    assert abs(graph - go) < 1e-4, text
    assert graph > 0.55, "the U-Net learned little"
    assert 0.25 < mean < p95 < 6
    grid, hist = svgs(nb["overlays"])
    assert len(svg_elements(grid, "image")) == 6
    assert "Per-image test Dice of the main run (50 images)" in svg_texts(hist)
    assert "Measured in section 3" in markdown(nb["summary-3"])


def test_comparison_table_and_skip_claims(nb):
    table = html(nb["compare"])
    for arm in ("U-Net (avg-pool)", "no skips", "max-pool", "no skips, max-pool", "strided conv", "deep supervision"):
        assert f">{arm}<" in table, arm
    text = cell_text(nb["skips"])
    for pool in ("average pooling", "max pooling"):
        assert f"the skips restore position — {pool}, no skips vs skips: Dice" in text, text
    assert text.count("(one seed: no verdict)") >= 4, "one seed: no verdict is claimed either way"
    (fig,) = svgs(nb["skips"])
    assert "with and without skips" in svg_texts(fig)
    assert "Measured in section 4" in markdown(nb["skips-overlay"])


def test_downsampling_and_deep_supervision(nb):
    text = cell_text(nb["downsampling"])
    assert "max-pool vs avg-pool: Dice" in text and "strided conv vs avg-pool: Dice" in text
    assert re.search(r"parameters (\d+) vs \1\n", text), "max pooling adds no parameters"
    text = cell_text(nb["deepsup"])
    (target,) = floats(r"steps to validation Dice " + NUM, text)
    assert 0.3 < target < 1
    (curves,) = svgs(nb["deepsup"])
    assert "Validation Dice during training" in svg_texts(curves)
    assert "Measured in section 6" in markdown(nb["deepsup"])


def test_appearance_shift_keeps_the_scenes_and_costs_dice(nb):
    text = cell_text(nb["shift"])
    assert "the fainter-lesion images have the default test images' masks — true" in text
    rows = dict(re.findall(r"appearance changes hurt — (.+?) \(.*?\): Dice " + NUM, text))
    base = float(re.search(r"vs " + NUM + " as trained", text).group(1))
    assert set(rows) == {"fainter lesions", "blurrier margins", "stronger attenuation", "more look-alikes"}, rows
    assert float(rows["fainter lesions"]) < base - 0.1 and float(rows["stronger attenuation"]) < base - 0.1, (rows, base)
    assert "Measured in section 7" in markdown(nb["shift"])


def test_lookalikes(nb):
    text = cell_text(nb["lookalikes"])
    inside, outside = floats(r"false-positive rate in look-alike regions " + NUM + " vs " + NUM, text)
    assert inside > outside, text
    (fig,) = svgs(nb["lookalikes"])
    assert "The look-alikes the main run marked most" in svg_texts(fig)


def test_answers(nb):
    text = cell_text(nb["answers"])
    for n in range(1, 6):
        assert f"{n}. " in text, n
    lo_hi = floats(r"spans (\d+) pixels for the centre pixel \(the image has (\d+)\)", text)
    assert lo_hi[0] > 0 and lo_hi[1] == 32
