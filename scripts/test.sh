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

say "gofmt, go vet, go mod tidy"
scripts/lint.sh

say "Go tests"
go test -count=1 -timeout 40m ./...
# The ONNX exporter is behind a build tag (it needs GoMLX's onnx backend); its tests check the
# exported files (the digits models, and every lesson's model kinds) against onnxruntime
# from .venv.
go test -count=1 -tags onnx ./pkg/export/ ./cmd/gostudy/
# The kernel's packages under the race detector (about a minute): -short leaves out the
# engine tests that build real plugins (they ran above), not the concurrency of the protocol,
# the runner client or the engine's session state.
go test -race -short -count=1 ./kernel/...

say "Slurm: ablate -slurm on a single-node Slurm cluster started here (scripts/slurm-test.sh)"
# Installs slurm-wlm and munge when missing; skips, saying why, only without root or sudo.
scripts/slurm-test.sh

say "Kernel tests through Jupyter (suite, integration, notebooks)"
# The lessons' notebook tests each train into a fresh folder kept under here, so the browser
# test below can reuse those runs instead of training every lesson a second time.
export GOSTUDY_KEEP_RUNS_IN="$GOSTUDY_OUT/notebook-runs"
.venv/bin/python -m pytest -q -p no:cacheprovider kernel/tests

say "Browser test: every notebook in JupyterLab + gostudy in headless Chromium"
if ! command -v chromium >/dev/null; then
	# Debian's Chromium: a test tool cannot download its own browser here.
	sudo_cmd=""
	[ "$(id -u)" = 0 ] || sudo_cmd="sudo"
	$sudo_cmd apt-get update -q
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q chromium
fi
(cd kernel/tests/browser && npm ci --no-audit --no-fund --silent)
# Every notebook at the test budget, in JupyterLab's light and dark themes: figures, progress
# bars, tables, messages and notebook hygiene (see the file's header).
# Runs are laid out runs/<experiment>/<config>/seed-N, so the per-notebook folders merge into one.
browser_runs="$GOSTUDY_OUT/browser-runs"
mkdir -p "$browser_runs"
for d in "$GOSTUDY_KEEP_RUNS_IN"/*/; do
	[ -d "$d" ] && cp -an "$d". "$browser_runs"/
done
GOSTUDY_BROWSER_RUNS="$browser_runs" node kernel/tests/browser/notebooks.mjs
# A slider moved in Chromium redraws its figure (widgets through jupyterlab_widgets).
node kernel/tests/browser/widgets.mjs

say "All tests passed in $(( $(date +%s) - start ))s"
