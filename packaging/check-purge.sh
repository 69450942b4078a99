#!/bin/sh
# debian/mmd.postrm purge on a scratch root (ctest packaging_purge): every folder the package
# creates (tmpfiles.d/mmd.conf, the unit's *Directory= settings) is gone when only mmd put
# things there; a model and a configuration the administrator placed are kept, and the
# script names what it kept (those folders and the system user).
# Usage: check-purge.sh SOURCE_DIR.
set -eu
src=$(cd "$1" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0

# What the package creates, from its own files.
created=$(
  awk '$1 == "d" {print $2}' "$src/packaging/tmpfiles.d/mmd.conf"
  sed -nE 's/^StateDirectory=(.*)/\/var\/lib\/\1/p; s/^CacheDirectory=(.*)/\/var\/cache\/\1/p;
           s/^RuntimeDirectory=(.*)/\/run\/\1/p; s/^ConfigurationDirectory=(.*)/\/etc\/\1/p' \
    "$src/packaging/systemd/mmd.service")
[ -n "$created" ] || { echo "found no folder the package creates"; exit 1; }

make_root() {
  rm -rf "$scratch/root"
  mkdir -p "$scratch/root/etc"
  for dir in $created; do mkdir -p "$scratch/root$dir"; done
  # What mmd itself leaves at run time.
  : >"$scratch/root/run/mmd/mmd.sock"
  : >"$scratch/root/var/cache/mmd/leftover"
}
purge() { DPKG_ROOT="$scratch/root" sh "$src/debian/mmd.postrm" purge; }

echo "== purge, nothing of the administrator's"
make_root
out=$(purge)
echo "$out"
for dir in $created; do
  [ ! -e "$scratch/root$dir" ] || { echo "purge left $dir"; status=1; }
done
echo "$out" | grep -q "kept the system user and group mmd" || { echo "purge does not say it keeps the user"; status=1; }
if echo "$out" | grep -q "kept /"; then echo "purge claims to keep a folder"; status=1; fi

echo "== purge with a model and a configuration in place"
make_root
mkdir -p "$scratch/root/var/lib/mmd/models/MiniMax-M2"
: >"$scratch/root/var/lib/mmd/models/MiniMax-M2/config.json"
: >"$scratch/root/etc/mmd/mmd.toml"
out=$(purge)
echo "$out"
[ -f "$scratch/root/var/lib/mmd/models/MiniMax-M2/config.json" ] || { echo "purge removed a model"; status=1; }
[ -f "$scratch/root/etc/mmd/mmd.toml" ] || { echo "purge removed the configuration"; status=1; }
[ ! -e "$scratch/root/var/cache/mmd" ] || { echo "purge left /var/cache/mmd"; status=1; }
echo "$out" | grep -q "kept /var/lib/mmd/models, .*MiniMax-M2" || { echo "purge does not name the kept models"; status=1; }
echo "$out" | grep -q "kept /etc/mmd, .*mmd.toml" || { echo "purge does not name the kept configuration"; status=1; }
[ "$(echo "$out" | grep -c "kept /var/lib/mmd,")" -eq 0 ] || { echo "/var/lib/mmd reported besides its models"; status=1; }

echo "== other maintainer actions touch nothing"
make_root
DPKG_ROOT="$scratch/root" sh "$src/debian/mmd.postrm" remove >/dev/null
[ -e "$scratch/root/var/cache/mmd/leftover" ] || { echo "remove (not purge) deleted the cache"; status=1; }

[ $status -eq 0 ] && echo "purge checks passed"
exit $status
