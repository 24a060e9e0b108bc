#!/usr/bin/env bash
# quick.sh — the edit–test loop's check: formatting, vet, go.mod tidiness and the Go tests in
# -short mode (the slow parts of a test are skipped or shrunk where it says so). No notebooks,
# no Jupyter-side tests, no browser: `make test` (scripts/test.sh) is the full check and what CI
# runs. Extra arguments go to `go test` (e.g. `scripts/quick.sh -run Fixture ./pkg/nn/`); with
# none, every package is tested.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
start=$(date +%s)

# The set-up is skipped when it has been done (it is what makes the XLA CPU plugin and the
# kernel binary available to the tests).
if [ ! -x .bin/gostudy ] || [ ! -e plugins/pjrt_c_api_cpu_plugin.so ] || [ ! -x .venv/bin/python ]; then
	scripts/setup.sh
fi
export GOSTUDY_PYTHON="$ROOT/.venv/bin/python"
export GOSTUDY_OUT="${GOSTUDY_OUT:-$(mktemp -d)}"
export PATH="$ROOT/.bin:$PATH"

say "gofmt, go vet, go mod tidy"
scripts/lint.sh

say "Go tests (-short)"
if [ $# -eq 0 ]; then
	set -- ./...
fi
go test -short -count=1 -timeout 20m "$@"

say "Quick checks passed in $(( $(date +%s) - start ))s"
