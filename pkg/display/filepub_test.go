package display

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFilePublisherWritesFilesAndText(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	fp := &FilePublisher{Dir: dir, Prefix: "lesson", Out: &out}
	prev := SetPublisher(fp)
	defer SetPublisher(prev)

	const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="1" height="1"/></svg>`
	SVG(svg)
	HTML("<p>hi</p>")
	Markdown("**bold**")
	JSON(map[string]float64{"acc": 0.5})
	Clear(false)

	got, err := os.ReadFile(filepath.Join(dir, "lesson-001.svg"))
	if err != nil || string(got) != svg {
		t.Fatalf("svg file: %q, %v", got, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "lesson-002.html")); string(got) != "<p>hi</p>" {
		t.Errorf("html file %q", got)
	}
	var js map[string]float64
	raw, _ := os.ReadFile(filepath.Join(dir, "lesson-003.json"))
	if err := json.Unmarshal(raw, &js); err != nil || js["acc"] != 0.5 {
		t.Errorf("json file %q: %v", raw, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"[display image/svg+xml] " + filepath.Join(dir, "lesson-001.svg"),
		"[display text/html] " + filepath.Join(dir, "lesson-002.html"),
		"**bold**",
		"[display application/json] " + filepath.Join(dir, "lesson-003.json"),
	}
	if len(lines) != len(want) {
		t.Fatalf("stdout lines %q, want %q", lines, want)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d = %q, want %q", i, lines[i], want[i])
		}
	}
}

func TestFilePublisherRewritesUpdatedDisplays(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	fp := &FilePublisher{Dir: dir, Prefix: "live", Out: &out}
	prev := SetPublisher(fp)
	defer SetPublisher(prev)

	h := New()
	for i := range 3 {
		h.HTML("<p>step " + string(rune('0'+i)) + "</p>")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("%d files for one updated display, want 1", len(entries))
	}
	got, _ := os.ReadFile(filepath.Join(dir, entries[0].Name()))
	if string(got) != "<p>step 2</p>" {
		t.Errorf("file holds %q, want the last update", got)
	}
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Errorf("%d lines printed for one display, want 1: %q", n, out.String())
	}
	// Text-only updates are not printed again either.
	ht := New()
	ht.Text("a")
	ht.Text("b")
	if !strings.HasSuffix(out.String(), "a\n") {
		t.Errorf("stdout %q", out.String())
	}
}

func TestFilePublisherBinaryAndEnv(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "out")
	t.Setenv(OutEnv, dir)
	var out bytes.Buffer
	fp := &FilePublisher{Out: &out}
	if fp.OutDir() != dir {
		t.Fatalf("OutDir %q, want $%s = %q", fp.OutDir(), OutEnv, dir)
	}
	b, md, err := ImageBundle(testImage(130, 130))
	if err != nil {
		t.Fatal(err)
	}
	if err := fp.Publish(Message{Type: TypeDisplayData, Data: b, Metadata: md}); err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	if len(matches) != 1 {
		t.Fatalf("png files %v", matches)
	}
	raw, _ := os.ReadFile(matches[0])
	if !bytes.HasPrefix(raw, pngMagic) {
		t.Error("the written file is not a PNG")
	}
	if err := fp.Publish(Message{Type: TypeDisplayData, Data: Bundle{"application/x-unknown": "?"}}); err == nil {
		t.Error("a bundle with nothing showable was accepted")
	}
}

func TestFilePublisherInput(t *testing.T) {
	var prompts bytes.Buffer
	fp := &FilePublisher{In: strings.NewReader("first\r\nsecond"), Err: &prompts}
	a, err := fp.Input("a? ", false)
	if err != nil || a != "first" {
		t.Fatalf("first input %q, %v", a, err)
	}
	b, err := fp.Input("b? ", true)
	if err != nil || b != "second" {
		t.Fatalf("second input %q, %v", b, err)
	}
	if _, err := fp.Input("c? ", false); err == nil {
		t.Error("input after EOF did not fail")
	}
	if prompts.String() != "a? b? c? " {
		t.Errorf("prompts %q", prompts.String())
	}
}
