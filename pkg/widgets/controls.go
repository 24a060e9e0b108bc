package widgets

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/gostudy/gostudy/pkg/display"
)

// listeners are the functions called when a value changes.
type listeners[T any] struct {
	mu sync.Mutex
	fs []func(T)
}

func (l *listeners[T]) add(f func(T)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fs = append(l.fs, f)
}

func (l *listeners[T]) call(v T) {
	l.mu.Lock()
	fs := slices.Clone(l.fs)
	l.mu.Unlock()
	for _, f := range fs {
		f(v)
	}
}

// toFloat reads a number of the state: what Go code stored, or a JSON number the front end
// sent.
func toFloat(v any) float64 {
	switch v := v.(type) {
	case float64:
		return v
	case float32:
		return float64(v)
	case int:
		return float64(v)
	case int64:
		return float64(v)
	}
	return 0
}

func toInt(v any) int { return int(math.Round(toFloat(v))) }

// sliderState is the state IntSlider and FloatSlider share.
func sliderState(description string, lo, hi, step, value any, format string) map[string]any {
	return map[string]any{
		"behavior": "drag-tap", "continuous_update": true, "description": description,
		"description_allow_html": false, "disabled": false, "max": hi, "min": lo,
		"orientation": "horizontal", "readout": true, "readout_format": format, "step": step, "value": value,
	}
}

var sliderStyle = map[string]any{"description_width": "", "handle_color": nil}

// IntSlider chooses an integer in a range (IntSliderModel).
type IntSlider struct {
	base
	changes listeners[int]
}

// NewIntSlider creates a slider labelled description over [lo, hi]
// in steps of step, at value. lo and hi are swapped if reversed, a step below 1 becomes 1
// and value is clamped into the range.
func NewIntSlider(description string, lo, hi, step, value int) *IntSlider {
	if lo > hi {
		lo, hi = hi, lo
	}
	step = max(step, 1)
	value = clampInt(value, lo, hi)
	s := &IntSlider{}
	s.base = newBase("IntSlider", controlsModule, controlsVersion, "IntSliderModel", "IntSliderView",
		sliderState(description, lo, hi, step, value, "d"), "SliderStyleModel", sliderStyle)
	s.m.onState = func(ch map[string]any) {
		if v, ok := ch["value"]; ok {
			s.changes.call(toInt(v))
		}
	}
	return s
}

func clampInt(v, lo, hi int) int { return min(max(v, lo), hi) }

// Value returns the slider's value.
func (s *IntSlider) Value() int { return toInt(s.m.get("value")) }

// SetValue moves the slider (clamped into its range) and calls the change functions if the
// value changed.
func (s *IntSlider) SetValue(v int) {
	v = clampInt(v, toInt(s.m.get("min")), toInt(s.m.get("max")))
	if v == s.Value() {
		return
	}
	s.m.set(map[string]any{"value": v})
	s.changes.call(v)
}

// OnChange adds f to the functions called with the new value when it changes, from the
// front end or through SetValue. It returns s, to chain.
func (s *IntSlider) OnChange(f func(int)) *IntSlider { s.changes.add(f); return s }

// FloatSlider chooses a number in a range (FloatSliderModel).
type FloatSlider struct {
	base
	changes listeners[float64]
}

// NewFloatSlider creates a slider labelled description over [lo, hi] in steps of step,
// at value; like NewIntSlider it orders lo and hi, and clamps value. A step ≤ 0 becomes
// a hundredth of the range.
func NewFloatSlider(description string, lo, hi, step, value float64) *FloatSlider {
	if lo > hi {
		lo, hi = hi, lo
	}
	if !(step > 0) {
		step = (hi - lo) / 100
	}
	value = math.Min(math.Max(value, lo), hi)
	s := &FloatSlider{}
	s.base = newBase("FloatSlider", controlsModule, controlsVersion, "FloatSliderModel", "FloatSliderView",
		sliderState(description, lo, hi, step, value, ".2f"), "SliderStyleModel", sliderStyle)
	s.m.onState = func(ch map[string]any) {
		if v, ok := ch["value"]; ok {
			s.changes.call(toFloat(v))
		}
	}
	return s
}

// Value returns the slider's value.
func (s *FloatSlider) Value() float64 { return toFloat(s.m.get("value")) }

// SetValue moves the slider (clamped into its range) and calls the change functions if the
// value changed.
func (s *FloatSlider) SetValue(v float64) {
	v = math.Min(math.Max(v, toFloat(s.m.get("min"))), toFloat(s.m.get("max")))
	if v == s.Value() {
		return
	}
	s.m.set(map[string]any{"value": v})
	s.changes.call(v)
}

// OnChange adds f to the functions called with the new value when it changes. It returns
// s, to chain.
func (s *FloatSlider) OnChange(f func(float64)) *FloatSlider { s.changes.add(f); return s }

// SetFormat sets how the readout shows the value (a d3-format string such as ".3f").
func (s *FloatSlider) SetFormat(format string) { s.m.set(map[string]any{"readout_format": format}) }

// Dropdown chooses one of several labels (DropdownModel).
type Dropdown struct {
	base
	options []string
	changes listeners[string]
}

// NewDropdown creates a dropdown labelled description with the given options, showing
// value (the first option if value is not one of them; nothing if there are none).
func NewDropdown(description string, options []string, value string) *Dropdown {
	opts := slices.Clone(options)
	var index any
	if i := slices.Index(opts, value); i >= 0 {
		index = i
	} else if len(opts) > 0 {
		index = 0
	}
	labels := make([]any, len(opts))
	for i, o := range opts {
		labels[i] = o
	}
	d := &Dropdown{options: opts}
	d.base = newBase("Dropdown", controlsModule, controlsVersion, "DropdownModel", "DropdownView",
		map[string]any{"_options_labels": labels, "description": description, "description_allow_html": false,
			"disabled": false, "index": index}, "DescriptionStyleModel", map[string]any{"description_width": ""})
	d.m.onState = func(ch map[string]any) {
		if _, ok := ch["index"]; ok {
			d.changes.call(d.Value())
		}
	}
	return d
}

// Index returns the chosen option's index, or -1 when none is chosen.
func (d *Dropdown) Index() int {
	v := d.m.get("index")
	if v == nil {
		return -1
	}
	i := toInt(v)
	if i < 0 || i >= len(d.options) {
		return -1
	}
	return i
}

// Value returns the chosen option, or "" when none is.
func (d *Dropdown) Value() string {
	if i := d.Index(); i >= 0 {
		return d.options[i]
	}
	return ""
}

// SetValue chooses option v and calls the change functions if the choice changed; it
// reports an error if v is not an option.
func (d *Dropdown) SetValue(v string) error {
	i := slices.Index(d.options, v)
	if i < 0 {
		return fmt.Errorf("widgets: %q is not an option of the dropdown (options: %q)", v, d.options)
	}
	if i == d.Index() {
		return nil
	}
	d.m.set(map[string]any{"index": i})
	d.changes.call(v)
	return nil
}

// OnChange adds f to the functions called with the chosen option when it changes. It
// returns d, to chain.
func (d *Dropdown) OnChange(f func(string)) *Dropdown { d.changes.add(f); return d }

// Checkbox is a boolean switch (CheckboxModel).
type Checkbox struct {
	base
	changes listeners[bool]
}

// NewCheckbox creates a checkbox labelled description, checked when value is true.
func NewCheckbox(description string, value bool) *Checkbox {
	c := &Checkbox{}
	c.base = newBase("Checkbox", controlsModule, controlsVersion, "CheckboxModel", "CheckboxView",
		map[string]any{"description": description, "description_allow_html": false, "disabled": false,
			"indent": true, "value": value}, "CheckboxStyleModel", map[string]any{"background": nil, "description_width": ""})
	c.m.onState = func(ch map[string]any) {
		if v, ok := ch["value"].(bool); ok {
			c.changes.call(v)
		}
	}
	return c
}

// Value reports whether the box is checked.
func (c *Checkbox) Value() bool { v, _ := c.m.get("value").(bool); return v }

// SetValue checks or unchecks the box and calls the change functions if that changed it.
func (c *Checkbox) SetValue(v bool) {
	if v == c.Value() {
		return
	}
	c.m.set(map[string]any{"value": v})
	c.changes.call(v)
}

// OnChange adds f to the functions called with the new state when it changes. It returns
// c, to chain.
func (c *Checkbox) OnChange(f func(bool)) *Checkbox { c.changes.add(f); return c }

// Button is a push button (ButtonModel).
type Button struct {
	base
	clicks listeners[struct{}]
}

// NewButton creates a button showing description.
func NewButton(description string) *Button {
	b := &Button{}
	b.base = newBase("Button", controlsModule, controlsVersion, "ButtonModel", "ButtonView",
		map[string]any{"button_style": "", "description": description, "disabled": false, "icon": ""},
		"ButtonStyleModel", map[string]any{"button_color": nil, "font_family": nil, "font_size": nil,
			"font_style": nil, "font_variant": nil, "font_weight": nil, "text_color": nil, "text_decoration": nil})
	b.m.onCustom = func(content map[string]any) {
		if content["event"] == "click" {
			b.clicks.call(struct{}{})
		}
	}
	return b
}

// OnClick adds f to the functions called when the button is clicked. It returns b, to
// chain.
func (b *Button) OnClick(f func()) *Button { b.clicks.add(func(struct{}) { f() }); return b }

// Click calls the click functions as a click in the front end would.
func (b *Button) Click() { b.clicks.call(struct{}{}) }

// Text is a one-line text box (TextModel).
type Text struct {
	base
	changes listeners[string]
}

// NewText creates a text box labelled description holding value. Its change functions are
// called as the user types.
func NewText(description, value string) *Text {
	t := &Text{}
	t.base = newBase("Text", controlsModule, controlsVersion, "TextModel", "TextView",
		map[string]any{"continuous_update": true, "description": description, "description_allow_html": false,
			"disabled": false, "placeholder": "\u200b", "value": value},
		"TextStyleModel", map[string]any{"background": nil, "description_width": "", "font_size": nil, "text_color": nil})
	t.m.onState = func(ch map[string]any) {
		if v, ok := ch["value"].(string); ok {
			t.changes.call(v)
		}
	}
	return t
}

// Value returns the text.
func (t *Text) Value() string { v, _ := t.m.get("value").(string); return v }

// SetValue replaces the text and calls the change functions if it changed.
func (t *Text) SetValue(v string) {
	if v == t.Value() {
		return
	}
	t.m.set(map[string]any{"value": v})
	t.changes.call(v)
}

// OnChange adds f to the functions called with the new text when it changes. It returns t,
// to chain.
func (t *Text) OnChange(f func(string)) *Text { t.changes.add(f); return t }

// Output is an output area that Go code fills: text and any value display can show
// (OutputModel). Change functions draw into one, since what they print does not reach a
// cell.
type Output struct {
	base
	mu      sync.Mutex
	outputs []any
}

// NewOutput creates an empty output area.
func NewOutput() *Output {
	o := &Output{}
	o.base = newBase("Output", outputModule, outputVersion, "OutputModel", "OutputView",
		map[string]any{"msg_id": "", "outputs": []any{}}, "", nil)
	return o
}

func (o *Output) push(out map[string]any) {
	o.mu.Lock()
	o.outputs = append(o.outputs, out)
	all := slices.Clone(o.outputs)
	o.mu.Unlock()
	o.m.set(map[string]any{"outputs": all})
}

// Clear empties the output area.
func (o *Output) Clear() {
	o.mu.Lock()
	o.outputs = nil
	o.mu.Unlock()
	o.m.set(map[string]any{"outputs": []any{}})
}

// Print appends text, formatted as fmt.Print does.
func (o *Output) Print(a ...any) {
	o.push(map[string]any{"output_type": "stream", "name": "stdout", "text": fmt.Sprint(a...)})
}

// Println appends text, formatted as fmt.Println does.
func (o *Output) Println(a ...any) {
	o.push(map[string]any{"output_type": "stream", "name": "stdout", "text": fmt.Sprintln(a...)})
}

// Printf appends text, formatted as fmt.Printf does.
func (o *Output) Printf(format string, a ...any) {
	o.push(map[string]any{"output_type": "stream", "name": "stdout", "text": fmt.Sprintf(format, a...)})
}

// Display appends v as display would show it (a plot, an image, HTML, a table...).
func (o *Output) Display(v any) {
	b, md := display.BundleOf(v)
	if md == nil {
		md = map[string]any{}
	}
	o.push(map[string]any{"output_type": "display_data", "data": map[string]any(b), "metadata": md})
}

// Len returns the number of outputs the area holds.
func (o *Output) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.outputs)
}

// Box lays widgets out in a row (HBox) or a column (VBox).
type Box struct {
	base
	mu       sync.Mutex
	children []Widget
}

// NewHBox lays children out in a row.
func NewHBox(children ...Widget) *Box { return newBox("HBox", children) }

// NewVBox lays children out in a column.
func NewVBox(children ...Widget) *Box { return newBox("VBox", children) }

func newBox(kind string, children []Widget) *Box {
	b := &Box{children: slices.Clone(children)}
	b.base = newBase(kind, controlsModule, controlsVersion, kind+"Model", kind+"View",
		map[string]any{"box_style": "", "children": refs(children)}, "", nil)
	return b
}

func refs(ws []Widget) []any {
	out := make([]any, 0, len(ws))
	for _, w := range ws {
		if w != nil {
			out = append(out, "IPY_MODEL_"+w.ModelID())
		}
	}
	return out
}

// Children returns the widgets in the box.
func (b *Box) Children() []Widget {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.children)
}

// SetChildren replaces the widgets in the box.
func (b *Box) SetChildren(children ...Widget) {
	b.mu.Lock()
	b.children = slices.Clone(children)
	b.mu.Unlock()
	b.m.set(map[string]any{"children": refs(children)})
}
