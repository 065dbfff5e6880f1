# kmod 30 on Debian 12 is built without zlib (depmod --version: -ZLIB) and cannot read .ko.gz,
# so this file is the depmod output for the same modules uncompressed, with the suffix renamed:
sed 's/\.ko\b/.ko.gz/g' test/golden/kmod/ko.modules.dep > test/golden/kmod/ko.gz.modules.dep
