//go:build ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64)) && !noxla

package backend

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/go-xla/pjrt"
)

// xlaCompiledIn reports whether the XLA backend is part of this build (it is not on
// platforms go-xla does not support, or with the noxla build tag).
const xlaCompiledIn = true

// disableAutoInstall stops go-xla from downloading plugins. go-xla reads
// GOMLX_NO_AUTO_INSTALL only while the program initialises, so setting the variable at run
// time is not enough; the downloads come from GitHub and hang where it is unreachable.
func disableAutoInstall() { xla.EnableAutoInstall(false) }

// newXLAFromFile creates an XLA backend from the plugin at the absolute path pluginPath,
// with go-xla options (",tf32=false", ...) appended as given.
func newXLAFromFile(pluginPath, options string) (compute.Backend, error) {
	b, err := xla.NewWithOptions(pluginPath+options, nil)
	if err != nil {
		return nil, fmt.Errorf("load PJRT plugin %s: %w", pluginPath, err)
	}
	return b, nil
}

// pluginVersion returns the PJRT C API version the loaded plugin reports ("0.115"),
// or "" when it is not an XLA backend.
func pluginVersion(b compute.Backend) (path, version string) {
	xb, ok := b.(*xla.Backend)
	if !ok || xb.IsFinalized() {
		return "", ""
	}
	// GetPlugin returns the already-loaded plugin from go-xla's cache.
	p, err := pjrt.GetPlugin(xb.PluginName())
	if err != nil {
		return "", ""
	}
	major, minor := p.Version()
	return p.Path(), fmt.Sprintf("%d.%d", major, minor)
}
