"""The Jupyter project's own kernel test suite (jupyter_kernel_test), run against gostudy.

Each attribute below is a Go sample the suite executes through jupyter_client and checks
(message types, reply shapes, stream names, MIME types). Run: .venv/bin/python -m pytest
kernel/tests (the kernelspec must be installed in .venv, which scripts/setup.sh does).
"""

import os
import shutil
import tempfile
import time
import unittest

import jupyter_kernel_test as jkt
from jupyter_client.manager import start_new_kernel


class GostudyKernelTests(jkt.KernelTests):
    kernel_name = "gostudy"
    language_name = "go"
    file_extension = ".go"

    code_hello_world = 'fmt.Println("hello, world")'
    code_stderr = 'fmt.Fprintln(os.Stderr, "to stderr")'

    completion_samples = [
        {"text": "fmt.Pr", "matches": {"Print", "Printf", "Println"}},
        {"text": "strings.ToU", "matches": {"ToUpper", "ToUpperSpecial"}},
    ]

    complete_code_samples = ["x := 1", "func f() int { return 1 }", "%help", "!ls", "fmt.Println(1)\nx := 2"]
    incomplete_code_samples = ["func f() {", "x := []int{1,\n2,", "for i := 0; i < 3; i++ {", "s := `multi"]
    invalid_code_samples = ["x := )", "func 1f() {}", "x := 1 2", "}"]

    code_generate_error = "undefinedName + 1"

    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": '"go" + "pher"', "result": '"gopher"'},
        {"code": "3.0 / 2", "result": "1.5"},
    ]
    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "6 *"

    code_display_data = [
        {"code": 'display.HTML("<b>bold</b>")', "mime": "text/html"},
        {"code": 'display.Markdown("**bold** $x^2$")', "mime": "text/markdown"},
        {"code": 'display.SVG(`<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>`)', "mime": "image/svg+xml"},
    ]

    code_inspect_sample = "fmt.Println"

    code_clear_output = 'fmt.Println("soon gone")\ndisplay.Clear(false)'


class GostudyIopubWelcomeTests(jkt.IopubWelcomeTests):
    kernel_name = "gostudy"
    support_iopub_welcome = True


class FreshKernelCodeIntelligence(unittest.TestCase):
    """The first inspection and completion of a kernel that has just started wait for gopls
    (which starts lazily, so as not to slow the first cell) instead of answering empty."""

    def fresh(self):
        # An empty session cache: the session takes its longest to prepare, as on a first run.
        cache = tempfile.mkdtemp(prefix="gostudy-test-cache-")
        self.addCleanup(shutil.rmtree, cache, ignore_errors=True)
        env = dict(os.environ, GOSTUDY_CACHE_DIR=cache)
        km, kc = start_new_kernel(kernel_name="gostudy", startup_timeout=120, env=env)
        self.addCleanup(km.shutdown_kernel, now=True)
        self.addCleanup(kc.stop_channels)
        return kc

    def test_inspect_right_after_start(self):
        kc = self.fresh()
        t = time.time()
        msg_id = kc.inspect("fmt.Println", len("fmt.Println"))
        reply = kc.get_shell_msg(timeout=60)
        self.assertEqual(reply["parent_header"]["msg_id"], msg_id)
        self.assertTrue(reply["content"]["found"], reply["content"])
        self.assertIn("Println", reply["content"]["data"]["text/plain"])
        self.assertLess(time.time() - t, 45)

    def test_complete_right_after_start(self):
        kc = self.fresh()
        msg_id = kc.complete("strings.ToU", len("strings.ToU"))
        reply = kc.get_shell_msg(timeout=60)
        self.assertEqual(reply["parent_header"]["msg_id"], msg_id)
        self.assertIn("ToUpper", reply["content"]["matches"])


if __name__ == "__main__":
    unittest.main()
