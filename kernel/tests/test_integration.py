"""gostudy kernel behaviour as a Jupyter client sees it: state across cells, errors, panics,
interrupts, signatures, streaming, stdin, rich output, and no leftovers on restart/shutdown."""

import glob
import hashlib
import hmac
import json
import os
import tempfile
import time
import uuid

import pytest
import zmq
from jupyter_client.manager import start_new_kernel

from conftest import TIMEOUT, alive, children, cmdline, result_of, run, stdout_of


def test_state_lives_across_cells_without_rerunning_initializers(kernel):
    _, kc = kernel
    reply, msgs = run(kc, 'runs := 0\nslow := func() int { runs++; fmt.Println("initializer ran"); return 42 }()')
    assert reply["content"]["status"] == "ok"
    assert stdout_of(msgs) == "initializer ran\n"
    reply, msgs = run(kc, "slow + runs")
    assert reply["content"]["status"] == "ok", reply["content"]
    assert "initializer ran" not in stdout_of(msgs)
    assert result_of(msgs) == "43"
    # Types, methods and values of cell-declared types carry over.
    run(kc, "type vec struct{ x, y float64 }\n\nfunc (v vec) dot(w vec) float64 { return v.x*w.x + v.y*w.y }")
    run(kc, "a := vec{1, 2}")
    _, msgs = run(kc, "a.dot(vec{3, 4})")
    assert result_of(msgs) == "11"


def test_compile_error_points_into_the_cell(kernel):
    _, kc = kernel
    reply, msgs = run(kc, "ok := 1\n_ = ok\nbad := ok + \"s\"")
    c = reply["content"]
    assert c["status"] == "error" and c["ename"] == "CompileError"
    n = c["execution_count"]
    assert f"In[{n}]:3:" in c["evalue"], c["evalue"]
    errs = [m for t, m, _ in msgs if t == "error"]
    assert errs and any('bad := ok + "s"' in line for line in errs[0]["traceback"])


def test_panic_is_reported_and_state_survives(kernel):
    _, kc = kernel
    run(kc, "survivor := 99")
    reply, msgs = run(kc, "var m map[string]int\nm[\"x\"] = 1")
    c = reply["content"]
    assert c["status"] == "error", c
    assert "nil map" in c["evalue"]
    assert any(f"In[{c['execution_count']}], line 2" in line for line in c["traceback"]), c["traceback"]
    reply, msgs = run(kc, "survivor + 1")
    assert reply["content"]["status"] == "ok"
    assert result_of(msgs) == "100"


def test_panic_in_goroutine_restarts_runner_and_says_so(kernel):
    _, kc = kernel
    run(kc, "doomed := 1")
    reply, msgs = run(kc, 'done := make(chan bool)\ngo func() { panic("from a goroutine") }()\n<-done')
    c = reply["content"]
    assert c["status"] == "error" and c["ename"] == "RunnerDied", c
    assert "doomed" in c["evalue"]  # the lost variables are named
    stderr = "".join(m["text"] for t, m, _ in msgs if t == "stream" and m["name"] == "stderr")
    assert "from a goroutine" in stderr
    reply, msgs = run(kc, "1 + 2")
    assert result_of(msgs) == "3"
    reply, _ = run(kc, "doomed")
    assert reply["content"]["status"] == "error"


def test_stdout_streams_while_the_cell_runs(kernel):
    _, kc = kernel
    code = 'for i := 0; i < 4; i++ {\n\tfmt.Println("tick", i)\n\ttime.Sleep(400 * time.Millisecond)\n}'
    reply, msgs = run(kc, code)
    assert reply["content"]["status"] == "ok"
    streams = [(m["text"], at) for t, m, at in msgs if t == "stream"]
    assert "".join(s for s, _ in streams) == "tick 0\ntick 1\ntick 2\ntick 3\n"
    # Each line is its own message, received as printed: the first well before the last.
    assert len(streams) == 4
    assert streams[-1][1] - streams[0][1] > 0.8


def test_display_stays_in_order_with_prints(kernel):
    _, kc = kernel
    reply, msgs = run(kc, 'fmt.Println("before")\ndisplay.HTML("<i>middle</i>")\nfmt.Println("after")')
    kinds = [t if t != "stream" else m["text"].strip() for t, m, _ in msgs]
    assert kinds == ["execute_input", "before", "display_data", "after"], kinds


def test_interrupt_stops_a_busy_loop_within_two_seconds(kernel):
    km, kc = kernel
    run(kc, "keep := 5")
    msg_id = kc.execute('fmt.Println("spinning")\nfor {}')
    # Wait until the cell runs (its first output), then interrupt.
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        m = kc.get_iopub_msg(timeout=TIMEOUT)
        if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "stream":
            break
    t0 = time.time()
    km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=10)
    elapsed = time.time() - t0
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "Interrupted"
    assert "keep" in reply["content"]["evalue"]  # state was lost, and the kernel says which
    assert elapsed < 2.0, elapsed
    _, msgs = run(kc, "7 * 6")
    assert result_of(msgs) == "42"


def test_interrupt_of_a_ctx_aware_loop_keeps_state(kernel):
    km, kc = kernel
    run(kc, "kept := 1")
    msg_id = kc.execute('fmt.Println("waiting")\nfor ctx.Err() == nil { time.Sleep(10 * time.Millisecond) }\nkept = 2')
    while True:
        m = kc.get_iopub_msg(timeout=TIMEOUT)
        if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "stream":
            break
    km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=10)
    assert reply["content"]["ename"] == "Interrupted"
    _, msgs = run(kc, "kept")
    assert result_of(msgs) == "2"


def _signed_frames(key, msg_type, content, session):
    header = {"msg_id": uuid.uuid4().hex, "session": session, "username": "mallory",
              "date": "2026-01-01T00:00:00.000000Z", "msg_type": msg_type, "version": "5.3"}
    parts = [json.dumps(p).encode() for p in (header, {}, {}, content)]
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for p in parts:
        mac.update(p)
    return [b"<IDS|MSG>", mac.hexdigest().encode()] + parts


def test_bad_signatures_are_dropped(tmp_path):
    km, kc = start_new_kernel(kernel_name="gostudy", startup_timeout=120)
    try:
        info = km.get_connection_info()
        marker = tmp_path / "pwned"
        code = f'os.WriteFile("{marker}", []byte("x"), 0o644)'
        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.DEALER)
        sock.linger = 0
        sock.connect(f"tcp://{info['ip']}:{info['shell_port']}")
        # Wrong key, then no signature at all, then a right signature over altered content.
        sock.send_multipart(_signed_frames(b"not-the-key", "execute_request",
                                           {"code": code, "silent": False}, "attacker"))
        frames = _signed_frames(b"", "execute_request", {"code": code, "silent": False}, "attacker")
        frames[1] = b""
        sock.send_multipart(frames)
        key = info["key"] if isinstance(info["key"], bytes) else info["key"].encode()
        good = _signed_frames(key, "kernel_info_request", {}, "attacker")
        good[-1] = json.dumps({"code": code}).encode()  # tampered after signing
        sock.send_multipart(good)
        assert sock.poll(2000) == 0, "the kernel answered a message with a bad signature"
        assert not marker.exists()
        # A correctly signed request still works afterwards.
        sock.send_multipart(_signed_frames(key, "kernel_info_request", {}, "attacker"))
        assert sock.poll(10000) != 0
        reply = sock.recv_multipart()
        assert json.loads(reply[2])["msg_type"] == "kernel_info_reply"
        sock.close()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


def test_input_request_round_trip(kernel):
    _, kc = kernel
    reply, msgs = run(kc, 'name, err := display.Input("your name? ")\nif err != nil { panic(err) }\nfmt.Println("hi", name)',
                      allow_stdin=True, on_input=lambda content: "gopher" if content["prompt"] == "your name? " else "?")
    assert reply["content"]["status"] == "ok", reply["content"]
    assert stdout_of(msgs) == "hi gopher\n"


def test_update_display_and_clear_output(kernel):
    _, kc = kernel
    code = 'h := display.New()\nh.Update(display.HTMLBundle("<p>1</p>"))\nh.Update(display.HTMLBundle("<p>2</p>"))\ndisplay.Clear(true)'
    reply, msgs = run(kc, code)
    assert reply["content"]["status"] == "ok", reply["content"]
    shown = [(t, m) for t, m, _ in msgs if t in ("display_data", "update_display_data", "clear_output")]
    assert [t for t, _ in shown] == ["display_data", "update_display_data", "clear_output"]
    ids = {m["transient"]["display_id"] for t, m in shown if t != "clear_output"}
    assert len(ids) == 1
    assert shown[1][1]["data"]["text/html"] == "<p>2</p>"
    assert shown[2][1]["wait"] is True


def test_magics(kernel, tmp_path):
    _, kc = kernel
    target = tmp_path / "hello.txt"
    reply, msgs = run(kc, f"%%writefile {target}\nline one\nline two")
    assert reply["content"]["status"] == "ok"
    assert target.read_text() == "line one\nline two\n"
    reply, msgs = run(kc, f"!cat {target}")
    assert stdout_of(msgs) == "line one\nline two\n"
    reply, msgs = run(kc, "%env GOSTUDY_TEST_VAR=42\nos.Getenv(\"GOSTUDY_TEST_VAR\")")
    assert result_of(msgs) == '"42"'
    reply, msgs = run(kc, "%help")
    assert "%%writefile" in stdout_of(msgs) and "%reset" in stdout_of(msgs)
    reply, msgs = run(kc, "%nosuchmagic")
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "UnknownMagic"
    run(kc, "gone := 1")
    run(kc, "%reset gone")
    reply, _ = run(kc, "gone")
    assert reply["content"]["status"] == "error"


def _session_dirs(pid):
    """The session directories of kernel pid: their names start with its pid, so one left
    without kernel.pid (a kernel killed while creating or removing it) is found too. Those
    of other kernels, whatever state they are in, are not looked at."""
    return set(glob.glob(os.path.join(tempfile.gettempdir(), f"gostudy-session-{pid}-*")))


def _kernel_tree(km):
    pid = km.provisioner.process.pid
    return pid, children(pid)


def test_restart_and_shutdown_leave_no_processes_or_files():
    km, kc = start_new_kernel(kernel_name="gostudy", startup_timeout=120)
    try:
        run(kc, "x := 1")
        run(kc, "fmt.Pr")  # a compile error is fine; make sure gopls had a request too
        kc.complete("fmt.Pr", 6)
        time.sleep(1)
        pid, kids = _kernel_tree(km)
        names = " ".join(cmdline(k) for k in kids)
        assert "runner.bin" in names, names
        sessions = _session_dirs(pid)
        assert len(sessions) == 1, sessions
        with open(os.path.join(sessions.pop(), "kernel.pid")) as f:
            assert f.read().strip() == str(pid)
        # Completion requests racing the shutdown must not make the directory again.
        for _ in range(5):
            kc.complete("fmt.Pr", 6)
        km.restart_kernel(now=False)
        kc.wait_for_ready(timeout=120)
        for p in [pid] + kids:
            deadline = time.time() + 10
            while alive(p) and time.time() < deadline:
                time.sleep(0.1)
            assert not alive(p), f"process {p} ({cmdline(p)}) survived the restart"
        assert not _session_dirs(pid), "session directory left behind"
        # The restarted kernel works and starts with no variables.
        reply, _ = run(kc, "x")
        assert reply["content"]["status"] == "error"
        _, msgs = run(kc, "2 + 2")
        assert result_of(msgs) == "4"
        pid2, kids2 = _kernel_tree(km)
        assert len(_session_dirs(pid2)) == 1
        for _ in range(5):
            kc.complete("fmt.Pr", 6)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    for p in [pid2] + kids2:
        deadline = time.time() + 10
        while alive(p) and time.time() < deadline:
            time.sleep(0.1)
        assert not alive(p), f"process {p} ({cmdline(p)}) survived the shutdown"
    assert not _session_dirs(pid2), "session directory left behind by the shutdown"
