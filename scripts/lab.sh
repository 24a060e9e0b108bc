#!/usr/bin/env bash
# lab.sh — set up (scripts/setup.sh) and start JupyterLab on notebooks/ with the gostudy kernel.
# Extra arguments go to `jupyter lab` (e.g. --no-browser --port 8899).
# GOSTUDY_NOTEBOOK_DIR serves another folder (the browser test serves a copy of notebooks/);
# GOSTUDY_SKIP_SETUP=1 skips the set-up when the caller just ran it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "${GOSTUDY_SKIP_SETUP:-}" != 1 ]; then
	scripts/setup.sh
fi
extra=()
if [ "$(id -u)" = 0 ]; then
	extra+=(--allow-root) # containers and CI machines often run as root
fi
exec .venv/bin/jupyter lab --notebook-dir="${GOSTUDY_NOTEBOOK_DIR:-notebooks}" "${extra[@]}" "$@"
