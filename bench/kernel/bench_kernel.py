"""Kernel latency, as a Jupyter client sees it (not a test): gostudy against GoNB, same run.

Both kernels are driven through jupyter_client with the same cell texts (gostudy accepts
GoNB's `%%` body separator). For each kernel, every session measures:

  start-up             start_kernel() until kernel_info_reply (the kernel answers)
  first cell           the session's first cell, a trivial print (execute → reply + idle)
  first GoMLX cell     the first cell that opens the GoMLX backend and runs a small graph
  edited trivial cell  a one-line print whose number changes every time
  edited GoMLX cell    the GoMLX cell with its constant changed every time
  read slow variable   a cell printing a variable whose initializer (an earlier cell) slept 2 s

and, in one session per kernel, the growth rows of issue 13 item 11:

  after 10,000 funcs   an edited trivial cell after a cell declaring 10,000 functions
  after 10,000 vars    the same after a cell declaring 10,000 top-level variables
  after %reset         the same after `%reset`

The kernels run alternately, session by session and cell by cell, so a change in the
machine's load touches both. GoNB is not served by the Go module proxy; build it from its
public source elsewhere and point GOSTUDY_BENCH_GONB at the binary (goimports, which GoNB
needs, is looked up next to it, then on PATH) and GOSTUDY_BENCH_GONB_VERSION at the tag it
was built from. Without it only gostudy is measured.

Usage: .venv/bin/python bench/kernel/bench_kernel.py [--sessions 5] [--edits 3]
           [--readme] [--results DIR]
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TRIVIAL = "%%\nfmt.Println({k})"
GOMLX = (
    'import (\n\t"github.com/gomlx/gomlx/core/graph"\n\t"github.com/gostudy/gostudy/pkg/backend"\n)\n\n%%\n'
    "b := backend.MustDefault()\n"
    "fmt.Println(graph.MustNewExec(b, func(x *graph.Node) *graph.Node {{ return graph.MulScalar(x, {k}) }}).MustExec1([]float32{{1, 2, 3}}))"
)
SLOW_DECL = 'import "time"\n\nvar slowVar = func() int { time.Sleep(2 * time.Second); return 42 }()'
SLOW_READ = "%%\nfmt.Println(slowVar + {k})"

ROWS = [
    "start-up",
    "first cell",
    "first GoMLX cell",
    "edited trivial cell",
    "edited GoMLX cell",
    "read slow variable",
    "trivial after 10,000 funcs",
    "trivial after 10,000 vars",
    "trivial after %reset",
]


class Kernel:
    """One kernel under test: how to start it and what its sessions need first."""

    def __init__(self, name, spec_manager, setup=()):
        self.name = name
        self.ksm = spec_manager
        self.setup = list(setup)  # cells run (untimed) before the first GoMLX cell
        self.km = None
        self.kc = None

    def start(self):
        t = time.perf_counter()
        self.km = KernelManager(kernel_name=self.name, kernel_spec_manager=self.ksm)
        self.km.start_kernel(stderr=subprocess.DEVNULL)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)
        return time.perf_counter() - t

    def cell(self, code, timeout=900):
        t = time.perf_counter()
        reply = self.kc.execute_interactive(code, timeout=timeout, output_hook=lambda m: None)
        dt = time.perf_counter() - t
        if reply["content"]["status"] != "ok":
            c = reply["content"]
            raise RuntimeError(f"{self.name}: cell failed: {code[:80]!r}: {c.get('ename')}: {c.get('evalue')}")
        return dt

    def stop(self):
        if self.kc is not None:
            self.kc.stop_channels()
        if self.km is not None:
            self.km.shutdown_kernel(now=False)
        self.km = self.kc = None


def gonb_spec_dir(gonb):
    """A private Jupyter data folder with a kernelspec for the GoNB binary (its installer
    would write into the user's folder)."""
    d = tempfile.mkdtemp(prefix="gostudy-bench-gonb-")
    kdir = os.path.join(d, "kernels", "gonb-bench")
    os.makedirs(kdir)
    path = [os.path.dirname(gonb)] + os.environ.get("PATH", "").split(os.pathsep)
    spec = {
        "argv": [gonb, "--kernel", "{connection_file}"],
        "display_name": "GoNB (bench)",
        "language": "go",
        "interrupt_mode": "message",
        "env": {"PATH": os.pathsep.join(path)},
    }
    with open(os.path.join(kdir, "kernel.json"), "w") as f:
        json.dump(spec, f)
    return d


def measure(kernels, sessions, edits, growth):
    res = {k.name: {r: [] for r in ROWS} for k in kernels}
    loads = {r: [] for r in ROWS}
    k_counter = [1000]

    def nextk():
        k_counter[0] += 1
        return k_counter[0]

    def each(row, f):
        """Runs f(kernel) for every kernel, alternately, recording the times under row."""
        loads[row].append(os.getloadavg()[0])
        for k in kernels:
            res[k.name][row].append(f(k))

    for s in range(sessions):
        print(f"session {s + 1}/{sessions}", file=sys.stderr)
        try:
            each("start-up", lambda k: k.start())
            each("first cell", lambda k: k.cell(TRIVIAL.format(k=nextk())))
            for k in kernels:
                for c in k.setup:
                    k.cell(c)
            each("first GoMLX cell", lambda k: k.cell(GOMLX.format(k=nextk())))
            for _ in range(edits):
                each("edited trivial cell", lambda k: k.cell(TRIVIAL.format(k=nextk())))
                each("edited GoMLX cell", lambda k: k.cell(GOMLX.format(k=nextk())))
            for k in kernels:
                k.cell(SLOW_DECL)
            for _ in range(edits):
                each("read slow variable", lambda k: k.cell(SLOW_READ.format(k=nextk())))
            if growth and s == 0:
                funcs = "\n".join(f"func gf{i}(x int) int {{ return x + {i} }}" for i in range(10000))
                vars_ = "\n".join(f"var gv{i} = {i}" for i in range(10000))
                for k in kernels:
                    k.cell(funcs)
                for _ in range(edits):
                    each("trivial after 10,000 funcs", lambda k: k.cell(TRIVIAL.format(k=nextk())))
                for k in kernels:
                    k.cell(vars_)
                for _ in range(edits):
                    each("trivial after 10,000 vars", lambda k: k.cell(TRIVIAL.format(k=nextk())))
                for k in kernels:
                    k.cell("%reset")
                for _ in range(edits):
                    each("trivial after %reset", lambda k: k.cell(TRIVIAL.format(k=nextk())))
        finally:
            for k in kernels:
                k.stop()
    return res, loads


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    go = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip()
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; {go}"


def gonb_version(gonb):
    """GoNB built from a source archive has no version in its build info; the caller names
    it (GOSTUDY_BENCH_GONB_VERSION, e.g. the tag the source came from)."""
    v = os.environ.get("GOSTUDY_BENCH_GONB_VERSION", "")
    if v:
        return v
    out = subprocess.run([gonb, "--version"], capture_output=True, text=True)
    first = (out.stdout + out.stderr).strip().splitlines()
    return first[0].strip() if first and first[0].strip() not in ("GoNB version:", "") else "(version not recorded)"


def fmt(xs):
    if not xs:
        return "–"
    return f"{statistics.median(xs):.3f}"


def table(res, loads, names):
    head = "| measure | " + " | ".join(f"{n} (median s; min–max)" for n in names)
    if len(names) == 2:
        head += f" | {names[1]} ÷ {names[0]}"
    head += " | load (1 min) |"
    rows = [head, "|" + "---|" * (len(names) + (3 if len(names) == 2 else 2))]
    for r in ROWS:
        if not any(res[n][r] for n in names):
            continue
        cells = []
        for n in names:
            xs = res[n][r]
            cells.append(f"{fmt(xs)} ({min(xs):.3f}–{max(xs):.3f}, n={len(xs)})" if xs else "–")
        line = f"| {r} | " + " | ".join(cells)
        if len(names) == 2:
            a, b = res[names[0]][r], res[names[1]][r]
            line += f" | {statistics.median(b) / statistics.median(a):.2f}×" if a and b else " | –"
        ls = loads[r]
        line += f" | {min(ls):.1f}–{max(ls):.1f} |" if ls else " | – |"
        rows.append(line)
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=5, help="fresh sessions per kernel")
    ap.add_argument("--edits", type=int, default=3, help="edited cells of each kind per session")
    ap.add_argument("--no-growth", action="store_true", help="skip the 10,000-declaration rows")
    ap.add_argument("--readme", action="store_true", help="add the table to bench/README.md's kernel latency section")
    ap.add_argument("--results", default="", help="folder for a dated .md and .json of this run")
    args = ap.parse_args()

    started = datetime.datetime.now(datetime.timezone.utc)
    # Each kernel gets a spec manager that reads only its own kernelspec folder, so neither
    # start-up includes the client's search of every Jupyter path.
    gostudy_dir = KernelSpecManager().find_kernel_specs()["gostudy"]
    ksm = KernelSpecManager(kernel_dirs=[os.path.dirname(gostudy_dir)])
    kernels = [Kernel("gostudy", ksm)]
    gonb = os.environ.get("GOSTUDY_BENCH_GONB", "")
    gonb_dir = None
    if gonb:
        gonb = os.path.abspath(gonb)
        gonb_dir = gonb_spec_dir(gonb)
        gksm = KernelSpecManager(kernel_dirs=[os.path.join(gonb_dir, "kernels")])
        # GoNB's own way to use a local module: a go.work in its session folder.
        kernels.append(Kernel("gonb-bench", gksm, setup=[f"!*go work init && go work use . {ROOT}"]))
    else:
        print("GOSTUDY_BENCH_GONB is not set: measuring gostudy only", file=sys.stderr)
    load0 = os.getloadavg()
    try:
        res, loads = measure(kernels, args.sessions, args.edits, not args.no_growth)
    finally:
        if gonb_dir:
            shutil.rmtree(gonb_dir, ignore_errors=True)
    load1 = os.getloadavg()
    names = [k.name for k in kernels]
    title = f"### Kernel latency — {started:%Y-%m-%d %H:%M} UTC"
    peer = f"GoNB {gonb_version(gonb)} built from its source, same run" if gonb else "GoNB not measured"
    text = (
        f"{title}\n\n"
        f"Machine: {machine()}. Load average (1/5/15 min) at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, "
        f"at end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}. {peer}; {args.sessions} sessions per kernel, "
        f"{args.edits} edited cells of each kind per session; the kernels alternate cell by cell.\n\n"
        + table(res, loads, names)
        + "\n"
    )
    print(text)
    if args.readme:
        # The newest table goes last in the kernel latency section, before the training results.
        path = os.path.join(ROOT, "bench", "README.md")
        with open(path) as f:
            readme = f.read()
        mark = "\n## Results\n"
        i = readme.find(mark)
        readme = readme + "\n" + text if i < 0 else readme[:i] + "\n" + text + readme[i:]
        with open(path, "w") as f:
            f.write(readme)
    if args.results:
        os.makedirs(args.results, exist_ok=True)
        stem = os.path.join(args.results, f"kernel-latency-{started:%Y%m%d-%H%M}")
        with open(stem + ".md", "w") as f:
            f.write(text)
        with open(stem + ".json", "w") as f:
            json.dump({"started": started.isoformat(), "machine": machine(), "peer": peer,
                       "load_start": load0, "load_end": load1, "seconds": res, "load_per_row": loads}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
