#!/usr/bin/env bash
# Installs the Debian 12 packages mmd builds and tests with. Run it as yourself or as root:
# it needs root only when a package is missing, and then re-runs itself through sudo (saying
# so) unless it already is root.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config clang libclang-rt-14-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libsimdjson-dev nlohmann-json3-dev libpcre2-dev libicu-dev
  libboost-dev libmsgpack-cxx-dev libuv1-dev libsdbus-c++-dev libsdbus-c++-bin libsystemd-dev
  libtomlplusplus-dev libhttp-parser-dev libopenmpi-dev openmpi-bin
  python3-venv python3-pip curl wrk
  dbus man-db groff-base mandoc clang-tidy
  debhelper lintian desktop-file-utils libglib2.0-bin systemd git util-linux dpkg-dev
)

# --hip: also Debian's HIP toolchain, for the hip preset (hipcc 5.2.3 and the HIP runtime, about
# 650 MB installed; Debian 12 packages no rocBLAS, hipBLAS or RCCL).
for arg in "$@"; do
  case $arg in
    --hip) packages+=(hipcc libamdhip64-dev) ;;
    *)
      echo "install-deps: unknown option '$arg' (known: --hip)" >&2
      exit 2
      ;;
  esac
done

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    echo "install-deps: ${#missing[@]} packages missing; installing them needs root: re-running through sudo"
    exec sudo -- "$(readlink -f "$0")" "$@"
  fi
  echo "install-deps: ${#missing[@]} packages missing (${missing[*]}); installing them needs root," \
    "and sudo is not installed: run tools/install-deps.sh as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
