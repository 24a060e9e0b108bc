"""Shared fixtures for the kernel's Python tests: a running gostudy kernel and helpers that
execute code and collect what the kernel publishes, the way a front end sees it."""

import contextlib
import os
import queue
import tempfile
import time

import pytest
from jupyter_client.manager import start_new_kernel

TIMEOUT = 300  # generous: the first cell may compile GoMLX in plugin mode


@pytest.fixture(scope="module")
def kernel():
    km, kc = start_new_kernel(kernel_name="gostudy", startup_timeout=120)
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=False)


def run(kc, code, timeout=TIMEOUT, allow_stdin=False, on_input=None):
    """Execute code; return (reply, [(msg_type, content, received_at), ...]) with every iopub
    message of this request until it went idle (status messages left out)."""
    msg_id = kc.execute(code, allow_stdin=allow_stdin)
    msgs = []
    deadline = time.time() + timeout
    idle = False
    reply = None
    while not (idle and reply is not None):
        if time.time() > deadline:
            raise TimeoutError(f"no idle/reply for {code!r}; got {msgs}")
        if on_input is not None:
            try:
                req = kc.get_stdin_msg(timeout=0.01)
                if req["parent_header"].get("msg_id") == msg_id:
                    kc.input(on_input(req["content"]))
            except queue.Empty:
                pass
        if reply is None:
            try:
                r = kc.get_shell_msg(timeout=0.01)
                if r["parent_header"].get("msg_id") == msg_id:
                    reply = r
            except queue.Empty:
                pass
        try:
            m = kc.get_iopub_msg(timeout=0.05)
        except queue.Empty:
            continue
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "status":
            if m["content"]["execution_state"] == "idle":
                idle = True
            continue
        msgs.append((m["msg_type"], m["content"], time.time()))
    return reply, msgs


def stdout_of(msgs):
    return "".join(c["text"] for t, c, _ in msgs if t == "stream" and c["name"] == "stdout")


def result_of(msgs):
    res = [c["data"]["text/plain"] for t, c, _ in msgs if t == "execute_result"]
    return res[-1] if res else None


def children(pid):
    """All descendants of pid, from /proc."""
    parents = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(d))
        except (OSError, IndexError):
            continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in parents.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTEBOOKS = os.path.join(ROOT, "notebooks")


def execute_notebook(name, timeout=900, budget="test"):
    """Execute notebooks/<name> headless through the gostudy kernel with GOSTUDY_BUDGET set,
    and return its code cells by id. Cells tagged "raises-exception" must fail; every other
    cell must succeed (nbclient raises otherwise). The notebook must be committed clean."""
    import nbformat
    from nbclient import NotebookClient

    path = os.path.join(NOTEBOOKS, name)
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, f"{name}: committed with outputs in cell {cell.id}"
            assert cell.get("execution_count") is None, f"{name}: committed with an execution count in cell {cell.id}"
    old = os.environ.get("GOSTUDY_BUDGET")
    os.environ["GOSTUDY_BUDGET"] = budget  # the kernel (and its runner) inherit it
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="gostudy",
                       resources={"metadata": {"path": NOTEBOOKS}}).execute()
    finally:
        if old is None:
            os.environ.pop("GOSTUDY_BUDGET", None)
        else:
            os.environ["GOSTUDY_BUDGET"] = old
    return {c.id: c for c in nb.cells if c.cell_type == "code"}


def cell_text(cell):
    """Everything a cell printed or showed as text/plain, concatenated."""
    out = []
    for o in cell.outputs:
        if o.output_type == "stream":
            out.append(o.text)
        elif "data" in o and "text/plain" in o.data:
            out.append(o.data["text/plain"])
    return "".join(out)


def cell_outputs(cell, kind):
    return [o for o in cell.outputs if o.output_type == kind]


# A number as the notebooks print it (an integer, a decimal or an exponent), for floats().
NUM = r"([-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)"


def cell_markdown(cell):
    """Every text/markdown display of a cell, concatenated (the lessons' computed summaries)."""
    return "".join(o.data["text/markdown"] for o in cell_outputs(cell, "display_data") if "text/markdown" in o.data)


def cell_html(cell):
    """Every text/html output of a cell (displays and its result), concatenated."""
    return "".join(o.data.get("text/html", "") for o in cell.outputs if "data" in o)


def svgs(cell):
    """Every SVG document a notebook cell showed (displays and its result), parsed, in order."""
    import xml.etree.ElementTree as ET

    out = []
    for o in cell.outputs:
        data = o.get("data", {})
        if "image/svg+xml" in data:
            root = ET.fromstring(data["image/svg+xml"])
            assert root.tag.endswith("svg"), root.tag
            out.append(root)
    return out


def svg_elements(root, tag):
    """The elements of an SVG document with this tag name (namespace ignored)."""
    return [e for e in root.iter() if e.tag.endswith("}" + tag) or e.tag == tag]


def svg_texts(root):
    """All the text an SVG document draws (its <text> and <tspan> elements), space-joined."""
    return " ".join(e.text or "" for e in root.iter() if e.tag.rpartition("}")[2] in ("text", "tspan"))


def floats(pattern, text):
    """The groups of the first match of pattern in text, as floats; fails the test, showing
    the text, when nothing matches."""
    import re

    m = re.search(pattern, text)
    assert m, f"{pattern!r} not found in:\n{text}"
    return [float(g) for g in m.groups()]


@contextlib.contextmanager
def fresh_runs(prefix):
    """Point GOSTUDY_RUNS (where lessons keep their runs) at a new, empty folder for the
    block, so a notebook trains (and draws its live curves) instead of reusing runs an earlier
    execution finished; the old value is restored afterwards.

    The folder is temporary and removed, unless GOSTUDY_KEEP_RUNS_IN names a folder: then it is
    made there and kept, so that a later pass over the same notebooks (scripts/test.sh's
    browser test) can reuse the finished runs instead of training them again."""
    old = os.environ.get("GOSTUDY_RUNS")
    keep = os.environ.get("GOSTUDY_KEEP_RUNS_IN")
    if keep:
        os.makedirs(keep, exist_ok=True)
        holder = contextlib.nullcontext(tempfile.mkdtemp(prefix=prefix, dir=keep))
    else:
        holder = tempfile.TemporaryDirectory(prefix=prefix)
    with holder as runs:
        os.environ["GOSTUDY_RUNS"] = runs
        try:
            yield runs
        finally:
            if old is None:
                os.environ.pop("GOSTUDY_RUNS", None)
            else:
                os.environ["GOSTUDY_RUNS"] = old
