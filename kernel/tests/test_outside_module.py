"""A notebook inside the user's own Go module, outside this repository.

The user installs the kernelspec with `gostudy install --user` (here into a temporary
JUPYTER_DATA_DIR, so the real per-user folder is untouched) and opens a notebook in a
scratch module of their own: cells import the module's packages, see edits to them, and
the module's go.mod is left as it was.
"""

import os
import shutil
import subprocess
import tempfile
import time

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from conftest import ROOT, result_of, run

GOMOD = "module example.com/scratch\n\ngo 1.24\n"


def write_calc(mod, answer):
    path = os.path.join(mod, "calc", "calc.go")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(f"// Package calc is a package of the user's own module.\npackage calc\n\n"
                f"// Answer is what the notebook prints.\nfunc Answer() int {{ return {answer} }}\n")
    # Coarse file-system clocks: make each edit visibly newer.
    later = time.time() + answer
    os.utime(path, (later, later))


def test_notebook_in_users_module_imports_and_sees_edits():
    work = tempfile.mkdtemp(prefix="gostudy-user-")
    try:
        data = os.path.join(work, "jupyter-data")
        env = dict(os.environ, JUPYTER_DATA_DIR=data)
        exe = os.environ.get("GOSTUDY_EXE", os.path.join(ROOT, ".bin", "gostudy"))
        out = subprocess.run([exe, "install", "--user"],
                             env=env, capture_output=True, text=True, check=True)
        assert data in out.stdout, out.stdout
        mod = os.path.join(work, "myproject")
        os.makedirs(os.path.join(mod, "notebooks"))
        with open(os.path.join(mod, "go.mod"), "w") as f:
            f.write(GOMOD)
        write_calc(mod, 41)
        ksm = KernelSpecManager(kernel_dirs=[os.path.join(data, "kernels")])
        km = KernelManager(kernel_name="gostudy", kernel_spec_manager=ksm)
        # Jupyter starts a kernel in the notebook's folder.
        km.start_kernel(cwd=os.path.join(mod, "notebooks"))
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=120)
            reply, msgs = run(kc, 'import "example.com/scratch/calc"\n\ncalc.Answer()')
            assert reply["content"]["status"] == "ok", reply["content"]
            assert result_of(msgs) == "41"
            # The project's packages are there too.
            reply, msgs = run(kc, 'import "github.com/gostudy/gostudy/pkg/display"\n\ndisplay.MIMEText')
            assert result_of(msgs) == '"text/plain"', msgs
            write_calc(mod, 42)
            reply, msgs = run(kc, "calc.Answer() * 10")
            assert reply["content"]["status"] == "ok", reply["content"]
            assert result_of(msgs) == "420", msgs
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=False)
        with open(os.path.join(mod, "go.mod")) as f:
            assert f.read() == GOMOD, "the user's go.mod changed"
        assert not os.path.exists(os.path.join(mod, "go.sum"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
