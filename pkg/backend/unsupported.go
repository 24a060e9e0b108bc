package backend

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/gomlx/compute"
)

// UnsupportedOpError says which operation a backend lacks and which backend to use instead.
// [Explain] and [Recover] return it in place of GoMLX's "not implemented" errors.
type UnsupportedOpError struct {
	// Op is the backend operation, as GoMLX names it ("SelectAndScatterMax").
	Op string
	// Backend is the backend that lacks it ("go").
	Backend string
	// UsedBy says which graph function needs the op, when known ("the gradient of MaxPool").
	UsedBy string
	// Instead is the backend to switch to ("xla:cpu").
	Instead string
	// Err is GoMLX's original error.
	Err error
}

// Error names the op, what needs it and how to switch.
func (e *UnsupportedOpError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "the %q backend does not implement the op %s", e.Backend, e.Op)
	if e.UsedBy != "" {
		fmt.Fprintf(&sb, " (used by %s)", e.UsedBy)
	}
	fmt.Fprintf(&sb, "; use the %s backend instead: backend.Use(%q), %%backend %s in a notebook, or %s=%s",
		e.Instead, e.Instead, e.Instead, EnvBackend, e.Instead)
	if e.Instead == CPU && !cpuPluginInstalled() {
		sb.WriteString(" after installing its plugin with scripts/install-plugins.sh")
	}
	return sb.String()
}

// Unwrap returns GoMLX's original error, so errors.Is(err, compute.ErrNotImplemented) holds.
func (e *UnsupportedOpError) Unwrap() error { return e.Err }

// opUsers names the graph functions behind the backend ops lessons are likely to miss on
// the pure-Go backend.
var opUsers = map[string]string{
	"SelectAndScatterMax": "the gradient of max-pooling: graph.MaxPool, nn.MaxPool2d",
	"SelectAndScatterMin": "the gradient of MinPool",
	"SelectAndScatterSum": "the gradient of SumPool/MeanPool with strides",
	"FFT":                 "graph.FFT and its inverse",
}

// notImplementedRe matches the gobackend's wording:
// sorry, op "SelectAndScatterMax" not implemented in the "go" backend yet.
var notImplementedRe = regexp.MustCompile(`op "?([A-Za-z0-9_]+)"? not implemented in the "([^"]+)" backend`)

// Explain returns err with GoMLX's "not implemented" errors replaced by an
// *UnsupportedOpError that names the missing op and the backend to use instead; any other
// error (or nil) is returned unchanged.
func Explain(err error) error {
	if err == nil {
		return nil
	}
	var done *UnsupportedOpError
	if errors.As(err, &done) {
		return err
	}
	text := err.Error()
	m := notImplementedRe.FindStringSubmatch(text)
	if m == nil && !compute.IsNotImplemented(err) {
		return err
	}
	e := &UnsupportedOpError{Op: "unknown", Backend: "current", Err: err}
	if m != nil {
		e.Op, e.Backend = m[1], m[2]
	} else if b := Active(); b != "" {
		e.Backend = b
	}
	e.UsedBy = opUsers[e.Op]
	e.Instead = betterBackend(e.Backend)
	return e
}

// Recover runs fn and returns its error, or the panic it raised turned into an error
// (GoMLX panics while building graphs), both passed through [Explain].
func Recover(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			switch v := r.(type) {
			case error:
				err = Explain(fmt.Errorf("panic: %w", v))
			default:
				err = Explain(fmt.Errorf("panic: %v", v))
			}
		}
	}()
	return Explain(fn())
}

// betterBackend suggests the XLA backend to use instead of the one lacking an op: the
// first usable of xla:cuda and xla:cpu, else xla:cpu (to be installed).
func betterBackend(lacking string) string {
	for _, c := range Available() {
		if c.Usable && c.Name != Go && c.Name != lacking {
			return c.Name
		}
	}
	return CPU
}

func cpuPluginInstalled() bool {
	path, _ := findPlugin(CPUPluginFile)
	return path != ""
}
