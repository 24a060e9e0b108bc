package lesson

import (
	"os"
	"path/filepath"
	"strings"
)

// EnvRuns names the environment variable that overrides where runs are stored.
const EnvRuns = "GOSTUDY_RUNS"

// RunsDir is where lessons keep their runs, so that running a notebook again reuses the
// runs it finished (and resumes a cut one): $GOSTUDY_RUNS when set, else the runs/ folder at
// the root of the gostudy checkout that holds the working directory (git-ignored), else "runs".
// Notebooks run in notebooks/, so a plain "runs" would scatter run folders there.
func RunsDir() string {
	if d := strings.TrimSpace(os.Getenv(EnvRuns)); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return "runs"
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/gostudy/gostudy") {
			return filepath.Join(dir, "runs")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "runs"
		}
		dir = parent
	}
}
