#!/bin/sh
# tools/run-clang-tidy.sh on two scratch sources under the build tree (so the committed
# .clang-tidy applies): one clean, one with findings the config asks for (a camelCase
# function, a value parameter copied for nothing). The script must pass the first and fail
# the second, naming each finding.
#   run_clang_tidy_test.sh SOURCE_DIR SCRATCH_DIR (SCRATCH_DIR inside SOURCE_DIR's tree)
set -eu
src=$(cd "$1" && pwd)
mkdir -p "$2"
work=$(cd "$2" && pwd)
command -v "${CLANG_TIDY:-clang-tidy}" >/dev/null 2>&1 || { echo "skipped: clang-tidy is not installed"; exit 77; }
case $work in "$src"/*) ;; *) echo "SCRATCH_DIR must be inside $src"; exit 2 ;; esac
rm -rf "$work/tidy" && mkdir -p "$work/tidy"
cat >"$work/tidy/clean.cpp" <<'CPP'
#include <string>
int count_letters(const std::string& text) { return static_cast<int>(text.size()); }
CPP
cat >"$work/tidy/findings.cpp" <<'CPP'
#include <string>
int countLetters(std::string text) { return static_cast<int>(text.size()); }
CPP
cat >"$work/tidy/compile_commands.json" <<JSON
[{"directory": "$work/tidy", "file": "$work/tidy/clean.cpp", "command": "c++ -std=c++20 -c clean.cpp"},
 {"directory": "$work/tidy", "file": "$work/tidy/findings.cpp", "command": "c++ -std=c++20 -c findings.cpp"}]
JSON
status=0
if ! out=$(bash "$src/tools/run-clang-tidy.sh" "$work/tidy" "$work/tidy/clean.cpp" 2>&1); then
  echo "a clean file failed:"; echo "$out"; status=1
fi
echo "$out" | grep -q "no findings" || { echo "no 'no findings' line for the clean file"; status=1; }
if out=$(bash "$src/tools/run-clang-tidy.sh" "$work/tidy" "$work/tidy/findings.cpp" 2>&1); then
  echo "findings passed:"; echo "$out"; status=1
fi
for check in readability-identifier-naming performance-unnecessary-value-param; do
  echo "$out" | grep -q "findings.cpp:2:.*\[$check" || { echo "missing finding $check:"; echo "$out"; status=1; }
done
echo "$out" | grep -q "run-clang-tidy: 2 findings" || { echo "no count of 2 findings:"; echo "$out"; status=1; }
[ $status -eq 0 ] && echo "run-clang-tidy checks passed"
exit $status
