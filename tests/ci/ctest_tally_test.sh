#!/bin/sh
# tools/ctest-tally.sh against real ctest output: a scratch project with tests that pass,
# fail, skip (exit 77) and one disabled, run by this machine's ctest.
#   ctest_tally_test.sh SOURCE_DIR CMAKE CTEST
set -eu
src=$1 cmake=$2 ctest=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/ctest-tally.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat >"$work/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(tally NONE)
enable_testing()
add_test(NAME passes_1 COMMAND sh -c "exit 0")
add_test(NAME passes_2 COMMAND sh -c "exit 0")
add_test(NAME fails COMMAND sh -c "exit 1")
add_test(NAME skips COMMAND sh -c "echo skipped; exit 77")
set_tests_properties(skips PROPERTIES SKIP_RETURN_CODE 77)
add_test(NAME disabled COMMAND sh -c "exit 0")
set_tests_properties(disabled PROPERTIES DISABLED TRUE)
CMAKE
"$cmake" -S "$work" -B "$work/build" >/dev/null
# ctest exits non-zero here (one test fails); its output is what counts.
"$ctest" --test-dir "$work/build" --output-on-failure >"$work/all.log" 2>&1 || true
"$ctest" --test-dir "$work/build" -R passes >"$work/passing.log" 2>&1
"$ctest" --test-dir "$work/build" -R nothing-matches >"$work/none.log" 2>&1 || true

check() {  # EXPECTED LOG...
  expected=$1
  shift
  got=$(sh "$src/tools/ctest-tally.sh" "$@")
  [ "$got" = "$expected" ] || { echo "tally of $*: '$got', expected '$expected'"; cat "$@"; exit 1; }
  echo "ok: $got"
}
check "2 passed, 1 failed, 1 skipped" "$work/all.log"
check "2 passed, 0 failed, 0 skipped" "$work/passing.log"
check "0 passed, 0 failed, 0 skipped" "$work/none.log"
check "4 passed, 1 failed, 1 skipped" "$work/all.log" "$work/none.log" "$work/passing.log"
