package display

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// fakePublisher records messages and answers input requests from a script.
type fakePublisher struct {
	mu      sync.Mutex
	msgs    []Message
	answers []string
	prompts []string
	secret  []bool
	fail    error
}

func (f *fakePublisher) Publish(m Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.msgs = append(f.msgs, m)
	return nil
}

func (f *fakePublisher) Input(prompt string, password bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prompts = append(f.prompts, prompt)
	f.secret = append(f.secret, password)
	if len(f.answers) == 0 {
		return "", io.EOF
	}
	a := f.answers[0]
	f.answers = f.answers[1:]
	return a, nil
}

func (f *fakePublisher) messages() []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Message(nil), f.msgs...)
}

// install makes a fake publisher current for the test and captures what the void helpers
// report on stderr.
func install(t *testing.T) (*fakePublisher, *bytes.Buffer) {
	t.Helper()
	f := &fakePublisher{}
	prev := SetPublisher(f)
	var errs bytes.Buffer
	prevErr := errOut
	errOut = func() io.Writer { return &errs }
	t.Cleanup(func() {
		SetPublisher(prev)
		errOut = prevErr
	})
	return f, &errs
}

func only(t *testing.T, f *fakePublisher) Message {
	t.Helper()
	msgs := f.messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1: %+v", len(msgs), msgs)
	}
	return msgs[0]
}

func testImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{R: uint8(10 * x), G: uint8(10 * y), B: 200, A: 255})
		}
	}
	return img
}

func TestSetPublisherReturnsPreviousAndNilRestoresDefault(t *testing.T) {
	f := &fakePublisher{}
	prev := SetPublisher(f)
	if CurrentPublisher() != f {
		t.Fatal("SetPublisher did not install the publisher")
	}
	if got := SetPublisher(nil); got != f {
		t.Fatalf("SetPublisher(nil) returned %T, want the fake", got)
	}
	if _, ok := CurrentPublisher().(*FilePublisher); !ok {
		t.Fatalf("after SetPublisher(nil) the publisher is %T, want *FilePublisher", CurrentPublisher())
	}
	SetPublisher(prev)
}

func TestTextualHelpers(t *testing.T) {
	cases := []struct {
		name string
		call func()
		mime string
		want string
	}{
		{"html", func() { HTML("<b>bold</b>") }, MIMEHTML, "<b>bold</b>"},
		{"markdown", func() { Markdown("# Title\n$E = mc^2$") }, MIMEMarkdown, "# Title\n$E = mc^2$"},
		{"latex", func() { LaTeX(`$$\frac{1}{1-p}$$`) }, MIMELaTeX, `$$\frac{1}{1-p}$$`},
		{"text", func() { Text("plain") }, MIMEText, "plain"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, errs := install(t)
			c.call()
			m := only(t, f)
			if m.Type != TypeDisplayData || m.DisplayID != "" {
				t.Errorf("type %q id %q, want display_data without id", m.Type, m.DisplayID)
			}
			if got := m.Data[c.mime]; got != c.want {
				t.Errorf("%s = %q, want %q", c.mime, got, c.want)
			}
			if _, ok := m.Data[MIMEText].(string); !ok {
				t.Errorf("bundle %v has no text/plain fallback", m.Data)
			}
			if errs.Len() != 0 {
				t.Errorf("unexpected error output %q", errs.String())
			}
		})
	}
}

func TestPNG(t *testing.T) {
	f, errs := install(t)
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage(200, 150)); err != nil {
		t.Fatal(err)
	}
	PNG(buf.Bytes())
	m := only(t, f)
	raw, err := base64.StdEncoding.DecodeString(m.Data[MIMEPNG].(string))
	if err != nil {
		t.Fatalf("image/png is not base64: %v", err)
	}
	if !bytes.Equal(raw, buf.Bytes()) {
		t.Fatal("decoded image/png differs from the bytes given")
	}
	if !bytes.HasPrefix(raw, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatal("no PNG magic")
	}
	size := m.Metadata[MIMEPNG].(map[string]any)
	if size["width"] != 200 || size["height"] != 150 {
		t.Errorf("metadata %v, want width 200 height 150", size)
	}
	if errs.Len() != 0 {
		t.Errorf("unexpected error output %q", errs.String())
	}

	// Not a PNG: nothing is published and the error is reported.
	PNG([]byte("GIF89a...."))
	if n := len(f.messages()); n != 1 {
		t.Errorf("an invalid PNG was published (%d messages)", n)
	}
	if !strings.Contains(errs.String(), "PNG signature") {
		t.Errorf("error output %q does not explain the bad signature", errs.String())
	}
}

func TestJPEG(t *testing.T) {
	f, _ := install(t)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testImage(40, 30), nil); err != nil {
		t.Fatal(err)
	}
	JPEG(buf.Bytes())
	m := only(t, f)
	raw, err := base64.StdEncoding.DecodeString(m.Data[MIMEJPEG].(string))
	if err != nil || !bytes.Equal(raw, buf.Bytes()) {
		t.Fatalf("image/jpeg does not decode to the given bytes (err %v)", err)
	}
	if raw[0] != 0xff || raw[1] != 0xd8 {
		t.Fatal("no JPEG SOI marker")
	}
	if _, _, err := JPEGBundle([]byte("\x89PNG\r\n\x1a\n")); err == nil {
		t.Error("JPEGBundle accepted PNG bytes")
	}
}

func TestImageEnlargesSmallImages(t *testing.T) {
	f, _ := install(t)
	src := testImage(28, 20)
	Image(src)
	m := only(t, f)
	raw, _ := base64.StdEncoding.DecodeString(m.Data[MIMEPNG].(string))
	got, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("image/png does not decode: %v", err)
	}
	// 128/28 rounded up = 5.
	if b := got.Bounds(); b.Dx() != 140 || b.Dy() != 100 {
		t.Fatalf("enlarged size %v, want 140×100", b)
	}
	for _, p := range []image.Point{{0, 0}, {27, 19}, {13, 7}} {
		want := color.NRGBAModel.Convert(src.At(p.X, p.Y))
		for _, d := range []image.Point{{0, 0}, {4, 4}, {2, 3}} {
			if c := color.NRGBAModel.Convert(got.At(5*p.X+d.X, 5*p.Y+d.Y)); c != want {
				t.Errorf("pixel %v+%v = %v, want %v (nearest neighbour)", p, d, c, want)
			}
		}
	}
	if txt := m.Data[MIMEText].(string); !strings.Contains(txt, "28×20") {
		t.Errorf("text/plain %q does not give the original size", txt)
	}

	// A large image is sent as is.
	b, _, err := ImageBundle(testImage(300, 200))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = base64.StdEncoding.DecodeString(b[MIMEPNG].(string))
	cfg, _ := png.DecodeConfig(bytes.NewReader(raw))
	if cfg.Width != 300 || cfg.Height != 200 {
		t.Errorf("large image re-sized to %d×%d", cfg.Width, cfg.Height)
	}
}

func TestSVG(t *testing.T) {
	f, errs := install(t)
	const good = `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="5" height="5"/></svg>`
	SVG(good)
	m := only(t, f)
	if m.Data[MIMESVG] != good {
		t.Errorf("image/svg+xml = %v, want the document as text", m.Data[MIMESVG])
	}
	for _, bad := range []string{`<svg><rect></svg>`, `<html></html>`, `not xml`} {
		if _, err := SVGBundle(bad); err == nil {
			t.Errorf("SVGBundle(%q) accepted", bad)
		}
	}
	SVG(`<svg><g></svg>`)
	if len(f.messages()) != 1 || errs.Len() == 0 {
		t.Error("malformed SVG was published or not reported")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	f, _ := install(t)
	type result struct {
		Model    string    `json:"model"`
		Accuracy float64   `json:"accuracy"`
		Seeds    []int     `json:"seeds"`
		Curve    []float32 `json:"curve"`
	}
	in := result{Model: "resnext", Accuracy: 0.9825, Seeds: []int{1, 2, 3}, Curve: []float32{0.5, 0.25}}
	JSON(in)
	m := only(t, f)
	// Through the wire: encode the whole message and decode it back.
	wire, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back Message
	if err := json.Unmarshal(wire, &back); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(back.Data[MIMEJSON])
	if err != nil {
		t.Fatal(err)
	}
	var out result
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip gave %+v, want %+v", out, in)
	}
	obj := m.Data[MIMEJSON].(map[string]any)
	if obj["accuracy"] != 0.9825 || obj["model"] != "resnext" {
		t.Errorf("application/json = %v", obj)
	}
	if _, err := JSONBundle(func() {}); err == nil {
		t.Error("JSONBundle accepted a func")
	}
}

func TestMessageWireFormat(t *testing.T) {
	m := Message{Type: TypeUpdateDisplayData, Data: Bundle{MIMEText: "x"}, DisplayID: "id1"}
	wire, _ := json.Marshal(m)
	var generic map[string]any
	if err := json.Unmarshal(wire, &generic); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": "update_display_data", "data": map[string]any{"text/plain": "x"}, "display_id": "id1"}
	if !reflect.DeepEqual(generic, want) {
		t.Errorf("wire form %s, want %v", wire, want)
	}
	clear, _ := json.Marshal(Message{Type: TypeClearOutput, Wait: true})
	if string(clear) != `{"type":"clear_output","wait":true}` {
		t.Errorf("clear_output wire form %s", clear)
	}
}

func TestPublishValidates(t *testing.T) {
	install(t)
	bad := []Message{
		{Type: "stream", Data: Bundle{MIMEText: "x"}},
		{Type: TypeDisplayData},
		{Type: TypeUpdateDisplayData, Data: Bundle{MIMEText: "x"}},
	}
	for _, m := range bad {
		if err := Publish(m); err == nil {
			t.Errorf("Publish(%+v) accepted", m)
		}
	}
}

func TestPublishWrapsPublisherError(t *testing.T) {
	f, errs := install(t)
	f.fail = errors.New("socket closed")
	if err := Display(TextBundle("x"), nil); err == nil || !strings.Contains(err.Error(), "socket closed") {
		t.Errorf("Display error = %v, want it to wrap the publisher's", err)
	}
	HTML("<i>x</i>")
	if !strings.Contains(errs.String(), "socket closed") {
		t.Errorf("HTML did not report the failure: %q", errs.String())
	}
}

func TestHandleUpdatesInPlace(t *testing.T) {
	f, _ := install(t)
	h := New()
	other := New()
	if h.ID() == other.ID() || !strings.HasPrefix(h.ID(), "gostudy-") {
		t.Fatalf("ids %q and %q are not fresh", h.ID(), other.ID())
	}
	h.Text("step 1")
	h.HTML("<b>step 2</b>")
	h.Update(42)
	msgs := f.messages()
	if len(msgs) != 3 {
		t.Fatalf("got %d messages, want 3", len(msgs))
	}
	wantTypes := []string{TypeDisplayData, TypeUpdateDisplayData, TypeUpdateDisplayData}
	for i, m := range msgs {
		if m.Type != wantTypes[i] || m.DisplayID != h.ID() {
			t.Errorf("message %d: type %q id %q, want %q id %q", i, m.Type, m.DisplayID, wantTypes[i], h.ID())
		}
	}
	if msgs[2].Data[MIMEText] != "42" {
		t.Errorf("Update(42) showed %v", msgs[2].Data)
	}
	// A handle for an existing id starts with display_data too: the front end then shows it
	// where the cell is and updates the older output.
	again := NewWithID(h.ID())
	again.Text("re-shown")
	if m := f.messages()[3]; m.Type != TypeDisplayData || m.DisplayID != h.ID() {
		t.Errorf("NewWithID first message %+v", m)
	}
}

func TestClearCarriesWait(t *testing.T) {
	f, _ := install(t)
	Clear(true)
	Clear(false)
	msgs := f.messages()
	if len(msgs) != 2 || msgs[0].Type != TypeClearOutput || !msgs[0].Wait || msgs[1].Wait {
		t.Errorf("messages %+v, want clear_output wait=true then wait=false", msgs)
	}
}

func TestInputAndPassword(t *testing.T) {
	f, _ := install(t)
	f.answers = []string{"Ada", "s3cret"}
	name, err := Input("name? ")
	if err != nil || name != "Ada" {
		t.Fatalf("Input = %q, %v", name, err)
	}
	pw, err := Password("password: ")
	if err != nil || pw != "s3cret" {
		t.Fatalf("Password = %q, %v", pw, err)
	}
	if !reflect.DeepEqual(f.prompts, []string{"name? ", "password: "}) || !reflect.DeepEqual(f.secret, []bool{false, true}) {
		t.Errorf("prompts %q secret %v", f.prompts, f.secret)
	}
	if _, err := Input("more? "); !errors.Is(err, io.EOF) {
		t.Errorf("Input after the script ended: %v, want wrapped EOF", err)
	}
}
