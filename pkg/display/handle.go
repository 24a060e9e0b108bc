package display

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"image"
	"sync"
)

// Handle is one output area that can be replaced in place: its first showing is a
// display_data message carrying the handle's display id, every later one an
// update_display_data with the same id. Live progress bars and training curves are built on
// it. A Handle is safe for concurrent use.
type Handle struct {
	id string

	mu    sync.Mutex
	shown bool
}

// New returns a handle with a fresh, random display id. Nothing is shown until the first
// update.
func New() *Handle {
	return &Handle{id: NewDisplayID()}
}

// NewWithID returns a handle for a given display id, for example one created in an earlier
// cell: updating it replaces that cell's output.
func NewWithID(id string) *Handle {
	return &Handle{id: id}
}

// NewDisplayID returns a random display id. Random, not a counter, because ids must stay
// unique across runner restarts within one notebook.
func NewDisplayID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms; a fixed prefix keeps the id usable.
		return "gostudy-fallback"
	}
	return "gostudy-" + hex.EncodeToString(b[:])
}

// ID returns the handle's display id.
func (h *Handle) ID() string { return h.id }

// Shown reports whether the handle has been shown at least once.
func (h *Handle) Shown() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.shown
}

// Publish shows b in the handle's output area: display_data the first time, then
// update_display_data.
func (h *Handle) Publish(b Bundle, metadata map[string]any) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	typ := TypeUpdateDisplayData
	if !h.shown {
		typ = TypeDisplayData
	}
	if err := Publish(Message{Type: typ, Data: b, Metadata: metadata, DisplayID: h.id}); err != nil {
		return fmt.Errorf("display %s: %w", h.id, err)
	}
	h.shown = true
	return nil
}

// Update shows v (in the form [BundleOf] gives it) in the handle's output area.
func (h *Handle) Update(v any) {
	b, md := BundleOf(v)
	if len(b) == 0 {
		b = TextBundle("")
	}
	report(h.Publish(b, md))
}

// HTML shows an HTML fragment in the handle's output area.
func (h *Handle) HTML(html string) { report(h.Publish(HTMLBundle(html), nil)) }

// Markdown shows Markdown in the handle's output area.
func (h *Handle) Markdown(md string) { report(h.Publish(MarkdownBundle(md), nil)) }

// Text shows plain text in the handle's output area.
func (h *Handle) Text(s string) { report(h.Publish(TextBundle(s), nil)) }

// SVG shows an SVG document in the handle's output area.
func (h *Handle) SVG(svg string) {
	b, err := SVGBundle(svg)
	if err != nil {
		report(fmt.Errorf("display %s: %w", h.id, err))
		return
	}
	report(h.Publish(b, nil))
}

// Image shows an image in the handle's output area.
func (h *Handle) Image(img image.Image) {
	b, md, err := ImageBundle(img)
	if err != nil {
		report(fmt.Errorf("display %s: %w", h.id, err))
		return
	}
	report(h.Publish(b, md))
}
