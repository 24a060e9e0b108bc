"""The kernel under abuse, as a Jupyter client (or any local process) can inflict it: malformed
connections on every socket, hundreds of queued requests, and kill -9 with processes running."""

import glob
import os
import queue
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

from jupyter_client.manager import start_new_kernel

from conftest import alive, children, cmdline, result_of, run

GREETING = b"\xff" + b"\x00" * 8 + b"\x7f\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" * 32


def _ready(sock_type):
    body = b"\x05READY\x0bSocket-Type" + struct.pack(">I", len(sock_type)) + sock_type
    return bytes([0x04, len(body)]) + body


def _attack(port, data):
    """Send data to a kernel port and wait until the kernel hangs up."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(data)
        while s.recv(65536):
            pass


def test_malformed_connections_do_not_stop_the_kernel(kernel):
    km, kc = kernel
    info = km.get_connection_info()
    truncated_ready = b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x10DEA"
    for name, sock_type in [("shell_port", b"DEALER"), ("control_port", b"DEALER"), ("stdin_port", b"DEALER"),
                            ("iopub_port", b"SUB"), ("hb_port", b"REQ")]:
        port = info[name]
        _attack(port, GREETING + truncated_ready)  # used to panic in the handshake
        _attack(port, GREETING + _ready(sock_type) + b"\x02" + struct.pack(">Q", 1 << 40))  # a 1 TiB frame
        _attack(port, GREETING + _ready(sock_type) + b"\x02" + struct.pack(">Q", 1 << 62))
    reply, msgs = run(kc, "6 * 7")
    assert reply["content"]["status"] == "ok"
    assert result_of(msgs) == "42"
    assert km.is_alive()


def test_every_queued_request_gets_a_reply_in_order(kernel):
    """Run All on a long notebook: 400 requests at once (the kernel used to drop all past 256)."""
    _, kc = kernel
    # The first cell runs for a while, so the others are all waiting in the queue at once.
    ids = [kc.execute("time.Sleep(3 * time.Second)")]
    ids += [kc.execute(f"// cell {i} has only a comment") for i in range(400)]
    replies = []
    deadline = time.time() + 300
    while len(replies) < len(ids):
        assert time.time() < deadline, f"only {len(replies)} of {len(ids)} replies"
        try:
            r = kc.get_shell_msg(timeout=0.05)
        except queue.Empty:
            pass
        else:
            if r["parent_header"].get("msg_id") in ids:
                replies.append(r)
        try:  # keep iopub drained, as a front end does
            while True:
                kc.get_iopub_msg(timeout=0)
        except queue.Empty:
            pass
    assert [r["parent_header"]["msg_id"] for r in replies] == ids
    assert all(r["content"]["status"] == "ok" for r in replies)
    counts = [r["content"]["execution_count"] for r in replies]
    assert counts == list(range(counts[0], counts[0] + len(ids)))


def _with_arg(arg):
    """Live processes whose command line contains the word arg."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and alive(int(d)) and arg in cmdline(int(d)).split():
            out.append(int(d))
    return out


def _wait(what, cond, timeout=30):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_kill_9_leaves_nothing_behind():
    """Nothing a session started outlives a kernel killed with SIGKILL: a process a cell
    started, one it daemonized (its own session, re-parented), both ends of a running
    `!a | b`, the runner, gopls, the guard; nor a file: the session directory, and a temporary
    folder a cell made, are gone within seconds, without waiting for another kernel."""
    marks = [str(random.randint(100000, 900000)) for _ in range(4)]
    km, kc = start_new_kernel(kernel_name="gostudy", startup_timeout=120)
    cell_tmp = None
    try:
        reply, _ = run(kc, f'exec.Command("sleep", "{marks[0]}").Start()')
        assert reply["content"]["status"] == "ok", reply["content"]
        reply, msgs = run(kc, 'tmp, _ := os.MkdirTemp("", "cell-"); tmp')
        assert reply["content"]["status"] == "ok", reply["content"]
        cell_tmp = result_of(msgs).strip('"')
        assert os.path.isdir(cell_tmp), cell_tmp
        reply, _ = run(kc, f'exec.Command("bash", "-c", "setsid sleep {marks[1]} > /dev/null 2>&1 &").Run()')
        assert reply["content"]["status"] == "ok", reply["content"]
        kc.complete("fmt.Pr", 6)  # gopls is up
        kc.execute(f"!sleep {marks[2]} | sleep {marks[3]}")
        _wait("the cells' processes", lambda: all(_with_arg(m) for m in marks))
        pid = km.provisioner.process.pid
        tree = children(pid)
        names = " ".join(cmdline(p) for p in tree)
        assert "runner.bin" in names and "gopls" in names, names
        session = glob.glob(os.path.join(tempfile.gettempdir(), f"gostudy-session-{pid}-*"))
        assert len(session) == 1, session
        os.kill(pid, signal.SIGKILL)
        _wait("every process of the session to end",
              lambda: not any(_with_arg(m) for m in marks) and not any(alive(p) for p in tree))
        _wait("the session directory to go", lambda: not os.path.exists(session[0]), timeout=5)
        assert not os.path.exists(cell_tmp), cell_tmp
    finally:
        for m in marks:
            for p in _with_arg(m):
                os.kill(p, signal.SIGKILL)
        if cell_tmp and os.path.isdir(cell_tmp):
            shutil.rmtree(cell_tmp)
        kc.stop_channels()
        km.cleanup_resources()


def test_orphaned_kernel_shuts_down(tmp_path):
    """A kernel whose parent dies without a shutdown_request (a Jupyter server killed with
    SIGKILL) shuts itself down within seconds, runner included, as ipykernel does, instead of
    living on where no client can reach it."""
    from jupyter_client.connect import write_connection_file
    from jupyter_client.kernelspec import KernelSpecManager

    conn, _ = write_connection_file(str(tmp_path / "kernel.json"))
    spec = KernelSpecManager().get_kernel_spec("gostudy")
    argv = [a.replace("{connection_file}", conn) for a in spec.argv]
    env = dict(os.environ, **spec.env)
    # The parent: a shell that starts the kernel, prints its pid and waits, as a server would.
    parent = subprocess.Popen(["bash", "-c", '"$@" </dev/null & echo $!; wait', "bash", *argv], stdout=subprocess.PIPE,
                              text=True, env=env)
    kernel_pid = int(parent.stdout.readline())
    tree = []
    try:
        _wait("the kernel's runner", lambda: any("runner.bin" in cmdline(p) for p in children(kernel_pid)), timeout=120)
        tree = children(kernel_pid)
        parent.kill()
        parent.wait()
        _wait("the orphaned kernel and its processes to exit", lambda: not any(alive(p) for p in [kernel_pid, *tree]), timeout=15)
    finally:
        for p in [kernel_pid, *tree]:
            if alive(p):
                os.kill(p, signal.SIGKILL)
