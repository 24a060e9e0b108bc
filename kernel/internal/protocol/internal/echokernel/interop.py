"""Drive echokernel through the real jupyter_client to check package protocol's wire
compatibility: signatures both ways, parent headers, iopub routing, heartbeat, stdin,
control, a message signed with the wrong key being ignored, and a clean shutdown.

Usage: python interop.py /path/to/echokernel
Exits 0 and prints "interop ok" when every check passes.
"""

import json
import os
import queue
import sys
import tempfile

import zmq
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager

GUARD = 30  # seconds; a deadlock guard, never a pass/fail criterion


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def iopub_until_idle(kc, msg_id):
    """Collect the iopub messages caused by msg_id, up to its idle status."""
    out = []
    while True:
        msg = kc.get_iopub_msg(timeout=GUARD)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        out.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return out


def nudge(kc):
    """Send kernel_info until iopub delivers its status: the SUB subscription reaches
    the kernel some time after connecting (what jupyter_server calls a nudge)."""
    for _ in range(200):
        msg_id = kc.kernel_info()
        reply = kc.get_shell_msg(timeout=GUARD)
        check(reply["parent_header"]["msg_id"] == msg_id, "kernel_info reply parent")
        try:
            while True:
                msg = kc.get_iopub_msg(timeout=0.1)
                if msg["parent_header"].get("msg_id") == msg_id:
                    # drain the rest of this request's messages
                    if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "busy":
                        iopub_until_idle(kc, msg_id)
                    return reply
        except queue.Empty:
            continue
    raise AssertionError("iopub never delivered a message")


def main(kernel_bin):
    with tempfile.TemporaryDirectory(prefix="echokernel-") as tmp:
        run(kernel_bin, tmp)
    print("interop ok")


def run(kernel_bin, tmp):
    kdir = os.path.join(tmp, "kernels", "echo")
    os.makedirs(kdir)
    with open(os.path.join(kdir, "kernel.json"), "w") as f:
        json.dump({"argv": [kernel_bin, "-f", "{connection_file}"], "display_name": "Echo",
                   "language": "echo", "interrupt_mode": "message"}, f)
    ksm = KernelSpecManager(kernel_dirs=[os.path.join(tmp, "kernels")])
    km = KernelManager(kernel_name="echo", kernel_spec_manager=ksm)
    km.start_kernel()
    proc = km.provisioner.process
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=GUARD)
        info = nudge(kc)
        check(info["msg_type"] == "kernel_info_reply", "kernel_info_reply type")
        check(info["content"]["protocol_version"] == "5.3", "protocol_version")
        check(info["header"]["version"] == "5.3", "header version")
        check(info["content"]["language_info"]["name"] == "echo", "language_info")

        # execute: reply on shell, busy / execute_input / stream / idle on iopub
        msg_id = kc.execute("hello, 世界")
        reply = kc.get_shell_msg(timeout=GUARD)
        check(reply["parent_header"]["msg_id"] == msg_id, "execute_reply parent")
        check(reply["content"]["status"] == "ok", "execute_reply status")
        types = [m["msg_type"] for m in iopub_until_idle(kc, msg_id)]
        check(types == ["status", "execute_input", "stream", "status"], "iopub sequence %r" % types)

        # a message signed with a wrong key is ignored; the next good one is answered
        good_key = kc.session.key
        kc.session.key = b"definitely-not-the-key"
        bad_id = kc.execute("evil")
        kc.session.key = good_key
        good_id = kc.execute("after the bad one")
        reply = kc.get_shell_msg(timeout=GUARD)
        check(reply["parent_header"]["msg_id"] == good_id,
              "first reply after the bad message answers %r" % reply["parent_header"].get("msg_id"))
        msgs = iopub_until_idle(kc, good_id)
        texts = [m["content"]["text"] for m in msgs if m["msg_type"] == "stream"]
        check(texts == ["after the bad one"], "stream after bad message %r" % texts)
        check(bad_id != good_id, "ids differ")

        # stdin round trip
        msg_id = kc.execute("input:Your name? ", allow_stdin=True)
        req = kc.get_stdin_msg(timeout=GUARD)
        check(req["msg_type"] == "input_request", "input_request type")
        check(req["content"]["prompt"] == "Your name? ", "input prompt")
        check(req["parent_header"]["msg_id"] == msg_id, "input_request parent")
        kc.input("Ada")
        reply = kc.get_shell_msg(timeout=GUARD)
        check(reply["parent_header"]["msg_id"] == msg_id, "reply after input")
        texts = [m["content"]["text"] for m in iopub_until_idle(kc, msg_id) if m["msg_type"] == "stream"]
        check(texts == ["you typed Ada"], "stream after input %r" % texts)

        # control channel
        msg = kc.session.msg("interrupt_request", {})
        kc.control_channel.send(msg)
        reply = kc.get_control_msg(timeout=GUARD)
        check(reply["msg_type"] == "interrupt_reply", "interrupt_reply type")
        check(reply["parent_header"]["msg_id"] == msg["header"]["msg_id"], "interrupt_reply parent")

        # heartbeat: a REQ socket of our own gets its bytes back
        ctx = zmq.Context.instance()
        hb = ctx.socket(zmq.REQ)
        hb.linger = 0
        hb.connect("%s://%s:%d" % (km.transport, km.ip, km.hb_port))
        hb.send(b"ping-123")
        check(hb.poll(GUARD * 1000) == zmq.POLLIN, "heartbeat reply")
        check(hb.recv() == b"ping-123", "heartbeat echo")
        hb.close()
    finally:
        kc.stop_channels()
    # shutdown_request on control; the kernel must exit by itself, not be killed
    km.shutdown_kernel(now=False)
    check(proc.returncode == 0, "kernel exit code %r" % proc.returncode)


if __name__ == "__main__":
    main(sys.argv[1])
