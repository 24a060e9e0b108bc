package lesson

import (
	"fmt"

	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/gostudy/gostudy/pkg/backend"
)

// Catch runs fn and returns its results, turning a panic into an error that says what was being
// done: GoMLX reports shape mistakes and missing backend operations by panicking while a graph
// is built, and a lesson's exported functions must return errors instead (the project's rule:
// no panics across package boundaries). Missing operations are explained by backend.Explain
// (which op, which backend to use instead).
//
// It uses GoMLX's exceptions.Try rather than TryCatch[error]: TryCatch re-panics a value that
// is not an error (a panic(string)), which would still cross the boundary.
func Catch[T any](what string, fn func() (T, error)) (T, error) {
	var (
		out T
		err error
	)
	if e := exceptions.Try(func() { out, err = fn() }); e != nil {
		var zero T
		perr, ok := e.(error)
		if !ok {
			perr = fmt.Errorf("%v", e)
		}
		return zero, fmt.Errorf("%s: %w", what, backend.Explain(perr))
	}
	if err != nil {
		return out, fmt.Errorf("%s: %w", what, backend.Explain(err))
	}
	return out, nil
}
