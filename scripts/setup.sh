#!/usr/bin/env bash
# setup.sh — prepare everything gostudy needs on a fresh machine; safe to run again.
#
#   Go modules            go mod download (module proxy)
#   .venv/                JupyterLab, nbclient, jupyter_client, ... pinned in scripts/requirements.lock
#   .bin/gostudy          the command-line tool (and .bin/gostudy-kernel, the kernel Jupyter starts)
#   .bin/gopls            gopls v0.23.0, for completion and inspection in notebooks
#   plugins/              XLA PJRT plugins (CPU from a pinned PyPI wheel; CUDA when a GPU is present)
#   kernelspec            "gostudy" in .venv/share/jupyter/kernels (a --user install: .bin/gostudy install --user)
#   Go build cache        GoMLX and the project's packages pre-compiled in plugin mode (gostudy warm)
#   notebook hygiene      git filter that keeps notebook outputs out of git (nbstripout, see
#                         scripts/notebook-filter.sh); notebooks/my/ for your own notebooks
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

for tool in go python3 gcc; do
	command -v "$tool" >/dev/null || { echo "setup: $tool is required but not installed" >&2; exit 1; }
done

say "Go modules"
go mod download

say "Python environment (.venv)"
if [ ! -x .venv/bin/python ]; then
	python3 -m venv .venv
fi
want=$(sha256sum scripts/requirements.lock | cut -d' ' -f1)
have=$(cat .venv/.requirements.sha256 2>/dev/null || true)
if [ "$want" != "$have" ]; then
	.venv/bin/python -m pip install --quiet --disable-pip-version-check -r scripts/requirements.lock
	echo "$want" > .venv/.requirements.sha256
fi

say "Building .bin/gostudy"
mkdir -p .bin
go build -tags onnx -o .bin/gostudy ./cmd/gostudy
# The kernel Jupyter starts: the kernel alone (19 MB instead of 55 MB), which listens sooner
# after it starts (a front end that connects before the kernel listens waits for ZMQ's
# 100 ms reconnect). `gostudy install` points the kernelspec at it.
go build -o .bin/gostudy-kernel ./cmd/gostudy-kernel

if ! .bin/gopls version 2>/dev/null | grep -q 'v0.23.0'; then
	say "Installing gopls v0.23.0 into .bin"
	GOBIN="$ROOT/.bin" go install golang.org/x/tools/gopls@v0.23.0
fi

say "XLA plugins (plugins/)"
scripts/install-plugins.sh --python .venv/bin/python

say "Notebook hygiene (outputs stay out of git; your notebooks go in notebooks/my/)"
mkdir -p notebooks/my
if [ "$(git rev-parse --git-dir 2>/dev/null)" = "$(git rev-parse --git-common-dir 2>/dev/null)" ]; then
	scripts/notebook-filter.sh "$ROOT"
elif git rev-parse --git-dir >/dev/null 2>&1; then
	# A linked worktree shares its repository's config: configure the filter there, once.
	echo "setup: in a linked git worktree; run scripts/notebook-filter.sh in the main one" >&2
fi

say "Kernelspec"
.bin/gostudy install --data-dir "$ROOT/.venv/share/jupyter"

say "Pre-compiling packages for notebooks (first time: a few minutes)"
.bin/gostudy warm
