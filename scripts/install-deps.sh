#!/usr/bin/env bash
# Installs every Debian package vslide needs to build, test and run the demo.
# Idempotent: packages already present are skipped by apt-get.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ninja-build git
  libhdf5-dev hdf5-tools hdf5-filter-plugin-blosc-serial
  libblosc-dev zlib1g-dev libxxhash-dev
  libzmq3-dev cppzmq-dev
  nlohmann-json3-dev
  libtiff-dev libpng-dev libxml2-dev libdeflate-dev
  libsqlite3-dev libpqxx-dev postgresql postgresql-contrib
  libboost-dev
  libepoxy-dev libegl-dev libegl-mesa0 libgl1-mesa-dri libgles-dev
  googletest libgtest-dev libgmock-dev
  python3-h5py python3-zmq python3-numpy python3-tifffile
  procps
  qt6-base-dev qt6-qpa-plugins libglx-mesa0 libgl-dev
  xvfb xdotool imagemagick x11-utils
  libfftw3-dev
  pybind11-dev python3-dev python3-pytest
  libzstd-dev
  clang-14 libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
