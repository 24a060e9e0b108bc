// Package lesson is the lesson kit: what every lesson shares, so that a lesson is only its
// model, its claims and its notebook.
//
// A lesson is a Go package lessons/<name> plus notebooks/NN-<name>.ipynb, built from fixed
// names (docs/contributing.md has the template):
//
//   - Name, the registered experiment's name, and Experiment, an
//     *experiment.Experiment[RunConfig] registered from init, so `gostudy ablate <name>` and
//     `gostudy export` work on every lesson.
//   - RunConfig, one training run's config: experiment.Train and, for MNIST lessons, [MNIST]
//     embedded, plus the lesson's model knobs; its json keys are the ablate flags.
//   - Config, everything the notebook does at one budget (the main RunConfig in Run, seeds,
//     sizes of the measurements), and ForBudget(lesson.Budget) Config.
//
// What the kit gives them:
//
//   - [Budget]: test / quick / full, one code path ([Current] reads GOSTUDY_BUDGET; unset,
//     quick on a CPU and full on a GPU).
//   - Data: [MNIST] (one config, one split rule, one seed) and [Phantoms] for the synthetic
//     ultrasound images; [Digits] for a batch of images to look at.
//   - Runs: [RunsDir] (runs/ under the checkout, shared by notebooks and the command line, so a
//     rerun after a kernel restart reuses finished runs), [Train] and [Load] returning a
//     [Trained] (record, run folder, best checkpoint; Close it), [Compare] (named arms over
//     seeds, through pkg/ablation), [Sweep] (one knob over values), [Versus] (a difference
//     with its standard error and a verdict that does not overclaim).
//   - Notebook helpers: [Live] (progress bar and live loss curves), [Catch] (GoMLX's panics
//     as errors), [Argmax] and [Accuracy] (evaluation by hand), [LoadAverage].
//
// Budgets only change sizes (images, epochs, seeds, draws, sweep points): lessons never take
// an easier path under the test budget, and their claims are asserted with tolerances that fit
// the smaller sizes.
package lesson

import (
	"fmt"
	"os"
	"strings"

	"github.com/gostudy/gostudy/pkg/backend"
)

// Budget is how much compute a lesson may spend.
type Budget string

const (
	// Test is the small budget of the test command (GOSTUDY_BUDGET=test): every cell runs,
	// every claim is checked with loose tolerances, in a few minutes on two CPU cores.
	Test Budget = "test"
	// Quick fits a notebook in about five minutes on a two-core CPU, big enough that every
	// claim's direction shows; a lesson says which claims need Full to be decisive. It is
	// the default on a CPU.
	Quick Budget = "quick"
	// Full is the budget for studying the lesson (enough data, steps and seeds for the claims
	// to be decisive): an hour or so per lesson on two CPU cores, minutes on a GPU. It is the
	// default on a GPU and what the rendered lessons in docs/lessons ran with.
	Full Budget = "full"
)

// Budgets lists the budgets from smallest to largest.
var Budgets = []Budget{Test, Quick, Full}

// EnvVar is the environment variable that selects the budget.
const EnvVar = "GOSTUDY_BUDGET"

// ParseBudget reads a budget's name ("test", "quick" or "full", surrounding space ignored).
func ParseBudget(s string) (Budget, error) {
	switch b := Budget(strings.TrimSpace(s)); b {
	case Test, Quick, Full:
		return b, nil
	default:
		return "", fmt.Errorf("budget %q: want %q, %q or %q", s, Test, Quick, Full)
	}
}

// Current returns the budget GOSTUDY_BUDGET selects or, when it is unset or empty, the
// default for the machine ([DefaultBudget]). An unknown value is an error, so a typo never
// silently runs the wrong size.
func Current() (Budget, error) {
	v := strings.TrimSpace(os.Getenv(EnvVar))
	if v == "" {
		return DefaultBudget(), nil
	}
	b, err := ParseBudget(v)
	if err != nil {
		return "", fmt.Errorf("%s: %w", EnvVar, err)
	}
	return b, nil
}

// MustCurrent is [Current] for notebook cells: it panics on a bad GOSTUDY_BUDGET value.
func MustCurrent() Budget {
	b, err := Current()
	if err != nil {
		panic(err)
	}
	return b
}

// DefaultBudget is Full when the default backend runs on a GPU (xla:cuda) and Quick otherwise,
// opening the default backend if nothing has opened it yet.
func DefaultBudget() Budget {
	name := backend.Active()
	if name == "" {
		if _, err := backend.Default(); err == nil {
			name = backend.Active()
		}
	}
	if name == backend.CUDA {
		return Full
	}
	return Quick
}

// Pick returns the value for budget b: test, quick or full. It keeps ForBudget functions to
// one table of numbers instead of three branches.
func Pick[T any](b Budget, test, quick, full T) T {
	switch b {
	case Test:
		return test
	case Quick:
		return quick
	default:
		return full
	}
}
