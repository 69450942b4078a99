#!/bin/sh
# Offline checks of the systemd integration, run by ctest (packaging_systemd):
#   systemd-analyze verify on mmd.service (its Documentation= pages from man/ included),
#   systemd-analyze security --offline with an exposure ceiling,
#   systemd-sysusers and systemd-tmpfiles applied to a scratch root.
# Usage: check-unit.sh SOURCE_DIR [MMD_BINARY]. Exits 77 (skipped) without systemd's tools.
set -eu
src=$(cd "$1" && pwd)
mmd_binary=${2:-}
for tool in systemd-analyze systemd-sysusers systemd-tmpfiles; do
  command -v "$tool" >/dev/null 2>&1 || { echo "skipped: $tool is not installed (Debian package systemd)"; exit 77; }
done
# Highest acceptable `systemd-analyze security` exposure, in tenths (1.5 today; see mmd(8)).
max_exposure_tenths=20

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/unit" "$scratch/root/etc"
for page in "$src"/man/*.[1-8]; do
  section=${page##*.}
  mkdir -p "$scratch/man/man$section"
  cp "$page" "$scratch/man/man$section/"
done
# ExecStart= names the installed /usr/sbin/mmd; verify wants an executable there, so point
# it at the build's mmd when there is one, else at /bin/true (the rest is checked as is).
if [ -n "$mmd_binary" ] && [ -x "$mmd_binary" ]; then exe=$mmd_binary; else exe=/bin/true; fi
sed "s|^ExecStart=/usr/sbin/mmd |ExecStart=$exe |" "$src/packaging/systemd/mmd.service" > "$scratch/unit/mmd.service"
grep -q "^ExecStart=$exe " "$scratch/unit/mmd.service" || { echo "ExecStart= no longer starts /usr/sbin/mmd"; exit 1; }

status=0
echo "== systemd-analyze verify mmd.service"
out=$(MANPATH="$scratch/man" systemd-analyze verify "$scratch/unit/mmd.service" 2>&1) || status=1
if [ -n "$out" ]; then echo "$out"; status=1; fi

echo "== systemd-analyze security --offline mmd.service"
out=$(systemd-analyze security --offline=true --threshold=$max_exposure_tenths "$scratch/unit/mmd.service" 2>&1) || {
  echo "$out"; echo "exposure above $max_exposure_tenths/10"; status=1; }
echo "$out" | tail -n 1

echo "== systemd-sysusers and systemd-tmpfiles on a scratch root"
systemd-sysusers --root="$scratch/root" "$src/packaging/sysusers.d/mmd.conf" >/dev/null 2>&1 || status=1
grep -q '^mmd:x:[0-9]*:[0-9]*:.*:/var/lib/mmd:' "$scratch/root/etc/passwd" || { echo "sysusers made no user mmd"; status=1; }
grep -q '^render:.*mmd' "$scratch/root/etc/group" || { echo "mmd is not in group render"; status=1; }
systemd-tmpfiles --root="$scratch/root" --create "$src/packaging/tmpfiles.d/mmd.conf" || status=1
uid=$(sed -n 's/^mmd:x:\([0-9]*\):.*/\1/p' "$scratch/root/etc/passwd")
[ "$(stat -c '%u %a' "$scratch/root/var/lib/mmd/models")" = "$uid 750" ] || { echo "/var/lib/mmd/models: wrong owner or mode"; status=1; }

[ $status -eq 0 ] && echo "systemd checks passed"
exit $status
