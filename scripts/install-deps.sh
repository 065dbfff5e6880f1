#!/bin/sh
# Installs the Debian packages virtinitrd needs, only those missing (apt-get update runs only then).
set -eu
# libatomic1: the pinned Node runtime (26) links it, so the CLIs and the init need it.
# docker-registry, skopeo, apache2-utils (bcrypt htpasswd) and openssl: the registry tests' server,
# their image pusher, and their Basic and token auth.
packages="qemu-system-x86 busybox-static cpio zstd lz4 xz-utils kmod binutils libatomic1 uidmap e2fsprogs mmdebstrap docker-registry skopeo apache2-utils openssl"
command -v npm >/dev/null 2>&1 || packages="$packages nodejs npm"
missing=""
for package in $packages; do
	dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
	exit 1
fi
echo "install-deps: installing$missing" >&2
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
