#!/usr/bin/env bash
# notebook-filter.sh — configure, in one git repository, the filter that keeps notebook outputs
# out of git: git adds, diffs and compares notebooks as nbstripout (pinned in
# requirements.lock) prints them, without outputs and execution counts, so running a lesson
# leaves `git status` clean. .gitattributes says which files go through it (notebooks/*.ipynb).
#
#   scripts/notebook-filter.sh [REPO_DIR [NBSTRIPOUT]]
#
# REPO_DIR defaults to this repository. NBSTRIPOUT defaults to .venv/bin/nbstripout relative to
# the work tree git runs filters in, so that every worktree uses its own .venv; a work tree
# without it (a fresh clone before scripts/setup.sh) passes notebooks through unchanged
# rather than failing every git command. Safe to run again.
set -euo pipefail
dir=${1:-"$(dirname "${BASH_SOURCE[0]}")/.."}
tool=${2:-.venv/bin/nbstripout}
# --keep-id: the cell ids are how the tests find cells; nbstripout would renumber them.
run="if [ -x '$tool' ]; then exec '$tool' --keep-id"
git -C "$dir" config filter.nbstripout.clean "$run; else exec cat; fi"
git -C "$dir" config filter.nbstripout.smudge cat
git -C "$dir" config diff.ipynb.textconv "sh -c '$run --textconv \"\$0\"; else exec cat \"\$0\"; fi'"
