"""Lesson 10 (MetaFormer: PoolFormer, token mixers, MLP-like models) executed headless through the
gostudy kernel at the test budget; the printed claims, the verdicts computed from the run and the
figures are asserted. Runs go to a fresh folder (GOSTUDY_RUNS), so every execution trains.

The dump, the anatomy and x + (pool(x) − x) = pool(x) are exact and checked exactly; the trained
comparisons have one seed at this budget, so no verdict may be claimed."""

import re

import pytest

from conftest import NUM, cell_text, execute_notebook, floats, fresh_runs, svg_elements, svg_texts, svgs, cell_html as html, cell_markdown as markdown

MIXERS = ("pooling", "identity", "dwconv", "attention", "spatialmlp")


@pytest.fixture(scope="module")
def nb():
    with fresh_runs("metaformer-runs-"):
        yield execute_notebook("10-metaformer.ipynb")


def test_setup_reads_the_budget(nb):
    out = cell_text(nb["setup"])
    assert "budget test: 1280 MNIST training images × 1 epoch(s), batch 32, no shift augmentation; 1000 test images; 1 seed per network" in out
    assert re.search(r"runs are kept in \S*metaformer-runs-", out)


def test_dump_matches_the_notes(nb):
    cell = nb["dump"]
    out = cell_text(cell)
    assert "measured: 195 lines in the notes, 195 in the summary, 0 differ" in out
    assert "measured: 7 components, 3 PatchEmbeds, 12 PoolFormerBlocks" in out
    md = markdown(cell)
    assert "GroupNorm(1, 64, eps=1e-05, affine=True)" in md and "Conv2d(64, 128, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))" in md


def test_anatomy(nb):
    out = cell_text(nb["anatomy"])
    assert "measured: 0 of 4 stem/PatchEmbed layers have one" in out
    assert "measured: 4 layers change it, all of them stem or PatchEmbed; 12 of 12 blocks keep it and normalise twice" in out
    assert "unexpected" not in out
    assert "stage 2 PatchEmbed (3×3, stride 2)" in html(nb["anatomy"])


def test_pool_identity(nb):
    (hand,) = floats(r"the mixer by hand = nn.PoolingMixer on test digit 0 \(a 7\) — max \|difference\| " + NUM, cell_text(nb["pool-hand"]))
    assert hand < 1e-5
    out = cell_text(nb["pool"])
    diff, scale = floats(r"measured: max \|difference\| " + NUM + r" \(pool\(x\) up to ([\d.]+)\)", out)
    assert scale > 0.1 and diff < 1e-5 * scale
    (alone,) = floats(r"\(pool\(x\) − x\) − pool\(x\)\| = ([\d.]+)", out)
    assert alone > 0.1
    assert "Measured in sections 1–3" in markdown(nb["pool"])


def test_mixers(nb):
    cell = nb["mixers"]
    out = cell_text(cell)
    params = {}
    for mixer, p in re.findall(r"(" + "|".join(MIXERS) + r"), MLP ×[\d.]+ +params ([\d.]+)K", out):
        params[mixer] = float(p)
    assert set(params) == set(MIXERS), out
    assert max(params.values()) - min(params.values()) <= 0.01 * max(params.values()), params
    accs = dict(re.findall(r"(" + "|".join(MIXERS) + r") +([\d.]+) ± 0", out))
    assert set(accs) == set(MIXERS), out
    for m in ("pooling", "dwconv", "attention"):
        assert float(accs[m]) > 0.3, (m, accs[m])
    assert re.search(r"attention +[\d.]+ ± 0 vs pooling: [-+][\d.]+ points \(one seed: no verdict\)", out)
    best, worst, spread, gap = re.search(r"best (\w+), worst (\w+), ([\d.]+) points apart; no mixing \(identity\) is ([-\d.]+) points below", out).groups()
    assert abs(float(spread) - 100 * (float(accs[best]) - float(accs[worst]))) < 0.011
    assert abs(float(gap) - 100 * (float(accs[best]) - float(accs["identity"]))) < 0.011
    t = svg_texts(svgs(cell)[-1])
    assert all(m in t for m in MIXERS)
    assert "Measured in section 4" in markdown(cell)


def test_mlp_like(nb):
    cell = nb["mixing"]
    (root,) = svgs(cell)
    t = svg_texts(root)
    assert "spatial MLP: learned, every image" in t and "attention, digit 7" in t and "attention, digit 2" in t
    assert len(svg_elements(root, "image")) >= 3
    change, mean = floats(r"mean \|A\(digit 7\) − A\(digit 2\)\| = ([\d.]+), against a mean entry of ([\d.]+)", cell_text(cell))
    assert change > 0 and abs(mean - 1 / 49) < 1e-3
    out = cell_text(nb["shift"])
    kept = dict(re.findall(r"(" + "|".join(MIXERS) + r") +[\d.]+ unshifted, [\d.]+ at 4 pixels: kept (\d+)% of its accuracy", out))
    assert set(kept) == set(MIXERS), out
    m = re.search(r"at 4 pixels the spatial MLP kept (\d+)% of its accuracy, pooling (\d+)%", out)
    assert m and m.group(1) == kept["spatialmlp"] and m.group(2) == kept["pooling"]
    t = svg_texts(svgs(nb["shift"])[-1])
    assert "shift in pixels" in t and "spatialmlp" in t


def test_ratio(nb):
    out = cell_text(nb["ratio"])
    params = [int(p) for p in re.findall(r"MLP ×[124]: (\d+) parameters", out)]
    assert len(params) == 3 and params[0] < params[1] < params[2], out
    assert re.search(r"MLP ×4 vs ×1: [-+][\d.]+ points \(one seed: no verdict\)", out)
    assert "Measured in section 6" in markdown(nb["ratio"])


def test_answers(nb):
    answers = cell_text(nb["answers"])
    for n in range(1, 6):
        assert re.search(r"^" + str(n) + r"\. ", answers, re.M), n
    assert "mlp/fc1/bias present" in answers and "token_mixer/qkv/bias absent" in answers
    assert "identity one seed: no verdict" in answers and "in this run" in answers
