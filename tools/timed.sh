#!/usr/bin/env bash
# Time one stage of `make test`: `tools/timed.sh NAME CMD...` runs CMD, prints "[NAME] S s" and appends the line to
# $STAGE_TIMES when set; `tools/timed.sh --summary` prints the stages recorded there and their total.
set -u
if [ "${1:-}" = --summary ]; then
  [ -n "${STAGE_TIMES:-}" ] && [ -f "$STAGE_TIMES" ] || exit 0
  echo "stage times:"
  awk '{printf "  %-10s %7.1f s\n", $1, $2; t += $2} END {printf "  %-10s %7.1f s (%.1f min)\n", "total", t, t / 60}' "$STAGE_TIMES"
  exit 0
fi
stage=$1; shift
start=$(date +%s.%N)
"$@"; rc=$?
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
echo "[$stage] ${secs} s"
if [ -n "${STAGE_TIMES:-}" ]; then echo "$stage $secs" >> "$STAGE_TIMES"; fi
exit $rc
