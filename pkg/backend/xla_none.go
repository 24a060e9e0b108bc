//go:build !(((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64)) && !noxla)

package backend

import (
	"errors"

	"github.com/gomlx/compute"
)

// xlaCompiledIn reports whether the XLA backend is part of this build.
const xlaCompiledIn = false

var errNoXLA = errors.New("the XLA backend is not compiled into this build (unsupported platform or the noxla tag)")

func disableAutoInstall() {}

func newXLAFromFile(string, string) (compute.Backend, error) { return nil, errNoXLA }

func pluginVersion(compute.Backend) (path, version string) { return "", "" }
