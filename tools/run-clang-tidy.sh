#!/usr/bin/env bash
# Runs clang-tidy with the committed .clang-tidy over mmd's own sources (daemon/, ipc/,
# client/, kernels/: every C++ file the build compiles there), with the compile commands of a
# configured build. Any finding is an error: the script prints them and exits 1.
#   tools/run-clang-tidy.sh [BUILD_DIR] [FILE...]   BUILD_DIR defaults to build/default;
#                                                   FILEs limit the run to those sources.
# Exits 2 when clang-tidy or the build's compile_commands.json is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${1:-build/default}
[ $# -gt 0 ] && shift
tidy=${CLANG_TIDY:-clang-tidy}

command -v "$tidy" >/dev/null 2>&1 || {
  echo "run-clang-tidy: $tidy is not installed (Debian: apt-get install clang-tidy)" >&2
  exit 2
}
# The default preset's build folder is configured here when it is not yet (CI runs this
# before the test workflow); any other folder must be configured already.
if [ ! -f "$build/compile_commands.json" ] && [ "$build" = build/default ]; then
  cmake --preset default >/dev/null
fi
[ -f "$build/compile_commands.json" ] || {
  echo "run-clang-tidy: no $build/compile_commands.json: configure first (cmake --preset default)" >&2
  exit 2
}
# Sources include headers generated at build time (the D-Bus adaptor): generate them now.
if grep -q '^build mm_dbus_generated:' "$build/build.ninja" 2>/dev/null; then
  cmake --build "$build" --target mm_dbus_generated >/dev/null
fi

if [ $# -gt 0 ]; then
  files=("$@")
else
  # The translation units of our own folders, as the build compiles them (no tests, bench,
  # generated files or CUDA sources).
  mapfile -t files < <(python3 - "$build/compile_commands.json" "$root" <<'EOF'
import json, os, sys
entries = json.load(open(sys.argv[1]))
root = os.path.realpath(sys.argv[2])
ours = tuple(os.path.join(root, d) + os.sep for d in ("daemon", "ipc", "client", "kernels"))
files = {os.path.realpath(os.path.join(e["directory"], e["file"])) for e in entries}
for f in sorted(files):
    if f.startswith(ours) and f.endswith(".cpp"):
        print(os.path.relpath(f, root))
EOF
  )
fi
[ ${#files[@]} -gt 0 ] || { echo "run-clang-tidy: no sources found in $build/compile_commands.json" >&2; exit 2; }

echo "run-clang-tidy: $("$tidy" --version | sed -n 's/.*LLVM version \([0-9.]*\).*/\1/p' | head -n 1)" \
  "on ${#files[@]} files with $build/compile_commands.json, $(nproc) at a time"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# --warnings-as-errors makes a finding fail its file. GCC-only warning flags of the build
# (-Wno-restrict) are unknown to clang: not a finding.
status=0
printf '%s\0' "${files[@]}" |
  xargs -0 -n 4 -P "$(nproc)" "$tidy" -p "$build" --quiet --warnings-as-errors='*' \
    --extra-arg=-Wno-unknown-warning-option >"$log" 2>&1 || status=$?
# clang-tidy's own summary lines ("N warnings generated", "Suppressed N warnings") are noise.
grep -vE '^([0-9]+ warnings?( and [0-9]+ errors?)? generated\.|Suppressed [0-9]+ warnings|Use -header-filter|Error while processing)' "$log" || true
findings=$(grep -cE '^[^ ]+:[0-9]+:[0-9]+: (warning|error):' "$log" || true)
if [ "$status" -ne 0 ] || [ "$findings" -gt 0 ]; then
  echo "run-clang-tidy: $findings findings (exit $status)"
  exit 1
fi
echo "run-clang-tidy: no findings"
