# run from the repository root (kmod 30, Debian 12)
depmod -b test/fixtures/kmod/ko -n 6.1.0-56-cloud-amd64 2>/dev/null | sed '/^#/,$d' > test/golden/kmod/ko.modules.dep
