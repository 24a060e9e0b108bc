package widgets

import (
	"fmt"
	"maps"
	"sync"

	"github.com/gostudy/gostudy/pkg/display"
)

// Module names and versions of the front-end models (what jupyterlab_widgets 3 provides).
const (
	controlsModule  = "@jupyter-widgets/controls"
	controlsVersion = "2.0.0"
	baseModule      = "@jupyter-widgets/base"
	baseVersion     = "2.0.0"
	outputModule    = "@jupyter-widgets/output"
	outputVersion   = "1.0.0"
)

// model is one widget model: a comm id and the state synced with the front end.
type model struct {
	id string

	mu     sync.Mutex
	state  map[string]any
	closed bool

	// onState is called (without mu held) after the front end changed keys of the state;
	// onCustom after a custom message (a button's click).
	onState  func(changed map[string]any)
	onCustom func(content map[string]any)
}

// newModel creates a model with the given state and opens its comm.
func newModel(state map[string]any) *model {
	m := &model{id: newID(), state: state}
	mu.Lock()
	models[m.id] = m
	mu.Unlock()
	send(Message{Type: "comm_open", CommID: m.id, Target: WidgetTarget,
		Data:     map[string]any{"state": m.snapshot(), "buffer_paths": []any{}},
		Metadata: map[string]any{"version": ProtocolVersion}})
	return m
}

// ref is how another model's state refers to this one.
func (m *model) ref() string { return "IPY_MODEL_" + m.id }

func (m *model) snapshot() map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.state)
}

func (m *model) get(key string) any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state[key]
}

// set changes keys of the state and sends them to the front end.
func (m *model) set(kv map[string]any) {
	m.mu.Lock()
	maps.Copy(m.state, kv)
	closed := m.closed
	m.mu.Unlock()
	if !closed {
		send(Message{Type: "comm_msg", CommID: m.id, Data: map[string]any{
			"method": "update", "state": kv, "buffer_paths": []any{},
		}})
	}
}

func (m *model) sendState() {
	send(Message{Type: "comm_msg", CommID: m.id, Data: map[string]any{
		"method": "update", "state": m.snapshot(), "buffer_paths": []any{},
	}})
}

// fromFrontEnd applies an update the front end sent (its keys only) and calls onState.
func (m *model) fromFrontEnd(state map[string]any) {
	if len(state) == 0 {
		return
	}
	m.mu.Lock()
	maps.Copy(m.state, state)
	f := m.onState
	m.mu.Unlock()
	if f != nil {
		f(state)
	}
}

func (m *model) custom(content map[string]any) {
	m.mu.Lock()
	f := m.onCustom
	m.mu.Unlock()
	if f != nil {
		f(content)
	}
}

func (m *model) markClosed() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
}

// close closes the model's comm.
func (m *model) close() {
	mu.Lock()
	delete(models, m.id)
	mu.Unlock()
	m.mu.Lock()
	already := m.closed
	m.closed = true
	m.mu.Unlock()
	if !already {
		send(Message{Type: "comm_close", CommID: m.id, Data: map[string]any{}})
	}
}

// Widget is anything this package draws: it has a model on the front end, shows itself as
// a cell's result or through display, and can go into a box.
type Widget interface {
	display.Bundler
	// ModelID is the widget's comm id.
	ModelID() string
	// Close removes the widget from the front end; its views disappear.
	Close()
}

// base is what every widget shares: its model, its layout and style models and its text
// form.
type base struct {
	m      *model
	layout *model
	parts  []*model // layout and style models, closed with the widget
	kind   string
}

// ModelID implements Widget.
func (b *base) ModelID() string { return b.m.id }

// MIMEBundle implements display.Bundler: the widget's view, with a text form for front ends
// without a widget manager.
func (b *base) MIMEBundle() (display.Bundle, map[string]any) {
	return display.Bundle{
		ViewMIME:         map[string]any{"model_id": b.m.id, "version_major": 2, "version_minor": 0},
		display.MIMEText: b.text(),
	}, nil
}

func (b *base) text() string {
	if v := b.m.get("value"); v != nil {
		return fmt.Sprintf("%s(value=%v)", b.kind, v)
	}
	return b.kind + "()"
}

// Close implements Widget.
func (b *base) Close() {
	b.m.close()
	for _, p := range b.parts {
		p.close()
	}
}

// SetWidth sets the CSS width of the widget ("300px", "50%").
func (b *base) SetWidth(w string) { b.layout.set(map[string]any{"width": w}) }

// newBase creates the layout model, the style model (when styleName is not empty, with
// style's keys) and then the widget's model, whose state gets the common keys.
func newBase(kind, module, version, modelName, viewName string, state map[string]any, styleName string, style map[string]any) base {
	layout := newModel(layoutState())
	parts := []*model{layout}
	if styleName != "" {
		st := styleModel(styleName, style)
		parts = append(parts, st)
		state["style"] = st.ref()
	}
	common := map[string]any{
		"_model_module": module, "_model_module_version": version, "_model_name": modelName,
		"_view_module": module, "_view_module_version": version, "_view_name": viewName,
		"_dom_classes": []any{}, "layout": layout.ref(), "tabbable": nil, "tooltip": nil,
	}
	maps.Copy(common, state)
	return base{m: newModel(common), layout: layout, parts: parts, kind: kind}
}

// layoutState is a LayoutModel with every CSS property unset.
func layoutState() map[string]any {
	s := map[string]any{
		"_model_module": baseModule, "_model_module_version": baseVersion, "_model_name": "LayoutModel",
		"_view_module": baseModule, "_view_module_version": baseVersion, "_view_name": "LayoutView",
	}
	for _, k := range []string{"align_content", "align_items", "align_self", "border_bottom", "border_left",
		"border_right", "border_top", "bottom", "display", "flex", "flex_flow", "grid_area",
		"grid_auto_columns", "grid_auto_flow", "grid_auto_rows", "grid_column", "grid_gap", "grid_row",
		"grid_template_areas", "grid_template_columns", "grid_template_rows", "height", "justify_content",
		"justify_items", "left", "margin", "max_height", "max_width", "min_height", "min_width",
		"object_fit", "object_position", "order", "overflow", "padding", "right", "top", "visibility", "width"} {
		s[k] = nil
	}
	return s
}

// styleModel creates a style model (SliderStyleModel, DescriptionStyleModel, ...) with
// extra keys.
func styleModel(name string, extra map[string]any) *model {
	s := map[string]any{
		"_model_module": controlsModule, "_model_module_version": controlsVersion, "_model_name": name,
		"_view_module": baseModule, "_view_module_version": baseVersion, "_view_name": "StyleView",
	}
	maps.Copy(s, extra)
	return newModel(s)
}
