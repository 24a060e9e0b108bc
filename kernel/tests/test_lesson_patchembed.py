"""Lesson 2 (patch embedding): notebooks/02-patch-embedding.ipynb executed headless through the
gostudy kernel at the test budget; the printed claims and the figures are asserted.

Runs go to a fresh temporary folder (GOSTUDY_RUNS), so every execution trains. The floors come
from test-budget runs on xla:cpu (374 steps; see the lesson's Go tests for the same claims): each
assertion sits between the measured value and what the notebook would print if the claim were
false (chance accuracy, an unstructured embedding, an overlapping stem no better than patchify)."""

import os
import re
import time

import pytest

from conftest import cell_outputs, cell_text, execute_notebook, floats, fresh_runs, svg_elements, svg_texts, svgs

NOTEBOOK = "02-patch-embedding.ipynb"


@pytest.fixture(scope="module")
def nb():
    with fresh_runs("patchembed-runs-"):
        start = time.time()
        cells = execute_notebook(NOTEBOOK)
        print(f"\n{NOTEBOOK}: executed in {time.time() - start:.0f} s")
        yield cells


def markdown_of(cell):
    return "".join(o.data["text/markdown"] for o in cell_outputs(cell, "display_data") if "text/markdown" in o.data)


def html_of(cell):
    return "".join(o.data.get("text/html", "") for o in cell.outputs if "data" in o)


def test_setup_reads_the_budget(nb):
    out = cell_text(nb["setup"])
    assert "budget test:" in out and "6000 training images" in out
    assert "4×4 patches, width 64, 2 blocks" in out and "runs are kept in" in out


def test_patch_grid(nb):
    (svg,) = svgs(nb["patch-grid"])
    assert "the 49 patches" in svg_texts(svg) and "a 7×7 grid of 4×4 patches" in svg_texts(svg)
    # the digit (1 raster) + 49 patch panels + the colour bar
    assert len(svg_elements(svg, "image")) >= 51


def test_mechanism_by_hand_equals_nn_patch_embed(nb):
    err, scale = floats(r"written by hand = nn.PatchEmbed .*?max \|difference\| (\S+) \(outputs up to (\S+)\)", cell_text(nb["mechanism"]))
    assert err < 1e-5 * scale and scale > 0.1, (err, scale)


def test_patchify_equals_patches_times_linear(nb):
    out = cell_text(nb["equivalence"])
    for stem, k, n in (("patch", 4, 16), ("overlap", 8, 64)):
        err, scale = floats(
            rf"claim: {stem}\s+conv \(kernel {k}, .*? 7×7 windows of {n} numbers .*?max \|difference\| = (\S+) \(outputs up to (\S+)\)", out)
        assert err < 1e-5 * scale and scale > 0.1, (stem, err, scale)


def test_stem_costs(nb):
    cell = nb["stems"]
    out = cell_text(cell)
    assert "(4160 vs 1088)" in out and "(200704 vs 50176)" in out
    html = html_of(cell)
    assert ">stem parameters<" in html and ">StemParams<" not in html, "human table headers (the Go name is only a tooltip)"
    (svg,) = svgs(cell)
    assert "what token (3, 3) sees" in svg_texts(svg)
    assert "**Measured in section 2.**" in markdown_of(cell)


def test_anatomy(nb):
    cell = nb["anatomy"]
    html = html_of(cell)
    for name in ("patch_embed.proj.weight", "cls_token", "pos_embed", "blocks.1.mlp.fc2.bias", "head.weight", "timm name"):
        assert name in html
    out = cell_text(cell)
    assert "pre_logits.fc.weight" in out and "the tanh head would add 4160" in out
    assert "position embedding 3200 numbers" in out


def test_training_curve_and_accuracy(nb):
    cell = nb["train"]
    (acc,) = floats(r"test accuracy (\d+\.\d+)%", cell_text(cell))
    assert acc >= 50, acc  # an untrained model is at ~10
    svg = svgs(cell)[-1]
    assert "training loss" in svg_texts(svg)
    bars = [o for o in cell_outputs(cell, "display_data") if "<progress" in o.data.get("text/html", "")]
    assert bars and "374/374" in bars[-1].data["text/plain"]


def test_stage_feature_maps(nb):
    cell = nb["stages"]
    figs = svgs(cell)
    titles = [svg_texts(f) for f in figs]
    assert len(figs) == 5, titles
    assert "stage 1" in titles[0] and len(svg_elements(figs[0], "image")) >= 16
    assert "[H·W, C]" in titles[1]
    assert "after block 1" in titles[2] and "after block 2" in titles[3]
    assert "class token → patches" in titles[4]
    err, scale = floats(r"trained stem, conv vs patches × linear: max \|difference\| = (\S+) \(outputs up to (\S+)\)", cell_text(cell))
    assert err < 1e-5 * scale


def test_position_embedding_similarity(nb):
    cell = nb["pos-sim"]
    out = cell_text(cell)
    trained, init, chance = floats(r"grid neighbour for (\d+)% of positions \(initialization (\d+)%, chance (\d+)%\)", out)
    assert trained >= 30 and trained > chance + 15, out
    assert init < 30, out
    nb_sim, far, nb0, far0 = floats(
        r"4-neighbours (-?\d\.\d+) vs pairs 4 or more apart (-?\d\.\d+) \(initialization (-?\d\.\d+) vs (-?\d\.\d+)\)", out)
    assert nb_sim > far + 0.03 and abs(nb0 - far0) < 0.05
    maps, curve = svgs(cell)
    assert "ViT Fig. 7" in svg_texts(maps) and len(svg_elements(maps, "image")) >= 49
    assert "initialization" in svg_texts(curve)
    assert "**Measured in section 6.**" in markdown_of(cell)


def test_resolution_transfer(nb):
    cell = nb["interp"]
    lin, cub, d1, none, native, native_none = floats(
        r"at 56×56, 2D interpolation beats 1D and none — measured: linear \(ViT\) (\d+\.\d)%, bicubic \(timm\) (\d+\.\d)%, 1D (\d+\.\d)%, "
        r"none (\d+\.\d)% \(at 28×28: (\d+\.\d)%, without position embedding (\d+\.\d)%\) on the first 500 test images",
        cell_text(cell))
    for d2 in (lin, cub):
        assert d2 > d1 + 3 and d2 > none + 3, (lin, cub, d1, none)
    assert native_none < native - 5, (native, native_none)
    rms, share = floats(r"RMS difference (\S+) \((\S+)% of the embedding's RMS", cell_text(cell))
    assert rms > 0 and 0 < share < 100
    html = html_of(cell)
    assert "position embedding" in html and "test accuracy" in html
    svg = svgs(cell)[-1]
    t = svg_texts(svg)
    assert "2D linear (ViT)" in t and "2D bicubic (timm)" in t and "1D stretch" in t
    assert "**Measured in section 7.**" in markdown_of(cell)


def test_overlapping_stem(nb):
    cell = nb["stem-compare"]
    out = cell_text(cell)
    patch, overlap = floats(r"claim: test accuracy, patchify 4×4 / 4 (\d+\.\d+) ± \S+% \(72074 params\) vs overlapping 8×8 / 4 (\d+\.\d+) ± \S+% \(75146 params\)", out)
    assert patch >= 50 and overlap > patch + 3, (patch, overlap)
    drops = {name: with_ - without for name, without, with_ in (
        (m[0].strip(), float(m[1]), float(m[2])) for m in re.findall(
            r"claim: (.+?) without its position embedding (\d+\.\d)% instead of (\d+\.\d)%", out))}
    assert set(drops) == {"patchify 4×4 / 4", "overlapping 8×8 / 4"}, drops
    assert drops["overlapping 8×8 / 4"] < drops["patchify 4×4 / 4"] - 5, drops
    md = markdown_of(cell)
    assert "**Measured in section 8**" in md and "one seed per arm: no verdict" in md


def test_class_token_vs_average_pooling(nb):
    cell = nb["pool-compare"]
    out = cell_text(cell)
    token, avg = floats(r"claim: class token (\d+\.\d+) ± \S+% vs GAP (\d+\.\d+) ± \S+% at the same learning rate", out)
    assert token >= 50 and avg >= 50 and abs(token - avg) < 10, (token, avg)
    shares = re.findall(r"block (\d), the class token puts (\d+)% of its attention on the (\d+)% of patches", out)
    assert len(shares) == 2
    for _, share, ink in shares:
        assert float(share) > 1.4 * float(ink), (share, ink)
    (bars,) = svgs(cell)[-1:]
    assert "class token" in svg_texts(bars) and "global average pooling" in svg_texts(bars)
    assert "**Measured in section 9**" in markdown_of(cell)


def test_questions_and_exercises(nb):
    md = markdown_of(nb["questions"])
    for q in ("位置编码有哪几种", "class token为何要如此设计", "patch嵌入方式和其他嵌入方式有什么区别", "1D vs 2D", "tanh"):
        assert q in md
    assert "LayerNorm" in md and "PoolFormer" in md and "no position embedding" in md
    assert "%!" not in md, "a format verb without its value"


def test_notebook_structure():
    import nbformat

    nb = nbformat.read(os.path.join(os.path.dirname(__file__), "..", "..", "notebooks", NOTEBOOK), as_version=4)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "## Exercises" in md
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "lesson.MustCurrent()" in first.source and "ForBudget(budget)" in first.source
    # The reader's findings: the paper's GAP needs the smaller learning rate; ViT's code resizes
    # linearly (order=1), timm bicubically; the no-norm remark is PoolFormer's.
    assert "GAP needs a\n   *smaller* learning rate" in md or "GAP needs a *smaller* learning rate" in md
    assert "class token needs a smaller learning rate" not in md
    assert "order=1" in md and "bicubic" in md and "PoolFormer" in md
    # No result typed into the text: accuracies come from the run.
    assert not re.search(r"\b\d\d\.\d%", md), re.findall(r".{40}\b\d\d\.\d%.{20}", md)
