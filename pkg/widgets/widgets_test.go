package widgets

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

// recorder is a Transport that keeps what was sent, as JSON round trips (what the kernel
// would see).
type recorder struct {
	mu   sync.Mutex
	msgs []Message
}

func (r *recorder) Send(m Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var back Message
	if err := json.Unmarshal(data, &back); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, back)
	return nil
}

func (r *recorder) take() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.msgs
	r.msgs = nil
	return out
}

func withRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{}
	old := SetTransport(r)
	Reset()
	t.Cleanup(func() { SetTransport(old); Reset() })
	return r
}

// opened returns the states of the comm_open messages by comm id.
func opened(t *testing.T, msgs []Message) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, m := range msgs {
		if m.Type != "comm_open" {
			continue
		}
		if m.Target != WidgetTarget || m.Metadata["version"] != ProtocolVersion {
			t.Errorf("comm_open target %q metadata %v", m.Target, m.Metadata)
		}
		st, _ := m.Data["state"].(map[string]any)
		out[m.CommID] = st
	}
	return out
}

func TestIntSliderOpensModelsWithControlsNames(t *testing.T) {
	r := withRecorder(t)
	s := NewIntSlider("n", 0, 10, 1, 3)
	msgs := r.take()
	states := opened(t, msgs)
	if len(states) != 3 {
		t.Fatalf("%d comm_open messages, want 3 (layout, style, slider)", len(states))
	}
	// The slider is opened last: the models it refers to exist first.
	if msgs[len(msgs)-1].CommID != s.ModelID() {
		t.Errorf("the slider's comm_open is not last")
	}
	st := states[s.ModelID()]
	want := map[string]any{"_model_name": "IntSliderModel", "_view_name": "IntSliderView",
		"_model_module": "@jupyter-widgets/controls", "_model_module_version": "2.0.0",
		"_view_module": "@jupyter-widgets/controls", "_view_module_version": "2.0.0",
		"value": 3.0, "min": 0.0, "max": 10.0, "step": 1.0, "description": "n", "readout_format": "d"}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("state[%q] = %v, want %v", k, st[k], v)
		}
	}
	for key, model := range map[string]string{"layout": "LayoutModel", "style": "SliderStyleModel"} {
		ref, _ := st[key].(string)
		sub := states[strings.TrimPrefix(ref, "IPY_MODEL_")]
		if !strings.HasPrefix(ref, "IPY_MODEL_") || sub == nil || sub["_model_name"] != model {
			t.Errorf("%s = %q does not refer to an opened %s", key, ref, model)
		}
	}
	b, _ := s.MIMEBundle()
	view, _ := b[ViewMIME].(map[string]any)
	if view["model_id"] != s.ModelID() || view["version_major"] != 2 {
		t.Errorf("view bundle %v", b)
	}
}

func TestFrontEndUpdateCallsChangeFunctions(t *testing.T) {
	withRecorder(t)
	s := NewIntSlider("n", 0, 10, 1, 3)
	var got []int
	s.OnChange(func(v int) { got = append(got, v) })
	Receive(Message{Type: "comm_msg", CommID: s.ModelID(), Data: map[string]any{
		"method": "update", "state": map[string]any{"value": 7.0}, "buffer_paths": []any{}}})
	if s.Value() != 7 || len(got) != 1 || got[0] != 7 {
		t.Errorf("after an update to 7: Value %d, change functions got %v", s.Value(), got)
	}
	s.SetValue(99) // clamped to 10
	if s.Value() != 10 || got[len(got)-1] != 10 {
		t.Errorf("SetValue(99): Value %d, got %v", s.Value(), got)
	}
}

func TestFloatSliderDropdownCheckboxTextButton(t *testing.T) {
	r := withRecorder(t)
	f := NewFloatSlider("p", 0, 0.9, 0.05, 0.5)
	d := NewDropdown("kind", []string{"a", "b", "c"}, "b")
	c := NewCheckbox("on", false)
	tx := NewText("name", "x")
	bt := NewButton("go")
	var fv float64
	var dv string
	var cv bool
	var tv string
	clicks := 0
	f.OnChange(func(v float64) { fv = v })
	d.OnChange(func(v string) { dv = v })
	c.OnChange(func(v bool) { cv = v })
	tx.OnChange(func(v string) { tv = v })
	bt.OnClick(func() { clicks++ })
	update := func(id string, st map[string]any) {
		Receive(Message{Type: "comm_msg", CommID: id, Data: map[string]any{"method": "update", "state": st}})
	}
	update(f.ModelID(), map[string]any{"value": 0.25})
	update(d.ModelID(), map[string]any{"index": 2.0})
	update(c.ModelID(), map[string]any{"value": true})
	update(tx.ModelID(), map[string]any{"value": "gopher"})
	Receive(Message{Type: "comm_msg", CommID: bt.ModelID(), Data: map[string]any{"method": "custom", "content": map[string]any{"event": "click"}}})
	if fv != 0.25 || dv != "c" || !cv || tv != "gopher" || clicks != 1 {
		t.Errorf("callbacks saw float %v dropdown %q checkbox %v text %q clicks %d", fv, dv, cv, tv, clicks)
	}
	if err := d.SetValue("zzz"); err == nil {
		t.Error("SetValue of a missing option: no error")
	}
	states := opened(t, r.take())
	if states[d.ModelID()]["index"] != 1.0 {
		t.Errorf("dropdown opened with index %v, want 1", states[d.ModelID()]["index"])
	}
}

func TestOutputAndBoxState(t *testing.T) {
	r := withRecorder(t)
	o := NewOutput()
	s := NewIntSlider("n", 0, 10, 1, 3)
	box := NewVBox(s, o)
	states := opened(t, r.take())
	children, _ := states[box.ModelID()]["children"].([]any)
	if len(children) != 2 || children[0] != "IPY_MODEL_"+s.ModelID() || children[1] != "IPY_MODEL_"+o.ModelID() {
		t.Errorf("VBox children %v", children)
	}
	if states[o.ModelID()]["_model_module"] != "@jupyter-widgets/output" || states[o.ModelID()]["_model_module_version"] != "1.0.0" {
		t.Errorf("output model %v", states[o.ModelID()])
	}
	o.Println("hello")
	o.Display(struct{ A int }{1})
	msgs := r.take()
	last := msgs[len(msgs)-1]
	outs, _ := last.Data["state"].(map[string]any)["outputs"].([]any)
	if last.CommID != o.ModelID() || len(outs) != 2 {
		t.Fatalf("last update %+v, want the output's 2 outputs", last)
	}
	first := outs[0].(map[string]any)
	second := outs[1].(map[string]any)
	if first["output_type"] != "stream" || first["text"] != "hello\n" || second["output_type"] != "display_data" {
		t.Errorf("outputs %v", outs)
	}
	o.Clear()
	if o.Len() != 0 {
		t.Errorf("Len after Clear = %d", o.Len())
	}
}

func TestControlCommAndRequests(t *testing.T) {
	r := withRecorder(t)
	s := NewIntSlider("n", 0, 10, 1, 3)
	r.take()
	Receive(Message{Type: "comm_open", CommID: "ctl", Target: ControlTarget, Data: map[string]any{}})
	Receive(Message{Type: "comm_msg", CommID: "ctl", Data: map[string]any{"method": "request_states"}})
	msgs := r.take()
	if len(msgs) != 1 || msgs[0].Data["method"] != "update_states" {
		t.Fatalf("request_states answered %+v", msgs)
	}
	states, _ := msgs[0].Data["states"].(map[string]any)
	if len(states) != 3 || states[s.ModelID()] == nil {
		t.Errorf("update_states has %d states (want 3) or lacks the slider", len(states))
	}
	Receive(Message{Type: "comm_msg", CommID: s.ModelID(), Data: map[string]any{"method": "request_state"}})
	msgs = r.take()
	if len(msgs) != 1 || msgs[0].Data["method"] != "update" || msgs[0].Data["state"].(map[string]any)["_model_name"] != "IntSliderModel" {
		t.Errorf("request_state answered %+v", msgs)
	}
	// A front end opening a widget model of its own is refused with comm_close.
	Receive(Message{Type: "comm_open", CommID: "fe", Target: WidgetTarget, Data: map[string]any{}})
	if msgs = r.take(); len(msgs) != 1 || msgs[0].Type != "comm_close" || msgs[0].CommID != "fe" {
		t.Errorf("front-end comm_open answered %+v", msgs)
	}
	if !Handles(Message{Type: "comm_msg", CommID: s.ModelID()}) || Handles(Message{Type: "comm_msg", CommID: "other"}) {
		t.Error("Handles does not tell the package's comms from others")
	}
	s.Close()
	if msgs = r.take(); len(msgs) != 3 {
		t.Errorf("Close sent %d messages, want 3 comm_close (slider, layout, style)", len(msgs))
	}
}

func TestPanicInChangeFunctionIsContained(t *testing.T) {
	withRecorder(t)
	s := NewIntSlider("n", 0, 10, 1, 3)
	s.OnChange(func(int) { panic("boom") })
	Receive(Message{Type: "comm_msg", CommID: s.ModelID(), Data: map[string]any{"method": "update", "state": map[string]any{"value": 4.0}}})
	if s.Value() != 4 {
		t.Errorf("value %d after a panicking change function, want 4", s.Value())
	}
}
