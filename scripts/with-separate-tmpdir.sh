#!/bin/sh
# Runs a command with TMPDIR on another filesystem than the checkout, as it is on many machines
# (/tmp on a tmpfs): whatever only works while the two share a filesystem (hard links, renames
# across them) fails here first. Root gets a tmpfs of its own, mounted in a private mount
# namespace so it vanishes with the command; otherwise /dev/shm serves when it is another filesystem.
# The path stays short: unix socket paths made below TMPDIR hold at most 107 bytes.
set -eu
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARG]..." >&2; exit 2; }
checkout_device=$(stat -c %d "$(dirname "$0")")
current=${TMPDIR:-/tmp}
if [ "$(stat -c %d "$current")" != "$checkout_device" ]; then
	echo "with-separate-tmpdir: TMPDIR $current is already another filesystem" >&2
	exec "$@"
fi

trap 'exit 130' INT
trap 'exit 143' TERM
# A chroot's root is no mount point, and private propagation cannot be set on it.
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && mountpoint -q /; then
	mountpoint=$(mktemp -d /tmp/vt.XXXXXX)
	trap 'rmdir "$mountpoint"' EXIT
	echo "with-separate-tmpdir: TMPDIR on a private tmpfs at $mountpoint" >&2
	unshare --mount --propagation private sh -c \
		'mount -t tmpfs -o mode=1777 virtinitrd-tmp "$1" && shift && TMPDIR=$0 exec "$@"' \
		"$mountpoint" "$mountpoint" "$@"
elif [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(stat -c %d /dev/shm)" != "$checkout_device" ]; then
	dir=$(mktemp -d /dev/shm/vt.XXXXXX)
	trap 'rm -rf "$dir"' EXIT
	echo "with-separate-tmpdir: TMPDIR $dir (/dev/shm)" >&2
	TMPDIR=$dir "$@"
else
	echo "with-separate-tmpdir: no other filesystem for TMPDIR here (not root, no /dev/shm); using $current" >&2
	"$@"
fi
