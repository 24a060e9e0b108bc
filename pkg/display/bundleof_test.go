package display

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"image"
	"image/png"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/gomlx/core/tensors"
)

type selfShowing struct{ name string }

func (s selfShowing) MIMEBundle() (Bundle, map[string]any) {
	return Bundle{MIMEHTML: "<i>" + s.name + "</i>", MIMEText: s.name}, map[string]any{"isolated": true}
}

type panicky struct{}

func (panicky) MIMEBundle() (Bundle, map[string]any) { panic("boom") }

type runResult struct {
	Model    string
	Accuracy float64
	Seeds    []int
	hidden   int
}

func TestBundleOfKinds(t *testing.T) {
	if b, md := BundleOf(nil); b != nil || md != nil {
		t.Errorf("BundleOf(nil) = %v, %v; want nothing", b, md)
	}

	b, md := BundleOf(selfShowing{"net"})
	if b[MIMEHTML] != "<i>net</i>" || md["isolated"] != true {
		t.Errorf("Bundler: %v %v", b, md)
	}

	b, _ = BundleOf(HTMLBundle("<b>x</b>"))
	if b[MIMEHTML] != "<b>x</b>" {
		t.Errorf("a Bundle shown as %v", b)
	}

	b, _ = BundleOf(panicky{})
	if txt := b[MIMEText].(string); !strings.Contains(txt, "boom") {
		t.Errorf("panicking Bundler shown as %q", txt)
	}

	b, _ = BundleOf(testImage(200, 100))
	raw, _ := base64.StdEncoding.DecodeString(b[MIMEPNG].(string))
	if cfg, err := png.DecodeConfig(bytes.NewReader(raw)); err != nil || cfg.Width != 200 {
		t.Errorf("image.Image → PNG failed: %v %+v", err, cfg)
	}

	var buf bytes.Buffer
	_ = png.Encode(&buf, testImage(3, 3))
	b, _ = BundleOf(buf.Bytes())
	if _, ok := b[MIMEPNG]; !ok {
		t.Errorf("PNG bytes not shown as an image: %v", b)
	}
	b, _ = BundleOf([]byte{1, 2, 3})
	if b[MIMEText] != "[1 2 3]" {
		t.Errorf("plain bytes shown as %v", b)
	}

	b, _ = BundleOf(fmt.Errorf("load weights: %w", errors.New("no such file")))
	if b[MIMEText] != "load weights: no such file" || len(b) != 1 {
		t.Errorf("error shown as %v", b)
	}

	b, _ = BundleOf("hello\nworld")
	if b[MIMEText] != "hello\nworld" {
		t.Errorf("string shown as %v", b)
	}

	b, _ = BundleOf(3 * time.Second)
	if b[MIMEText] != "3s" {
		t.Errorf("Stringer shown as %v", b)
	}

	b, _ = BundleOf(map[string]int{"b": 2, "a": 1})
	if b[MIMEText] != `map["a":1 "b":2]` {
		t.Errorf("map shown as %v", b)
	}
}

func TestBundleOfTensor(t *testing.T) {
	small := tensors.FromValue([][]float32{{1, 2.5, 3}, {4, 5, 6.125}})
	b, _ := BundleOf(small)
	txt := b[MIMEText].(string)
	if !strings.Contains(txt, "2.5") || !strings.Contains(txt, "float32") {
		t.Errorf("tensor text %q", txt)
	}
	h, ok := b[MIMEHTML].(string)
	if !ok {
		t.Fatal("small 2-D tensor has no HTML table")
	}
	if n := strings.Count(h, "<td"); n != 6 {
		t.Errorf("%d cells, want 6: %s", n, h)
	}
	if strings.Count(h, "<tr>") != 3 { // header + 2 rows
		t.Errorf("want a header row and 2 rows: %s", h)
	}
	for _, v := range []string{">2.5</td>", ">6.125</td>", "(Float32)[2, 3]"} {
		if !strings.Contains(h, v) {
			t.Errorf("HTML lacks %q: %s", v, h)
		}
	}

	big := tensors.FromFlatDataAndDimensions(make([]float32, 40*3), 40, 3)
	b, _ = BundleOf(big)
	if _, ok := b[MIMEHTML]; ok {
		t.Error("a 40-row tensor got an HTML table")
	}
	cube := tensors.FromFlatDataAndDimensions(make([]int32, 8), 2, 2, 2)
	b, _ = BundleOf(cube)
	if _, ok := b[MIMEHTML]; ok {
		t.Error("a 3-D tensor got an HTML table")
	}
	if !strings.Contains(b[MIMEText].(string), "int32") {
		t.Errorf("3-D tensor text %q", b[MIMEText])
	}

	var nilT *tensors.Tensor
	b, _ = BundleOf(nilT)
	if b[MIMEText] != "<nil tensor>" {
		t.Errorf("nil tensor shown as %v", b)
	}
}

func TestBundleOfSliceOfStructsIsATable(t *testing.T) {
	rows := []runResult{
		{Model: "resnet", Accuracy: 0.912345, Seeds: []int{1, 2}},
		{Model: "resnext", Accuracy: 0.93, Seeds: []int{3}},
	}
	b, _ := BundleOf(rows)
	h := b[MIMEHTML].(string)
	cells := tableCells(h)
	want := [][]string{{"", "Model", "Accuracy", "Seeds"}, {"0", "resnet", "0.9123", "[1 2]"}, {"1", "resnext", "0.9300", "[3]"}}
	if !reflect.DeepEqual(cells, want) {
		t.Errorf("table cells %q, want %q", cells, want)
	}
	if strings.Contains(h, "hidden") {
		t.Error("unexported field in the table")
	}
	ptrs := []*runResult{&rows[0], nil}
	b, _ = BundleOf(ptrs)
	if cells := tableCells(b[MIMEHTML].(string)); len(cells) != 3 || cells[1][1] != "resnet" || strings.Join(cells[2][1:], "") != "" {
		t.Errorf("pointer rows table %q, want the nil row empty", cells)
	}
}

var cellRE = regexp.MustCompile(`<t[hd][^>]*>(.*?)</t[hd]>`)

// tableCells returns the text of an HTML table's cells, row by row.
func tableCells(h string) [][]string {
	var out [][]string
	for _, row := range strings.Split(h, "<tr>")[1:] {
		var cells []string
		for _, m := range cellRE.FindAllStringSubmatch(row, -1) {
			cells = append(cells, html.UnescapeString(m[1]))
		}
		out = append(out, cells)
	}
	return out
}

func TestPretty(t *testing.T) {
	short := runResult{Model: "vit", Accuracy: 0.5, Seeds: []int{1}}
	if got, want := Pretty(short), `runResult{Model: "vit", Accuracy: 0.5, Seeds: [1], hidden: 0}`; got != want {
		t.Errorf("Pretty(short) = %q, want %q", got, want)
	}
	if got := Pretty(&short); !strings.HasPrefix(got, "&runResult{") {
		t.Errorf("Pretty(&short) = %q", got)
	}
	long := runResult{Model: strings.Repeat("x", 70), Accuracy: 0.25, Seeds: []int{1, 2, 3}}
	want := "runResult{\n  Model: \"" + strings.Repeat("x", 70) + "\",\n  Accuracy: 0.25,\n  Seeds: [1 2 3],\n  hidden: 0,\n}"
	if got := Pretty(long); got != want {
		t.Errorf("Pretty(long) =\n%s\nwant\n%s", got, want)
	}
	nums := make([]int, 100)
	for i := range nums {
		nums[i] = i
	}
	got := Pretty(nums)
	if !strings.HasPrefix(got, "[0 1 2 ") || !strings.Contains(got, "19 … 96 97 98 99] (len 100)") {
		t.Errorf("Pretty(100 ints) = %q", got)
	}
	nested := map[string][]runResult{"a": {short, short}}
	if got := Pretty(nested); !strings.HasPrefix(got, "map[\n  \"a\": [\n    runResult{") {
		t.Errorf("Pretty(nested) =\n%s", got)
	}
	if got := Pretty([]error{errors.New("x"), nil}); got != "[x <nil>]" {
		t.Errorf("Pretty(errors) = %q", got)
	}
	img := image.NewGray(image.Rect(0, 0, 1, 1))
	_ = img // images are handled by BundleOf, Pretty must still not panic on them
	if Pretty(img) == "" {
		t.Error("Pretty(image) is empty")
	}
}
