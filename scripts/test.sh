#!/usr/bin/env bash
# test.sh — run every test of the project on a fresh machine: set up first (scripts/setup.sh),
# then formatting and vet checks, the Go tests, and the kernel's Jupyter-side tests (the
# jupyter_kernel_test suite, jupyter_client integration tests, notebooks executed by nbclient).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
start=$(date +%s)

scripts/setup.sh

export GOSTUDY_PYTHON="$ROOT/.venv/bin/python"
export GOSTUDY_GOPLS="$ROOT/.bin/gopls"
export GOSTUDY_OUT="${GOSTUDY_OUT:-$(mktemp -d)}"
export PATH="$ROOT/.bin:$PATH"

say "gofmt and go vet"
unformatted=$(git ls-files -z -- '*.go' | xargs -0 gofmt -l)
if [ -n "$unformatted" ]; then
	echo "not gofmt-formatted:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...

say "Go tests"
go test -count=1 -timeout 40m ./...

say "Kernel tests through Jupyter (suite, integration, notebooks)"
.venv/bin/python -m pytest -q -p no:cacheprovider kernel/tests

say "All tests passed in $(( $(date +%s) - start ))s"
