"""Rich output, code intelligence and the magics of issue 6, through jupyter_client."""

import base64
import json
import struct
import xml.etree.ElementTree as ET

from conftest import result_of, run, stdout_of


def displays(msgs):
    return [m for t, m, _ in msgs if t == "display_data"]


def test_each_mime_type_arrives_with_the_right_bytes(kernel):
    _, kc = kernel
    reply, msgs = run(kc, r"""
img := image.NewRGBA(image.Rect(0, 0, 3, 2))
img.Set(1, 1, color.RGBA{255, 0, 0, 255})
var pngBuf bytes.Buffer
if err := png.Encode(&pngBuf, img); err != nil {
	panic(err)
}
display.PNG(pngBuf.Bytes())
var jpg bytes.Buffer
if err := jpeg.Encode(&jpg, img, nil); err != nil {
	panic(err)
}
display.JPEG(jpg.Bytes())
display.SVG(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><circle r="4" cx="5" cy="5"/></svg>`)
display.JSON(map[string]any{"a": 1, "b": []int{2, 3}})
display.HTML("<table><tr><td>1</td></tr></table>")
display.Markdown("# Title")
display.LaTeX(`$\alpha$`)
""")
    assert reply["content"]["status"] == "ok", reply["content"]
    ds = displays(msgs)
    kinds = [next(k for k in d["data"] if k != "text/plain") for d in ds]
    assert kinds == ["image/png", "image/jpeg", "image/svg+xml", "application/json", "text/html", "text/markdown", "text/latex"], kinds
    png = base64.b64decode(ds[0]["data"]["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", png[16:24])
    assert w >= 3 and h >= 2 and w * 2 == h * 3  # small images may be enlarged, aspect kept
    jpg = base64.b64decode(ds[1]["data"]["image/jpeg"])
    assert jpg[:2] == b"\xff\xd8" and jpg[-2:] == b"\xff\xd9"
    assert ET.fromstring(ds[2]["data"]["image/svg+xml"]).tag.endswith("svg")
    assert ds[3]["data"]["application/json"] == {"a": 1, "b": [2, 3]}
    assert ds[4]["data"]["text/html"] == "<table><tr><td>1</td></tr></table>"
    assert ds[5]["data"]["text/markdown"] == "# Title"
    assert "\\alpha" in ds[6]["data"]["text/latex"]


def test_values_that_show_themselves_are_results(kernel):
    _, kc = kernel
    reply, msgs = run(kc, 'plots.Histogram{Title: "h", Series: []plots.HistSeries{{Name: "x", Values: []float64{1, 2, 2, 3, 3, 3}}}}')
    assert reply["content"]["status"] == "ok", reply["content"]
    res = [m for t, m, _ in msgs if t == "execute_result"][0]
    assert "image/svg+xml" in res["data"]
    reply, msgs = run(kc, "tensors.FromValue([][]float32{{1, 2}, {3, 4}})")
    res = [m for t, m, _ in msgs if t == "execute_result"][0]
    assert "[[1 2] [3 4]]" in res["data"]["text/plain"].replace(",", "").replace("\n", " ") or "1" in res["data"]["text/plain"]
    assert "text/html" in res["data"] and "<table" in res["data"]["text/html"]


def test_completion_of_locals_members_and_project_packages(kernel):
    _, kc = kernel
    run(kc, "type gopherInfo struct{ Name string; Burrows int }\nmyGopher := gopherInfo{Name: \"Ada\"}")
    reply = kc.complete("myGo", 4, reply=True, timeout=120)
    assert "myGopher" in reply["content"]["matches"], reply["content"]
    code = "myGopher.Bu"
    reply = kc.complete(code, len(code), reply=True, timeout=60)
    assert reply["content"]["matches"] == ["Burrows"], reply["content"]
    assert (reply["content"]["cursor_start"], reply["content"]["cursor_end"]) == (9, 11)
    code = "display.NewProg"
    reply = kc.complete(code, len(code), reply=True, timeout=60)
    assert "NewProgress" in reply["content"]["matches"], reply["content"]
    # Non-ASCII text before the cursor: positions are in code points, as the protocol says.
    code = '// größe 🐹\ns := "ü"\nstrings.ToLo'
    pos = len(code)  # Python counts code points
    reply = kc.complete(code, pos, reply=True, timeout=60)
    c = reply["content"]
    assert "ToLower" in c["matches"], c
    assert c["cursor_end"] == pos and c["cursor_start"] == pos - len("ToLo")
    reply = kc.complete("%he", 3, reply=True, timeout=10)
    assert reply["content"]["matches"] == ["%help"]


def test_inspection_shows_documentation(kernel):
    _, kc = kernel
    reply = kc.inspect("strings.ToUpper", 10, reply=True, timeout=120)
    c = reply["content"]
    assert c["found"], c
    assert "upper case" in c["data"]["text/plain"].lower()
    reply = kc.inspect("display.NewProgress", 12, reply=True, timeout=60)
    assert reply["content"]["found"]
    assert "progress" in reply["content"]["data"]["text/plain"].lower()


def test_test_magic_runs_tests_and_benchmarks(kernel):
    _, kc = kernel
    run(kc, "base := 40")
    code = ("%test\nfunc TestUsesSession(t *testing.T) {\n\tif base+2 != 42 { t.Fatal(\"wrong\") }\n}\n\n"
            "func BenchmarkAdd(b *testing.B) {\n\tfor range b.N { _ = base + 2 }\n}")
    reply, msgs = run(kc, code)
    out = stdout_of(msgs)
    assert reply["content"]["status"] == "ok", reply["content"]
    assert "--- PASS: TestUsesSession" in out and "BenchmarkAdd" in out and "ns/op" in out
    reply, msgs = run(kc, "%test\nfunc TestFails(t *testing.T) { t.Errorf(\"expected %d\", 1) }")
    assert reply["content"]["status"] == "error"
    assert "--- FAIL: TestFails" in stdout_of(msgs)


def test_backend_magic_shows_and_switches(kernel):
    _, kc = kernel
    reply, msgs = run(kc, "%backend")
    out = stdout_of(msgs)
    assert reply["content"]["status"] == "ok", reply["content"]
    assert "active:" in out and "xla:cpu" in out
    reply, msgs = run(kc, "%backend go")
    assert "active:   go" in stdout_of(msgs), stdout_of(msgs)
    _, msgs = run(kc, "backend.Active()")
    assert result_of(msgs) == '"go"'
    run(kc, "%backend xla:cpu")
    _, msgs = run(kc, "backend.Active()")
    assert result_of(msgs) == '"xla:cpu"'
