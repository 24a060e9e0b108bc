#!/usr/bin/env python3
"""Execute a lesson notebook headless through the gostudy kernel and save the executed copy.

    .venv/bin/python scripts/run-notebook.py notebooks/03-bottlenecks.ipynb out.ipynb [--budget full]

The same path the tests take (nbclient driving the installed "gostudy" kernelspec), at the
budget given: "full" (the default, what a user studying the lesson runs) or "test". The
executed notebook keeps every output, so the printed claims can be read or diffed later; the
committed notebook is left untouched. Exits non-zero, naming the cell, if a cell fails.
"""

import argparse
import os
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook")
    ap.add_argument("output")
    ap.add_argument("--budget", choices=("test", "quick", "full"), default="full")
    ap.add_argument("--timeout", type=int, default=7200, help="seconds per cell")
    args = ap.parse_args()

    nb = nbformat.read(args.notebook, as_version=4)
    os.environ["GOSTUDY_BUDGET"] = args.budget  # the kernel and its runner inherit it
    client = NotebookClient(nb, timeout=args.timeout, kernel_name="gostudy",
                            resources={"metadata": {"path": os.path.dirname(os.path.abspath(args.notebook))}})
    start = time.time()
    failed = None
    try:
        client.execute()
    except CellExecutionError as e:
        failed = e
    finally:
        nbformat.write(nb, args.output)
    took = time.time() - start
    if failed is not None:
        print(f"{args.notebook}: a cell failed after {took:.0f}s (outputs so far in {args.output}):\n{failed}", file=sys.stderr)
        return 1
    print(f"{args.notebook}: executed at budget {args.budget} in {took:.0f}s → {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
