// Package lesson holds what every lesson shares: the budget it runs with.
//
// A lesson has one code path and two sizes. Users get the full budget (enough data and
// steps for the claims to show clearly); the test command sets GOSTUDY_BUDGET=test, which
// shrinks the numbers (samples, epochs, seeds) so every notebook runs in a few minutes on two
// CPU cores. Lessons never take an easier path under test: only sizes change, and the claims
// are asserted with tolerances that fit the smaller budget.
package lesson

import (
	"fmt"
	"os"
	"strings"
)

// Budget is how much compute a lesson may spend.
type Budget string

const (
	// Test is the small budget the test command uses (GOSTUDY_BUDGET=test).
	Test Budget = "test"
	// Full is the budget for people studying the lesson (the default).
	Full Budget = "full"
)

// EnvVar is the environment variable that selects the budget.
const EnvVar = "GOSTUDY_BUDGET"

// Current returns the budget selected by GOSTUDY_BUDGET ("test" or "full"; unset means full).
// An unknown value is an error, so a typo never silently runs the wrong size.
func Current() (Budget, error) {
	switch v := strings.TrimSpace(os.Getenv(EnvVar)); v {
	case "", string(Full):
		return Full, nil
	case string(Test):
		return Test, nil
	default:
		return "", fmt.Errorf("%s=%q: want %q or %q", EnvVar, v, Test, Full)
	}
}

// MustCurrent is Current for notebook cells: it panics on a bad GOSTUDY_BUDGET value.
func MustCurrent() Budget {
	b, err := Current()
	if err != nil {
		panic(err)
	}
	return b
}
