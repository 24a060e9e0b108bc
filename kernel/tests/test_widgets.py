"""Widgets through the Jupyter comm protocol, as a front end's widget manager sees them.

A cell creates a slider whose change function writes into an Output widget and a variable;
after the cell finished (the kernel idle), a comm_msg update — what JupyterLab sends when
the slider moves — must reach the change function in the runner: its Output update comes
back on iopub with the comm_msg as parent, framed by busy/idle, and a later cell sees the
variable it set.
"""

import queue
import time

from conftest import result_of, run


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
