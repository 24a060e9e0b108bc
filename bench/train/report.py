"""Turns the JSON lines of gobench and torch_bench.py into a Markdown results table.

    python report.py results.jsonl --title "CPU ..." --meta "machine: ..." [--readme bench/README.md --section cpu]

One row per model; one column per (implementation, backend) in the order first seen, each
with examples/s and its ratio to the first PyTorch column. With --readme, the table is also
inserted at the end of the README's section between
<!-- results:SECTION --> and <!-- end results:SECTION --> (appended with those markers when
absent), so every run adds a dated entry.
"""

import argparse
import json
import sys


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


def column(r):
    impl = r.get("impl", "?")
    if impl == "gomlx":
        return f"GoMLX {r.get('backend') or '?'}"
    return {"torch-eager": "PyTorch eager", "torch-compile": "PyTorch compile"}.get(impl, impl)


def fmt_rate(v):
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def render(rows, title, meta, loads=None):
    cols, models = [], []
    cell = {}
    for r in rows:
        c, m = column(r), r.get("model", "?")
        if c not in cols:
            cols.append(c)
        if m not in models:
            models.append(m)
        cell[(m, c)] = r
    base = next((c for c in cols if c.startswith("PyTorch")), None)
    out = [f"### {title}", ""]
    out += [f"- {line}" for line in meta]
    builds = sorted({r["build"] for r in rows if r.get("build")})
    builds = [b for b in builds if not any(o != b and o.startswith(b) for o in builds)]
    out += [f"- GoMLX side: {b}" for b in builds]
    out += ["", "examples/s (median of timed rounds; ratio to " + (base or "—") + "); batch per model in brackets", ""]
    extra = ["load (start → end)"] if loads else []
    out.append("| model | " + " | ".join(cols + extra) + " |")
    out.append("|---" * (len(cols) + len(extra) + 1) + "|")
    notes = []
    for m in models:
        batch = next((cell[(m, c)].get("batch") for c in cols if (m, c) in cell and cell[(m, c)].get("batch")), "?")
        params = {cell[(m, c)].get("params") for c in cols if (m, c) in cell and cell[(m, c)].get("params")}
        label = f"{m} [{batch}]"
        if len(params) > 1:
            notes.append(f"{m}: parameter counts differ between implementations: {sorted(params)}")
        cells = []
        b = cell.get((m, base), {}).get("examples_per_s") if base else None
        for c in cols:
            r = cell.get((m, c))
            if r is None:
                cells.append("—")
            elif r.get("error"):
                cells.append("n/a¹" if "does not implement" in r["error"] else "error²")
                notes.append(f"{m}, {c}: {r['error'][:300]}")
            else:
                v = r["examples_per_s"]
                s = fmt_rate(v)
                if b and c != base:
                    s += f" ({v / b:.2f}×)"
                cells.append(s)
        if loads:
            cells.append(" → ".join(loads.get(m, ("?", "?"))))
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    first = [f"{column(r)} {r['model']}: {r['first_step_s']:.1f} s" for r in rows if r.get("first_step_s")]
    out += ["", "First step (compilation included): " + "; ".join(first) + "."]
    if notes:
        out += ["", "Notes:"] + [f"- {n}" for n in notes]
        out += ["", "¹ the backend lacks an op this model needs (message in the notes); ² failed (see notes)."]
    return "\n".join(out) + "\n"


def render_cells(path):
    """The kernel-cell table from bench/kernel/gpucells' replay line, or "" without one."""
    try:
        with open(path) as f:
            r = json.loads(f.read().strip().splitlines()[-1])
    except (FileNotFoundError, IndexError, json.JSONDecodeError):
        return ""
    cells = r.get("cells", [])
    rows = [(c["name"], c["build_s"], c["run_s"]) for c in cells[:2]]
    edited = cells[2:]
    if edited:
        mid = lambda xs: sorted(xs)[len(xs) // 2]
        rows.append((f"edited cell (median of {len(edited)})", mid([c["build_s"] for c in edited]),
                     mid([c["run_s"] for c in edited])))
    out = ["", f"Kernel cell latency on {r.get('backend') or '?'}: cells compiled on the development machine "
           "(go list + type-check + plugin build; independent of the backend) and run here in a fresh runner; "
           "a notebook cell costs both.", "",
           "| cell | compile (dev machine, s) | run here (s) | compile + run (s) |", "|---|---|---|---|"]
    out += [f"| {n} | {b:.3f} | {x:.3f} | {b + x:.3f} |" for n, b, x in rows]
    return "\n".join(out) + "\n"


def insert(readme, section, text):
    start, end = f"<!-- results:{section} -->", f"<!-- end results:{section} -->"
    try:
        with open(readme) as f:
            doc = f.read()
    except FileNotFoundError:
        doc = ""
    if start in doc and end in doc:
        i = doc.index(end)
        doc = doc[:i] + text + "\n" + doc[i:]
    else:
        doc = doc.rstrip("\n") + f"\n\n{start}\n{text}\n{end}\n"
    with open(readme, "w") as f:
        f.write(doc)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("jsonl")
    p.add_argument("--title", required=True)
    p.add_argument("--meta", action="append", default=[])
    p.add_argument("--readme")
    p.add_argument("--section", default="cpu")
    p.add_argument("--loads", help="TSV of model, 1-min load at its start, at its end")
    p.add_argument("--cells", help="JSON line of bench/kernel/gpucells replay, added as a table when present")
    a = p.parse_args()
    loads = None
    if a.loads:
        with open(a.loads) as f:
            loads = {parts[0]: tuple(parts[1:3]) for parts in (line.split() for line in f) if len(parts) >= 3}
    text = render(load(a.jsonl), a.title, a.meta, loads)
    if a.cells:
        text += render_cells(a.cells)
    sys.stdout.write(text)
    if a.readme:
        insert(a.readme, a.section, text)


if __name__ == "__main__":
    main()
