#!/bin/sh
# debian/control's Build-Depends against what the build really uses (ctest packaging_build_depends):
#  1. every optional find_package() of the build (one without REQUIRED, so the build changes
#     with what the builder has installed) is pinned by debian/rules with
#     CMAKE_REQUIRE_FIND_PACKAGE_<name> or CMAKE_DISABLE_FIND_PACKAGE_<name>;
#  2. every shared library the built binaries need (ELF NEEDED) comes from a Debian source
#     package that one of the Build-Depends also comes from (or from the toolchain), so no
#     dependency reaches Depends (through ${shlibs:Depends}) without being a Build-Depends.
# Usage: check-build-depends.sh SOURCE_DIR [BINARY...]. Exits 77 (skipped) without dpkg-query
# or readelf; with no binaries only the first check runs.
set -eu
src=$(cd "$1" && pwd)
shift
status=0

echo "== optional find_package() calls pinned by debian/rules"
optional=$(cd "$src" && grep -rhoE --include=CMakeLists.txt --include='*.cmake' \
  'find_package\([A-Za-z0-9_+-]+[^)]*\)' cmake daemon client ipc kernels packaging CMakeLists.txt |
  grep -v REQUIRED | sed -E 's/find_package\(([A-Za-z0-9_+-]+).*/\1/' | sort -u)
for package in $optional; do
  if grep -qF -e "CMAKE_REQUIRE_FIND_PACKAGE_$package=" -e "CMAKE_DISABLE_FIND_PACKAGE_$package=" \
    "$src/debian/rules"; then
    echo "ok: $package"
  else
    echo "find_package($package) is optional but debian/rules does not pin it" \
      "(-DCMAKE_REQUIRE_FIND_PACKAGE_$package=ON, with its -dev package in Build-Depends)"
    status=1
  fi
done

[ $# -gt 0 ] || exit $status
for tool in dpkg-query readelf; do
  command -v $tool >/dev/null 2>&1 || { echo "skipped: $tool is not installed"; exit 77; }
done

# The Build-Depends field, continuation lines included; versions, arch and profile
# qualifiers dropped, alternatives all kept.
build_depends=$(awk '/^Build-Depends:/ {on = 1; sub(/^Build-Depends:/, ""); print; next}
                     on && /^[ \t]/ {print; next} {on = 0}' "$src/debian/control" |
  sed -E 's/\([^)]*\)//g; s/\[[^]]*\]//g; s/<[^>]*>//g; s/:any//g' | tr ',' '\n' | tr '|' '\n' |
  tr -d ' \t' | grep -v '^$')
source_of() { dpkg-query -W -f='${source:Package}' "$1" 2>/dev/null || true; }
sources=$(for package in $build_depends; do source_of "$package"; echo; done | sort -u)
# The toolchain (build-essential) provides these; every C++ program needs them.
toolchain="glibc gcc-12 gcc-13 gcc-14"
multiarch=$(gcc -print-multiarch 2>/dev/null || echo "")

echo "== shared libraries of the built binaries come from Build-Depends"
for binary in "$@"; do
  [ -f "$binary" ] || { echo "missing binary: $binary"; status=1; continue; }
  for library in $(readelf -d "$binary" | sed -nE 's/.*\(NEEDED\).*\[(.*)\]/\1/p'); do
    case $library in libmmclient.so.*) continue ;; esac  # ours
    owner=$(dpkg -S "*${multiarch}*/$library" 2>/dev/null | head -n 1 | cut -d: -f1)
    [ -n "$owner" ] || owner=$(dpkg -S "*/$library" 2>/dev/null | head -n 1 | cut -d: -f1)
    if [ -z "$owner" ]; then
      echo "$(basename "$binary"): $library belongs to no Debian package"
      status=1
      continue
    fi
    source=$(source_of "$owner")
    if echo " $toolchain " | grep -q " $source "; then continue; fi
    if echo "$sources" | grep -qx "$source"; then
      echo "ok: $(basename "$binary"): $library ($owner, source $source)"
    else
      echo "$(basename "$binary"): $library comes from $owner (source $source), which no" \
        "Build-Depends of debian/control comes from: add its -dev package"
      status=1
    fi
  done
done
[ $status -eq 0 ] && echo "Build-Depends cover what the build uses"
exit $status
