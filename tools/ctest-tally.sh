#!/bin/sh
# Counts the tests of one or more saved ctest outputs (plain `ctest` or `cmake --workflow`
# logs, several runs per file allowed) and prints "P passed, F failed, S skipped".
#   tools/ctest-tally.sh LOG...
# ctest's summary "N% tests passed, F tests failed out of T" counts a skipped test as passed
# and leaves disabled tests out of T; the skipped ones are those its "did not run" list marks
# "(Skipped)", so passed = T - F - S. A run that found no tests adds nothing.
set -eu
[ $# -gt 0 ] || { echo "usage: ctest-tally.sh LOG..." >&2; exit 2; }
awk '
  /^[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+$/ {
    total += $NF; failed += $(NF - 5); in_list = 0; next
  }
  /^The following tests did not run:$/ { in_list = 1; next }
  in_list && /^[ \t]+[0-9]+ - .* \(Skipped\)$/ { skipped++; next }
  in_list && !/^[ \t]+[0-9]+ - / { in_list = 0 }
  END { printf "%d passed, %d failed, %d skipped\n", total - failed - skipped, failed, skipped }
' "$@"
