# Produces tree.cpio with GNU cpio 2.13 (Debian 12). Run from this directory: sh tree.cpio.cmd
#
# --reproducible is --ignore-devno (devmajor/devminor written as 0) plus --renumber-inodes (inodes
# numbered 0, 1, 2… in the order names are read; a hard link reuses the number of its inode's first
# name). In newc, GNU cpio holds back every name of a multiply-linked file until it reads the last
# one, then writes the held-back names with size 0 followed by the last name with the data; so
# dir/hl-b comes out after empty. -C 4 makes the I/O block 4 bytes, so the archive ends right after
# the TRAILER!!! record instead of being padded with zeros to 512 bytes.
#
# The first record is "." (inode 0): the encoder's archives have an implicit root and no "." record,
# so the test compares the encoder's output with this file minus that first 112-byte record; every
# other byte, inode numbers included, must be identical.
set -eu
out="$(pwd)/tree.cpio"
tree="$(mktemp -d)"
cd "$tree"
umask 022
mkdir dir
printf hello > dir/five
: > empty
printf abc > three
ln -s dir/five link
printf 'linked\n' > hl-a
ln hl-a dir/hl-b
find . -exec touch -h -d @0 {} +
find . | LC_ALL=C sort | cpio -o -H newc --reproducible -R 0:0 -C 4 > "$out"
cd /
rm -rf "$tree"
