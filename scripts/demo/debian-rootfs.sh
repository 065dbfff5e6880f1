#!/bin/sh
# Builds a Debian bookworm tree with mmdebstrap (minbase, plus passwd for useradd) for the tests that
# need a real distribution: package tools under --overlay. Made once into DIR; remove DIR to rebuild.
#
#   sh scripts/demo/debian-rootfs.sh DIR
set -eu
target=${1:?usage: debian-rootfs.sh DIR}
[ -x "$target/usr/bin/dpkg" ] && exit 0
rm -rf "$target.new"
mkdir -p "$(dirname "$target")"
mmdebstrap --quiet --variant=minbase --include=passwd bookworm "$target.new"
rm -rf "$target"
mv "$target.new" "$target"
