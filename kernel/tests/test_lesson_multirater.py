"""Lesson 7 (multi-rater labels with a latent per rater): notebooks/07-multi-rater.ipynb executed
headless through the gostudy kernel at the test budget; the printed claims, the measures
computed from the run and the figures are asserted.

At the test budget the main run and the equal-label-count arms train with one seed, and the
newcomer is fitted from 5 images; what is asserted holds at any size: the raters' measured
biases have the signs their definitions give, concatenate-then-1×1 equals add-a-projection, the
latents put the generous rater's margins outside the tight one's, and a frozen fit leaves the
other raters' predictions exactly as they were. Runs go to a fresh folder (GOSTUDY_RUNS)."""

import re

import pytest

from conftest import cell_html, cell_markdown, cell_text, execute_notebook, floats, fresh_runs, svg_texts, svgs

NUM = r"([-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)"


@pytest.fixture(scope="module")
def nb():
    with fresh_runs("multirater-runs-"):
        yield execute_notebook("07-multi-rater.ipynb")


markdown, html = cell_markdown, cell_html


def test_setup(nb):
    text = cell_text(nb["setup"])
    assert ("budget test on xla:cpu: synthetic phantoms (datasets/phantom) at 32×32; 60 training images × 5 raters = 300 labels, "
            "2 epochs; 50 test images; 1 seed; sections trained: labels") in text, text
    assert "exact, generous, tight, cautious, misses-small, newcomer" in text


def test_raters_biases_have_their_signs(nb):
    text = cell_text(nb["raters"])
    offsets = {name: float(v) for name, v in re.findall(r"^(\S+)\s+offset " + NUM + " px", text, re.M)}
    assert abs(offsets["exact"]) < 0.1, offsets
    assert offsets["generous"] > 0.5 and offsets["newcomer"] > offsets["generous"], offsets
    assert offsets["tight"] < -0.3 and offsets["cautious"] < 0, offsets
    (fig,) = svgs(nb["raters"])
    assert "traced by every rater" in svg_texts(fig)
    summary = markdown(nb["raters"])
    m = re.search(r"span " + NUM + r" px \((\S+)\) to " + NUM + r" px \((\S+)\)", summary)
    assert m and m.group(2) in ("tight", "cautious") and m.group(4) == "newcomer", summary
    assert float(m.group(1)) == min(offsets.values()) and float(m.group(3)) == max(offsets.values()), (summary, offsets)


def test_concat_equals_added_projection(nb):
    text = cell_text(nb["mechanism"])
    (d0,) = floats(r"by hand = nn\.AddLatent — max \|difference\| " + NUM, text)
    (d1,) = floats(r"concatenate-then-1×1 ≡ add a projected latent — max \|difference\| " + NUM, text)
    inner, allpx = floats(r"interior pixels " + NUM + ", all pixels " + NUM, text)
    assert d0 < 1e-5 and d1 < 1e-4 and inner < 1e-4 and allpx > 1e-3, text
    assert "Measured in section 2." in markdown(nb["mechanism"])


def test_main_run_separates_the_raters(nb):
    text = cell_text(nb["train"])
    (dice,) = floats(r"test Dice against the raters' labels " + NUM, text)
    assert dice > 0.3
    (slope,) = floats(r"over the raters: slope " + NUM, text)
    assert slope > 0, text
    table = re.sub(r"<[^>]+>", " ", html(nb["train"]))
    for rater in ("exact", "generous", "tight", "cautious", "misses-small"):
        assert rater in table
    assert "Measured in section 3" in markdown(nb["train"])


def test_labels_and_baselines(nb):
    assert "not trained at this budget" in cell_text(nb["baselines"])
    text = cell_text(nb["labels"])
    assert re.search(r"60 labels each: one per image on 60 images — Dice " + NUM, text), text


def test_newcomer_frozen_fit_leaves_the_others(nb):
    text = cell_text(nb["newcomer"])
    m = re.search(r"k = 5: newcomer Dice frozen " + NUM + " vs trainable " + NUM + r"; the others' Dice " + NUM + " → " + NUM +
                  " frozen, → " + NUM + " trainable", text)
    assert m, text
    before, frozen_after = float(m.group(3)), float(m.group(4))
    assert before == frozen_after, text


def test_answers(nb):
    text = cell_text(nb["answers"])
    for n in range(1, 9):
        assert f"{n}. " in text, n
    # At the test budget the sweeps are not trained, and the frozen fit must leave the others alone.
    assert "init std 0: not trained at this budget" in text, text
    assert "Frozen, the fit left the other raters' predictions exactly as they were" in text, text
