"""Widgets through the Jupyter comm protocol, as a front end's widget manager sees them.

A cell creates a slider whose change function writes into an Output widget and a variable;
after the cell finished (the kernel idle), a comm_msg update — what JupyterLab sends when
the slider moves — must reach the change function in the runner: its Output update comes
back on iopub with the comm_msg as parent, framed by busy/idle, and a later cell sees the
variable it set.
"""

import os
import queue
import time
import xml.etree.ElementTree as ET

import pytest
from jupyter_client.manager import start_new_kernel

from conftest import result_of, run, svg_texts


def iopub_until_idle(kc, parent_id, timeout=60):
    """The iopub messages whose parent is parent_id, up to its idle status."""
    out = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            m = kc.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            continue
        if m["parent_header"].get("msg_id") != parent_id:
            continue
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return out
        out.append(m)
    raise TimeoutError(f"no idle for {parent_id}; got {[m['msg_type'] for m in out]}")


def send_comm(kc, msg_type, content):
    msg = kc.session.msg(msg_type, content)
    kc.shell_channel.send(msg)
    return msg["header"]["msg_id"]


def opened_models(msgs):
    """comm_open messages of an execution: model name → (comm id, state, metadata)."""
    out = {}
    for t, c, _ in msgs:
        if t == "comm_open" and c["target_name"] == "jupyter.widget":
            st = c["data"]["state"]
            out.setdefault(st["_model_name"], []).append((c["comm_id"], st))
    return out


def test_slider_change_function_runs_while_idle(kernel):
    km, kc = kernel
    reply, msgs = run(kc, """
import "github.com/gostudy/gostudy/pkg/widgets"

squared := 0
out := widgets.NewOutput()
s := widgets.NewIntSlider("n", 0, 10, 1, 2)
s.OnChange(func(v int) {
	squared = v * v
	out.Clear()
	out.Printf("n squared is %d\\n", v*v)
})
widgets.NewVBox(s, out)
""")
    assert reply["content"]["status"] == "ok", reply["content"]
    models = opened_models(msgs)
    for name in ("IntSliderModel", "OutputModel", "VBoxModel", "LayoutModel", "SliderStyleModel"):
        assert name in models, f"no comm_open for {name}: {list(models)}"
    slider_id, st = models["IntSliderModel"][0]
    assert st["_model_module"] == "@jupyter-widgets/controls" and st["_model_module_version"] == "2.0.0"
    assert st["value"] == 2
    out_id = models["OutputModel"][0][0]
    views = [c["data"] for t, c, _ in msgs if t == "execute_result"]
    assert views and views[-1]["application/vnd.jupyter.widget-view+json"]["model_id"] == models["VBoxModel"][0][0]

    # The cell is over: move the slider as JupyterLab would.
    msg_id = send_comm(kc, "comm_msg", {"comm_id": slider_id, "data": {
        "method": "update", "state": {"value": 7}, "buffer_paths": []}})
    got = iopub_until_idle(kc, msg_id)
    updates = [m["content"]["data"] for m in got
               if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == out_id]
    texts = [o.get("text", "") for u in updates for o in u["state"].get("outputs", [])]
    assert "n squared is 49\n" in texts, f"Output widget updates: {updates}"

    # The change function ran in the runner, next to the notebook's variables.
    reply, msgs = run(kc, "squared")
    assert result_of(msgs) == "49"

    # comm_info lists the open widget comms; a slider closed from Go disappears from it.
    info_id = kc.comm_info(target_name="jupyter.widget")
    info = kc.get_shell_msg(timeout=30)
    assert info["parent_header"]["msg_id"] == info_id
    assert slider_id in info["content"]["comms"]
    assert info["content"]["comms"][slider_id]["target_name"] == "jupyter.widget"


def test_control_comm_returns_all_states(kernel):
    km, kc = kernel
    reply, msgs = run(kc, 'import "github.com/gostudy/gostudy/pkg/widgets"\nwidgets.NewCheckbox("on", true)')
    assert reply["content"]["status"] == "ok", reply["content"]
    box_id = opened_models(msgs)["CheckboxModel"][0][0]
    send_comm(kc, "comm_open", {"comm_id": "control-1", "target_name": "jupyter.widget.control", "data": {}})
    msg_id = send_comm(kc, "comm_msg", {"comm_id": "control-1", "data": {"method": "request_states"}})
    got = iopub_until_idle(kc, msg_id)
    states = [m["content"]["data"]["states"] for m in got
              if m["msg_type"] == "comm_msg" and m["content"]["data"].get("method") == "update_states"]
    assert states and box_id in states[0] and states[0][box_id]["value"] is True


def test_unknown_comm_target_is_closed(kernel):
    km, kc = kernel
    msg_id = send_comm(kc, "comm_open", {"comm_id": "x-1", "target_name": "no.such.target", "data": {}})
    got = iopub_until_idle(kc, msg_id)
    assert any(m["msg_type"] == "comm_close" and m["content"]["comm_id"] == "x-1" for m in got), got


# The lessons' "Try it" cells: notebook, cell id, and the moves: the control moved, the state
# sent, and what the redrawn figure's title must then say. Each test runs the notebook's code
# cells up to and including that cell (at the test budget; they train nothing), moves the
# controls one after the other once the cell finished, and checks each move replaced the
# cell's figure in place by one drawn for the new value (update_display_data on its display id).
LESSON_WIDGETS = [
    ("01-dropout.ipynb", "play-p", [("FloatSliderModel", {"value": 0.8}, "One draw of dropout, p = 0.80")]),
    ("04-window-attention.ipynb", "play-window", [
        ("DropdownModel", {"index": 1}, "SW-MSA masks (M = 4, s = 3)"),
        ("IntSliderModel", {"value": 0}, "regions (M = 4, s = 0)"),
        ("IntSliderModel", {"value": 6}, "SW-MSA masks (M = 4, s = 3)"),  # s is capped at M−1
    ]),
]


@pytest.mark.parametrize("notebook,cell_id,moves", LESSON_WIDGETS)
def test_lesson_widget_redraws_its_figure(notebook, cell_id, moves):
    import nbformat

    from conftest import NOTEBOOKS

    nb = nbformat.read(os.path.join(NOTEBOOKS, notebook), as_version=4)
    ids = [c.id for c in nb.cells]
    assert cell_id in ids, f"{notebook} has no cell {cell_id}"
    code = [c.source for c in nb.cells[:ids.index(cell_id) + 1] if c.cell_type == "code"]
    old = os.environ.get("GOSTUDY_BUDGET")
    os.environ["GOSTUDY_BUDGET"] = "test"
    km, kc = start_new_kernel(kernel_name="gostudy", startup_timeout=120)
    try:
        for src in code:
            reply, msgs = run(kc, src)
            assert reply["content"]["status"] == "ok", (src[:200], reply["content"])
        models = opened_models(msgs)
        shown = [c for t, c, _ in msgs if t == "display_data" and "image/svg+xml" in c["data"]]
        assert shown, "the cell showed no figure"
        display_id = shown[-1]["transient"]["display_id"]
        before = svg_texts(ET.fromstring(shown[-1]["data"]["image/svg+xml"]))
        for model, state, title in moves:
            assert model in models, f"the cell opened no {model}: {list(models)}"
            assert title not in before, f"the figure says {title!r} before the move"
            msg_id = send_comm(kc, "comm_msg", {"comm_id": models[model][0][0], "data": {
                "method": "update", "state": state, "buffer_paths": []}})
            got = iopub_until_idle(kc, msg_id, timeout=120)
            redrawn = [m["content"] for m in got if m["msg_type"] == "update_display_data"
                       and m["content"]["transient"]["display_id"] == display_id]
            assert redrawn, f"moving {model} redrew nothing: {[m['msg_type'] for m in got]}"
            assert "image/svg+xml" in redrawn[-1]["data"], f"not a figure: {redrawn[-1]['data']}"
            after = svg_texts(ET.fromstring(redrawn[-1]["data"]["image/svg+xml"]))
            assert title in after, f"after {model} ← {state}, the figure's texts: {after[:500]}"
            errors = [m["content"] for m in got if m["msg_type"] == "error"
                      or (m["msg_type"] == "stream" and m["content"]["name"] == "stderr")]
            assert not errors, errors
            before = after
    finally:
        km.shutdown_kernel(now=True)
        kc.stop_channels()
        if old is None:
            os.environ.pop("GOSTUDY_BUDGET", None)
        else:
            os.environ["GOSTUDY_BUDGET"] = old

