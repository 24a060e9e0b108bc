#!/usr/bin/env bash
# render-lessons.sh — execute the lesson notebooks at the full budget through the gostudy kernel
# and render them to docs/lessons/NN-name.html (see scripts/render-lessons.py; its flags pass
# through: --budget, --out, --fresh, notebook paths). Sets everything up first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
scripts/setup.sh >&2
export GOSTUDY_PYTHON="$ROOT/.venv/bin/python" GOSTUDY_GOPLS="$ROOT/.bin/gopls" PATH="$ROOT/.bin:$PATH"
exec .venv/bin/python scripts/render-lessons.py "$@"
