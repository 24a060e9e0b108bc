"""Notebooks executed headless by nbclient through the gostudy kernel, outputs asserted.

Cells tagged "raises-exception" are expected to fail (nbclient checks that they do); every
other cell must succeed. Lesson notebooks get their own checks in their lessons' tests."""

import re
import xml.etree.ElementTree as ET

import pytest

from conftest import cell_outputs, cell_text, execute_notebook

@pytest.fixture(scope="module")
def welcome():
    return execute_notebook("00-welcome.ipynb")


def test_welcome_basics_and_state(welcome):
    assert re.match(r"Hello from Go go1\.\d+", cell_text(welcome["hello"]))
    assert cell_text(welcome["state-build"]) == "built 10 squares\n"
    assert cell_outputs(welcome["state-read"], "execute_result")[0].data["text/plain"] == "91"
    assert cell_outputs(welcome["decl-use"], "execute_result")[0].data["text/plain"] == "5"
    assert cell_text(welcome["after-errors"]) == "still here: {3 4} squares: 10\n"


def test_welcome_errors_point_into_cells(welcome):
    err = cell_outputs(welcome["compile-error"], "error")[0]
    assert err.ename == "CompileError"
    assert re.search(r"In\[\d+\]:1:", err.evalue) and "mismatched types" in err.evalue
    assert any('q := p.norm() + "meters"' in line for line in err.traceback)
    err = cell_outputs(welcome["panic"], "error")[0]
    assert err.ename == "runtime error" and "index out of range [3] with length 0" in err.evalue
    assert any(re.search(r"In\[\d+\], line 2", line) for line in err.traceback)


def test_welcome_rich_output(welcome):
    md = cell_outputs(welcome["markdown"], "display_data")[0]
    assert "\\frac{x}{\\sigma^2}" in md.data["text/markdown"]
    bars = cell_outputs(welcome["progress"], "display_data")
    assert bars, "no progress bar"
    # nbclient applies update_display_data in place: the stored bar is the final state.
    assert "40/40" in bars[-1].data["text/plain"]


def test_welcome_gomlx_graph_and_feature_maps(welcome):
    res = cell_outputs(welcome["gomlx-square"], "execute_result")[0].data["text/plain"]
    assert res == "[3]float32{1, 4, 9}"
    assert "label: 5 feature maps: (Float32)[1, 28, 28, 4]" in cell_text(welcome["featuremaps-compute"])
    svg = cell_outputs(welcome["featuremaps-plot"], "execute_result")[0].data["image/svg+xml"]
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    texts = "".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    for label in ("identity", "Sobel x", "Sobel y", "Laplacian"):
        assert label in texts
    images = [e for e in root.iter() if e.tag.endswith("image")]
    assert len(images) >= 4, "one heatmap image per channel"


def test_welcome_magics(welcome):
    out = cell_text(welcome["time"])
    assert "285" in out and "Wall time:" in out
    assert cell_text(welcome["shell"]) == "hello from the shell\n"
    assert "%%writefile" in cell_text(welcome["help"])
