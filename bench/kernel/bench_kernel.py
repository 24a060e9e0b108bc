"""Kernel latency, as a Jupyter client sees it (not a test).

Measures, through jupyter_client, for the gostudy kernel:
  start-up         start_kernel() until kernel_info_reply (the kernel is usable)
  start + first    start_kernel() until the first trivial cell has run (the session's
                   module and runner are prepared in between)
  trivial cell     an edited one-line cell (fmt.Println(N), N changing), execute → idle
  GoMLX cell       an edited cell that builds and runs a small GoMLX graph
  read-only cell   a cell that only reads a variable whose initializer took 2 s

and, in the same run, a process-per-cell baseline that works the way GoNB does (every cell
is a fresh `go build` of a main package holding all declarations so far, then run;
package-level variables are re-initialized in every cell). GoNB itself is not served by the
Go module proxy here, so it cannot be built; this baseline reproduces its execution model.

Usage: .venv/bin/python bench/kernel/bench_kernel.py [--repeats 7] [--out FILE]
"""

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from jupyter_client.manager import start_new_kernel, KernelManager

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_cell(kc, code, timeout=600):
    t = time.perf_counter()
    reply = kc.execute_interactive(code, timeout=timeout, output_hook=lambda m: None)
    dt = time.perf_counter() - t
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"cell failed: {code!r}: {reply['content']}")
    return dt


def bench_gostudy(repeats):
    res = {}
    starts, firsts = [], []
    for i in range(3):
        t = time.perf_counter()
        km = KernelManager(kernel_name="gostudy")
        km.start_kernel()
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=120)
        starts.append(time.perf_counter() - t)
        # The session (module, runner build) is prepared in the background after start-up;
        # the first cell waits for it, so it is what a user feels after starting a kernel.
        run_cell(kc, f"fmt.Println({i})")
        firsts.append(time.perf_counter() - t)
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    res["start-up"] = starts
    res["start + first cell"] = firsts

    km, kc = start_new_kernel(kernel_name="gostudy", startup_timeout=120)
    try:
        run_cell(kc, 'fmt.Println("warm")')
        res["trivial cell"] = [run_cell(kc, f"fmt.Println({i})") for i in range(repeats)]
        run_cell(kc, "b := backend.MustDefault()")
        gomlx = 'graph.MustNewExec(b, func(x *graph.Node) *graph.Node {{ return graph.MulScalar(x, {k}) }}).MustExec1([]float32{{1, 2, 3}})'
        run_cell(kc, gomlx.format(k=1))
        res["GoMLX cell"] = [run_cell(kc, gomlx.format(k=i + 2)) for i in range(repeats)]
        t = run_cell(kc, "slowVar := func() int { time.Sleep(2 * time.Second); return 42 }()")
        res["slow initializer (once)"] = [t]
        res["read-only cell"] = [run_cell(kc, f"slowVar + {i}") for i in range(repeats)]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    return res


def go_directive():
    for line in open(os.path.join(ROOT, "go.mod")):
        if line.startswith("go "):
            return line.strip()
    return "go 1.26"


def go_requires():
    """The project's go.mod require lines, for the baseline's module."""
    lines, inside = [], False
    for line in open(os.path.join(ROOT, "go.mod")):
        s = line.strip()
        if s.startswith("require ("):
            inside = True
            continue
        if inside and s == ")":
            inside = False
            continue
        if inside and s:
            lines.append(s.split("//")[0].strip())
        elif s.startswith("require ") and "(" not in s:
            lines.append(s[len("require "):].split("//")[0].strip())
    return lines


def bench_process_per_cell(repeats):
    """GoNB's model: each cell is a fresh main package (all declarations + the cell) built
    with `go build` and run in a new process."""
    d = tempfile.mkdtemp(prefix="gostudy-bench-")
    try:
        with open(os.path.join(d, "go.mod"), "w") as f:
            f.write(f"module bench.cells\n\n{go_directive()}\n\nrequire github.com/gostudy/gostudy v0.0.0\n\n")
            f.write(f"replace github.com/gostudy/gostudy => {ROOT}\n\nrequire (\n")
            for r in go_requires():
                f.write(f"\t{r}\n")
            f.write(")\n")
        shutil.copy(os.path.join(ROOT, "go.sum"), os.path.join(d, "go.sum"))
        env = dict(os.environ, GOWORK="off")

        def cell(src):
            with open(os.path.join(d, "main.go"), "w") as f:
                f.write(src)
            t = time.perf_counter()
            subprocess.run(["go", "build", "-o", "cell.bin", "."], cwd=d, env=env, check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run([os.path.join(d, "cell.bin")], cwd=d, check=True, stdout=subprocess.DEVNULL)
            return time.perf_counter() - t

        res = {}
        trivial = 'package main\n\nimport "fmt"\n\nfunc main() {{ fmt.Println({i}) }}\n'
        cell(trivial.format(i=-1))
        res["trivial cell"] = [cell(trivial.format(i=i)) for i in range(repeats)]
        gomlx = ('package main\n\nimport (\n\t"fmt"\n\t"github.com/gomlx/gomlx/core/graph"\n'
                 '\t"github.com/gostudy/gostudy/pkg/backend"\n)\n\nfunc main() {{\n'
                 '\tb := backend.MustDefault()\n'
                 '\tfmt.Println(graph.MustNewExec(b, func(x *graph.Node) *graph.Node {{ return graph.MulScalar(x, {k}) }}).MustExec1([]float32{{1, 2, 3}}))\n}}\n')
        cell(gomlx.format(k=1))
        res["GoMLX cell"] = [cell(gomlx.format(k=i + 2)) for i in range(repeats)]
        slow = ('package main\n\nimport (\n\t"fmt"\n\t"time"\n)\n\n'
                'var slowVar = func() int {{ time.Sleep(2 * time.Second); return 42 }}()\n\n'
                'func main() {{ fmt.Println(slowVar + {i}) }}\n')
        cell(slow.format(i=-1))
        res["read-only cell"] = [cell(slow.format(i=i)) for i in range(repeats)]
        return res
    finally:
        shutil.rmtree(d, ignore_errors=True)


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0]
    go = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip()
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; {go}; load average at start {load:.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    info = machine()
    ours = bench_gostudy(args.repeats)
    base = bench_process_per_cell(args.repeats)
    goals = {"trivial cell": 0.4, "GoMLX cell": 1.0, "read-only cell": 0.5}
    gonb = {"start-up": 0.4, "start + first cell": "–", "trivial cell": 0.19, "GoMLX cell": "0.9–1.1", "read-only cell": 2.2}
    rows = ["| measure | gostudy (median, s) | process-per-cell baseline, same run (median, s) | baseline ÷ gostudy | goal | GoNB 0.11.4 as recorded in design/kernel.md (not this run) |",
            "|---|---|---|---|---|---|"]
    for name in ["start-up", "start + first cell", "trivial cell", "GoMLX cell", "read-only cell"]:
        m = statistics.median(ours[name])
        b = statistics.median(base[name]) if name in base else None
        ratio = f"{b / m:.2f}×" if b else "–"
        goal = f"≤ {goals[name]}" if name in goals else "–"
        rows.append(f"| {name} | {m:.3f} (min {min(ours[name]):.3f}, max {max(ours[name]):.3f}) | "
                    f"{'%.3f' % b if b else '–'} | {ratio} | {goal} | {gonb[name]} |")
    text = (f"### Kernel latency — {started:%Y-%m-%d %H:%M} UTC\n\n"
            f"Machine: {info}. {args.repeats} repeats per cell measure (edited cells: the code changes every time).\n\n"
            + "\n".join(rows) + "\n")
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
