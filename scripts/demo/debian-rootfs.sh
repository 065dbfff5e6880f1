#!/bin/sh
# Builds a Debian bookworm tree with mmdebstrap (minbase plus PACKAGES, comma-separated) for the tests
# that need a real distribution: package tools under --overlay (passwd, for useradd), a system booted
# with its own systemd (--boot). Made once into DIR; remove DIR to rebuild.
#
#   sh scripts/demo/debian-rootfs.sh DIR PACKAGES
set -eu
target=${1:?usage: debian-rootfs.sh DIR PACKAGES}
packages=${2:?usage: debian-rootfs.sh DIR PACKAGES}
[ -x "$target/usr/bin/dpkg" ] && exit 0
rm -rf "$target.new"
mkdir -p "$(dirname "$target")"
mmdebstrap --quiet --variant=minbase --include="$packages" bookworm "$target.new"
rm -rf "$target"
mv "$target.new" "$target"
