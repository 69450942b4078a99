#!/bin/sh
# Builds the Debian package from the committed tree and runs lintian on it.
#   check-package.sh OUT_DIR                  build (dpkg-buildpackage -b -us -uc), then lintian
#   check-package.sh --lintian-only OUT_DIR   lintian on OUT_DIR/*.changes (ctest packaging_lintian)
# The .deb, .buildinfo and .changes land in OUT_DIR. Exits 77 (skipped) when a tool is
# missing or, with --lintian-only, when no package has been built yet.
set -eu
lintian_only=no
if [ "${1:-}" = "--lintian-only" ]; then lintian_only=yes; shift; fi
out=${1:?usage: check-package.sh [--lintian-only] OUT_DIR}
src=$(cd "$(dirname "$0")/.." && pwd)

# Tags lintian reports that are decisions, not defects (each one says why):
#   initial-upload-closes-no-bugs: the package is built from the tree, never uploaded to Debian.
suppress=initial-upload-closes-no-bugs

run_lintian() {
  command -v lintian >/dev/null 2>&1 || { echo "skipped: lintian is not installed"; exit 77; }
  changes=$(ls "$out"/mmd_*.changes 2>/dev/null | tail -n 1)
  [ -n "$changes" ] || { echo "skipped: no package in $out yet (run packaging/check-package.sh $out)"; exit 77; }
  echo "== lintian $changes"
  lintian --fail-on error,warning --display-info --suppress-tags "$suppress" "$changes"
}

if [ $lintian_only = yes ]; then run_lintian; exit 0; fi

for tool in dpkg-buildpackage dh git; do
  command -v $tool >/dev/null 2>&1 || { echo "skipped: $tool is not installed (debhelper, dpkg-dev, git)"; exit 77; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Only what git tracks goes in: no build directories, no local files.
mkdir "$scratch/mmd"
git -C "$src" ls-files -z | (cd "$src" && xargs -0 tar -cf -) | tar -xf - -C "$scratch/mmd"
echo "== dpkg-buildpackage -b -us -uc"
(cd "$scratch/mmd" && DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -b -us -uc)
rm -f "$out"/*mmd*_*.deb "$out"/mmd_*.changes "$out"/mmd_*.buildinfo
cp "$scratch"/*.deb "$scratch"/mmd_*.changes "$scratch"/mmd_*.buildinfo "$out"/
ls -l "$out"
run_lintian
