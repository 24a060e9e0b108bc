package plots

import (
	"bytes"
	"errors"
	"image/color"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gostudy/gostudy/pkg/display"
)

type recorder struct {
	mu   sync.Mutex
	msgs []display.Message
	fail error
}

func (r *recorder) Publish(m display.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.msgs = append(r.msgs, m)
	return nil
}

func (r *recorder) Input(string, bool) (string, error) { return "", io.EOF }

func installRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{}
	prev := display.SetPublisher(r)
	t.Cleanup(func() { display.SetPublisher(prev) })
	return r
}

var pointsRe = regexp.MustCompile(`train \((\d+) points`)

func shownPoints(t *testing.T, m display.Message) int {
	t.Helper()
	match := pointsRe.FindStringSubmatch(m.Data[display.MIMEText].(string))
	if match == nil {
		t.Fatalf("no point count in %q", m.Data[display.MIMEText])
	}
	n, _ := strconv.Atoi(match[1])
	return n
}

func TestLiveCurvesUpdateInPlace(t *testing.T) {
	rec := installRecorder(t)
	clock := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	lc := NewLiveCurvesWith(Curves{Title: "loss", XLabel: "step", YLabel: "loss"},
		LiveOptions{Interval: 250 * time.Millisecond, Now: func() time.Time { return clock }})
	if len(rec.msgs) != 0 {
		t.Fatal("published before any point")
	}
	// 100 points 10 ms apart: 1 s, so the first point and then one redraw per 250 ms.
	for i := range 100 {
		lc.Add("train", float64(i), 1/float64(i+1))
		clock = clock.Add(10 * time.Millisecond)
	}
	lc.Flush()
	msgs := rec.msgs
	if len(msgs) < 4 || len(msgs) > 7 {
		t.Fatalf("%d messages for 1 s at ≤ 4 redraws/s, want 4..7", len(msgs))
	}
	prev := 0
	for i, m := range msgs {
		want := display.TypeUpdateDisplayData
		if i == 0 {
			want = display.TypeDisplayData
		}
		if m.Type != want || m.DisplayID != lc.ID() {
			t.Errorf("message %d: %s id %q, want %s id %q", i, m.Type, m.DisplayID, want, lc.ID())
		}
		n := shownPoints(t, m)
		if n <= prev {
			t.Errorf("message %d shows %d points after %d", i, n, prev)
		}
		prev = n
		if _, err := display.SVGBundle(m.Data[display.MIMESVG].(string)); err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	if shownPoints(t, msgs[0]) != 1 || prev != 100 {
		t.Errorf("first shows %d points, last %d; want 1 and 100", shownPoints(t, msgs[0]), prev)
	}
	// Flushing with nothing new sends nothing.
	lc.Flush()
	if len(rec.msgs) != len(msgs) {
		t.Error("Flush without new points published")
	}
	// Snapshots are copies.
	snap := lc.Curves()
	snap.Series[0].Y[0] = 42
	if lc.Curves().Series[0].Y[0] == 42 {
		t.Error("Curves() shares memory with the live chart")
	}
	if b, _ := lc.MIMEBundle(); !strings.Contains(b[display.MIMEText].(string), "100 points") {
		t.Errorf("MIMEBundle %v", b[display.MIMEText])
	}
}

func TestLiveCurvesReportsFailureOnce(t *testing.T) {
	rec := installRecorder(t)
	rec.fail = errors.New("kernel gone")
	var errs bytes.Buffer
	prev := stderr
	stderr = func() io.Writer { return &errs }
	defer func() { stderr = prev }()
	lc := NewLiveCurvesWith(Curves{}, LiveOptions{Interval: time.Nanosecond})
	for i := range 5 {
		lc.Add("x", float64(i), 1)
	}
	if n := strings.Count(errs.String(), "kernel gone"); n != 1 {
		t.Errorf("failure reported %d times, want once: %q", n, errs.String())
	}
}

func TestToArray(t *testing.T) {
	cases := []struct {
		in   any
		dims []int
		data []float64
	}{
		{[]float32{1, 2}, []int{2}, []float64{1, 2}},
		{[][]int{{1, 2}, {3, 4}}, []int{2, 2}, []float64{1, 2, 3, 4}},
		{[2][3]uint8{{1, 2, 3}, {4, 5, 6}}, []int{2, 3}, []float64{1, 2, 3, 4, 5, 6}},
		{[][]bool{{true, false}}, []int{1, 2}, []float64{1, 0}},
		{tensors.FromValue([][]int32{{7}, {8}}), []int{2, 1}, []float64{7, 8}},
		{tensors.FromValue([]float64{0.5}), []int{1}, []float64{0.5}},
		{3.5, nil, []float64{3.5}},
	}
	for _, c := range cases {
		a, err := toArray(c.in)
		if err != nil {
			t.Errorf("%T: %v", c.in, err)
			continue
		}
		if len(a.dims) != len(c.dims) || len(a.data) != len(c.data) {
			t.Errorf("%T: dims %v data %v, want %v %v", c.in, a.dims, a.data, c.dims, c.data)
			continue
		}
		for i := range c.dims {
			if a.dims[i] != c.dims[i] {
				t.Errorf("%T: dims %v, want %v", c.in, a.dims, c.dims)
			}
		}
		for i := range c.data {
			if a.data[i] != c.data[i] {
				t.Errorf("%T: data %v, want %v", c.in, a.data, c.data)
			}
		}
	}
	for _, bad := range []any{nil, "x", [][]float64{{1}, {2, 3}}, [][]float64{}, (*tensors.Tensor)(nil)} {
		if _, err := toArray(bad); err == nil {
			t.Errorf("toArray(%#v) accepted", bad)
		}
	}
}

func TestNiceTicks(t *testing.T) {
	var labels []string
	for _, tk := range (niceTicks{n: 7}).Ticks(0, 1) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if got := strings.Join(labels, " "); got != "0 0.2 0.4 0.6 0.8 1.0" {
		t.Errorf("ticks over [0, 1]: %q", got)
	}
	labels = nil
	for _, tk := range (niceTicks{n: 4}).Ticks(-0.3, 0.8) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if got := strings.Join(labels, " "); got != "-0.25 0 0.25 0.50 0.75" {
		t.Errorf("ticks over [-0.3, 0.8]: %q", got)
	}
	if got := formatTick(2.5e-6, 1e-6); got != "2.5e-06" {
		t.Errorf("formatTick tiny = %q", got)
	}
}

func TestColourMaps(t *testing.T) {
	cm := colorMapFor(nil, false)
	lo, _ := cm.At(0)
	hi, _ := cm.At(1)
	if c := color.NRGBAModel.Convert(lo).(color.NRGBA); c != (color.NRGBA{0x44, 0x01, 0x54, 0xff}) {
		t.Errorf("sequential map starts at %v, want viridis' #440154", c)
	}
	if c := color.NRGBAModel.Convert(hi).(color.NRGBA); c != (color.NRGBA{0xfd, 0xe7, 0x25, 0xff}) {
		t.Errorf("sequential map ends at %v, want viridis' #fde725", c)
	}
	l := newLUT(GrayMap(), -2, 2)
	if l.at(-2).R != 0 || l.at(2).R != 255 || l.at(0).R != 128 || l.at(9).R != 255 {
		t.Errorf("grey LUT over [-2, 2]: %v %v %v", l.at(-2), l.at(0), l.at(2))
	}
	if l.at(math.NaN()) != nanColor {
		t.Error("NaN not marked")
	}
	// The diverging map is white-ish at its centre and symmetric in lightness.
	d := newLUT(colorMapFor(nil, true), -1, 1)
	if mid := d.at(0); luminance(mid) < 0.75 {
		t.Errorf("diverging centre %v is not light", mid)
	}
	if a, b := luminance(d.at(-1)), luminance(d.at(1)); math.Abs(a-b) > 0.15 {
		t.Errorf("diverging ends have lightness %.2f and %.2f", a, b)
	}
}
