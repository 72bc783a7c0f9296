#!/usr/bin/env bash
# Fail if nbdev-export or nbdev-clean change anything: regx_nb/ must match the notebooks, and notebooks must be clean.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
state() { git status --porcelain -- regx_nb nbs; git diff -- regx_nb nbs; }
before=$(state | md5sum)
"$BIN/nbdev-export"
"$BIN/nbdev-clean"
after=$(state | md5sum)
if [ "$before" != "$after" ]; then
  echo "nbdev-export / nbdev-clean changed files: regx_nb/ or nbs/ were out of sync with the notebooks:" >&2
  git status --short -- regx_nb nbs >&2
  exit 1
fi
echo "notebooks and regx_nb/ are in sync"
