#!/usr/bin/env bash
# lab.sh — set up (scripts/setup.sh) and start JupyterLab on notebooks/ with the gostudy kernel.
# Extra arguments go to `jupyter lab` (e.g. --no-browser --port 8899).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
exec .venv/bin/jupyter lab --notebook-dir=notebooks "$@"
