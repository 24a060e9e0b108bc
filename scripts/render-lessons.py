#!/usr/bin/env python3
"""Execute the lesson notebooks through the gostudy kernel and render them to HTML.

    scripts/render-lessons.sh                          # every lesson, full budget, into docs/lessons/
    scripts/render-lessons.sh --budget quick           # every lesson, quick budget, into docs/lessons/quick/
    scripts/render-lessons.sh --budget test --out /tmp/r --fresh notebooks/01-dropout.ipynb

Each notebook runs headless (nbclient driving the installed "gostudy" kernelspec, the path the
tests take) at the given budget, in notebooks/ like a user's session, with its runs in the
checkout's runs/ folder (so a render after an earlier one reuses finished runs; --fresh uses an
empty temporary folder instead, so every run trains). The executed notebook is rendered with
nbconvert (JupyterLab's markup, a small stylesheet, figures as the SVG the cells showed) to
<out>/<notebook name>.html, stamped at the top and in <meta> tags with the commit, the budget,
the backend and device, the machine, the wall time, how many runs were trained, and the digest
of the notebook's code cells — kernel/tests/test_lesson_renders.py fails when a rendered
lesson's code differs from its notebook's. A notebook with a failing cell is not rendered.
"""

import argparse
import datetime
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import nbformat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(ROOT, "notebooks")
TEMPLATES = os.path.join(ROOT, "scripts", "render")
STAMP_PREFIX = "GOSTUDY-RENDER-STAMP "

# A cell appended to the notebook while it runs (and removed before rendering): the kernel's
# backend and device, which the stamp reports.
STAMP_CELL = r'''
import "github.com/gostudy/gostudy/pkg/backend"

stampBackend := backend.MustDefault()
fmt.Printf("GOSTUDY-RENDER-STAMP {\"backend\": %q, \"device\": %q}\n", backend.Active(), stampBackend.DeviceDescription(0))
'''


def code_digest(nb):
    """The SHA-256 of a notebook's code cells, in order: what decides whether a render is stale
    (markdown edits and outputs do not count)."""
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    return hashlib.sha256(json.dumps(sources, ensure_ascii=False).encode()).hexdigest()


def stamp_of(html):
    """The render stamp of a page: its <meta name="gostudy-..."> tags, without the prefix."""
    from html.parser import HTMLParser

    class Metas(HTMLParser):
        def __init__(self):
            super().__init__()
            self.found = {}

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "meta" and a.get("name", "").startswith("gostudy-"):
                self.found[a["name"][len("gostudy-"):]] = a.get("content", "")

    p = Metas()
    p.feed(html)
    return p.found


def rendered_digest(html):
    """The code digest a rendered page was stamped with, or None."""
    d = stamp_of(html).get("code-sha256", "")
    return d if re.fullmatch(r"[0-9a-f]{64}", d) else None


def lesson_notebooks():
    """The lesson notebooks: notebooks/NN-name.ipynb with NN ≥ 01 (00 is the kernel's tour)."""
    return sorted(p for p in glob.glob(os.path.join(NOTEBOOKS, "[0-9][0-9]-*.ipynb"))
                  if not os.path.basename(p).startswith("00-"))


def git_commit():
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine():
    """CPU model, cores, memory and GPU, in one line."""
    cpu, mem = "unknown CPU", ""
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            cpu = m.group(1).strip() if m else cpu
        with open("/proc/meminfo") as f:
            m = re.search(r"^MemTotal:\s*(\d+) kB", f.read(), re.M)
            mem = f", {int(m.group(1)) / 2**20:.0f} GiB" if m else ""
    except OSError:
        pass
    gpu = ""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=20)
        if out.returncode == 0 and out.stdout.strip():
            gpu = ", GPU " + " + ".join(out.stdout.strip().splitlines())
    except (OSError, subprocess.TimeoutExpired):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}{gpu}"


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def records(runs):
    """The run records under a runs folder, with their modification times."""
    return {p: os.path.getmtime(p) for p in glob.glob(os.path.join(runs, "**", "record.json"), recursive=True)}


def execute(path, budget, runs, timeout):
    """Run the notebook with the stamp cell appended; return the executed notebook (stamp cell
    removed), the stamp's fields and the wall time. Raises nbclient's CellExecutionError."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(STAMP_CELL.strip(), id="gostudy-render-stamp"))
    env = {"GOSTUDY_BUDGET": budget, "GOSTUDY_RUNS": runs}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel and its runner inherit them
    start = time.time()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="gostudy", resources={"metadata": {"path": NOTEBOOKS}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    wall = time.time() - start
    stamp_cell = nb.cells.pop()
    fields = {}
    for o in stamp_cell.outputs:
        for line in o.get("text", "").splitlines():
            if line.startswith(STAMP_PREFIX):
                fields = json.loads(line[len(STAMP_PREFIX):])
    return nb, fields, wall


def inline_svgs(nb):
    """Strip the XML prolog and comments of every SVG output, so the template can put the SVG
    inline in the page; fail on an SVG with element ids (two inline figures could collide)."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            svg = out.get("data", {}).get("image/svg+xml")
            if svg is None:
                continue
            svg = re.sub(r"<\?xml[^>]*\?>|<!--.*?-->", "", svg, flags=re.S).strip()
            if re.search(r"<svg\b", svg) is None or re.search(r"\sid=\"", svg):
                raise ValueError(f"cell {cell.get('id')}: an SVG output that cannot be inlined")
            out["data"]["image/svg+xml"] = svg


def title(nb):
    """The notebook's first heading, for the page's <title>."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if m:
                return m.group(1).strip()
    return "gostudy lesson"


def render(nb, out_path):
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    with open(os.path.join(TEMPLATES, "lesson.css")) as f:
        css = f.read()
    inline_svgs(nb)
    nb.metadata["title"] = title(nb)
    config = Config()
    # Pygments' own colours: the lab template's default style refers to JupyterLab's CSS
    # variables, which the small stylesheet does not define.
    config.CSSHTMLHeaderPreprocessor.style = "default"
    exporter = HTMLExporter(template_name="lesson", extra_template_basedirs=[TEMPLATES], config=config)
    body, _ = exporter.from_notebook_node(nb, resources={"gostudy_css": css})
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        f.write(body)
    os.replace(tmp, out_path)
    return len(body.encode())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", help="notebooks to render (default: every lesson notebook)")
    ap.add_argument("--budget", choices=("test", "quick", "full"), default="full")
    ap.add_argument("--out", help="folder for the HTML files (default: docs/lessons for full, docs/lessons/quick for quick)")
    ap.add_argument("--fresh", action="store_true", help="train every run again, in an empty temporary runs folder")
    ap.add_argument("--timeout", type=int, default=4 * 3600, help="seconds per cell")
    args = ap.parse_args()
    if args.out is None:
        if args.budget == "test":
            ap.error("--budget test renders are not published: give --out")
        args.out = os.path.join(ROOT, "docs", "lessons", *(["quick"] if args.budget == "quick" else []))

    paths = [os.path.abspath(p) for p in args.notebooks] or lesson_notebooks()
    os.makedirs(args.out, exist_ok=True)
    commit, host = git_commit(), machine()
    failed = False
    for path in paths:
        name = os.path.splitext(os.path.basename(path))[0]
        with tempfile.TemporaryDirectory(prefix="gostudy-render-runs-") as tmp_runs:
            runs = tmp_runs if args.fresh else os.environ.get("GOSTUDY_RUNS") or os.path.join(ROOT, "runs")
            before, load_before = records(runs), load_average()
            started = time.time()
            try:
                nb, fields, wall = execute(path, args.budget, runs, args.timeout)
            except Exception as e:  # nbclient's CellExecutionError, a dead kernel, a timeout
                print(f"{name}: not rendered, a cell failed:\n{e}", file=sys.stderr)
                failed = True
                continue
            after = records(runs)
            trained = sum(1 for p, t in after.items() if t >= started)
            reused = sum(1 for p in after if p in before and after[p] < started)
        source = nbformat.read(path, as_version=4)
        nb.metadata["gostudy_render"] = {
            "notebook": os.path.basename(path),
            "code_sha256": code_digest(source),
            "commit": commit,
            "budget": args.budget,
            "backend": fields.get("backend", "?"),
            "device": fields.get("device", "?"),
            "machine": f"{host}, load average {load_before} before, {load_average()} after",
            "wall_seconds": round(wall),
            "wall": str(datetime.timedelta(seconds=round(wall))),
            "runs_note": f" ({trained} training runs trained or resumed, {reused} reused from earlier)",
            "rendered": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        }
        out = os.path.join(args.out, name + ".html")
        size = render(nb, out)
        print(f"{name}: budget {args.budget}, {datetime.timedelta(seconds=round(wall))}, {trained} runs trained, "
              f"{reused} reused → {out} ({size / 1024:.0f} KiB)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
