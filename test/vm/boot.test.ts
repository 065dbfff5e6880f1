/**
 * chrootvm --boot: the tree's own init as PID 1. busybox init (the demo rootfs, with inittabs the
 * tests write) with and without a command, its power-off, reboot and panic, a boot that never
 * runs the command; and a Debian bookworm tree booted by its own systemd (make
 * debian-systemd-rootfs) that runs `systemctl is-system-running` once it is up.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { builtInit } from '../../scripts/lib/artifacts.ts';
import {
  assertNothingLeft,
  chrootvm,
  chrootvmOnTerminal,
  leftovers,
  linkedDemoCopy,
  requireDemoRootfs,
  ROOT,
  skipWithoutQemu,
  startChrootvm,
  VM_TEST_TIMEOUT_MS,
} from './harness.ts';

const vm = { skip: skipWithoutQemu, timeout: VM_TEST_TIMEOUT_MS };
/** The tree `make debian-systemd-rootfs` builds: minbase with systemd, systemd-sysv, dbus and udev. */
const SYSTEMD_ROOTFS = join(ROOT, '.cache/debian/bookworm-systemd');
/** systemd reaching multi-user.target under TCG takes minutes on a loaded host. */
const SYSTEMD_TIMEOUT_S = 540;

/** A system whose own inittab leaves a mark before anything else runs, and gives the console a shell. */
const INITTAB = [
  "::sysinit:/bin/sh -c 'echo sysinit-ran > /run/sysinit-marker'",
  '::respawn:-/bin/sh',
  '::shutdown:/bin/umount -a -r',
  '',
].join('\n');

describe('chrootvm --boot with busybox init', () => {
  let system = '';
  before(async () => {
    system = await linkedDemoCopy('boot-inittab', (root) => writeFile(join(root, 'etc/inittab'), INITTAB));
  });

  test("with a command: it runs once the system's init has run its sysinit, with our streams and status", vm, async () => {
    const script = 'echo "PID 1 is $(readlink /proc/1/exe)"; cat /run/sysinit-marker; cat; echo to-stderr >&2; exit 3';
    const running = startChrootvm(['--boot', system, 'sh', '-c', script], { stdin: 'pipe' });
    running.child.stdin!.end('from stdin\n');
    const result = await running.result;
    assert.equal(result.status, 3, result.stderr);
    assert.equal(result.stdout, 'PID 1 is /bin/busybox\nsysinit-ran\nfrom stdin\n');
    assert.equal(result.stderr, 'to-stderr\n');
    // The command's inittab entry went into the overlay, never into the tree.
    assert.equal(await readFile(join(system, 'etc/inittab'), 'utf8'), INITTAB);
  });

  test("without an inittab: busybox init's own default, plus the command; the initramfs is freed", vm, async () => {
    const result = await chrootvm(['--boot', requireDemoRootfs(), 'sh', '-c', 'echo "PID 1 is $(readlink /proc/1/exe)"; grep ^Cached: /proc/meminfo']);
    assert.equal(result.status, 0, result.stderr);
    const [pid1, cached] = result.stdout.split('\n');
    assert.equal(pid1, 'PID 1 is /bin/busybox');
    // Our init deleted the initramfs and exec'd the system's init: the runtime's pages went with it.
    const cachedKib = Number(/^Cached:\s+(\d+) kB$/.exec(cached ?? '')?.[1]);
    const initBytes = statSync(builtInit).size;
    assert.ok(cachedKib * 1024 < initBytes / 2, `the page cache holds ${cachedKib} kB; the init alone is ${initBytes} bytes`);
  });

  test('without a command: the console on the terminal; poweroff ends chrootvm with 0', vm, async () => {
    const { status, output } = await chrootvmOnTerminal(['--boot', system], 'cat /run/sysinit-marker; echo "marker-$((6 * 7))"; poweroff\r');
    assert.equal(status, 0, output);
    assert.match(output, /sysinit-ran/);
    assert.match(output, /marker-42/);
  });

  test('without a command: reboot ends chrootvm with 133, as systemd-nspawn does', vm, async () => {
    const { status, output } = await chrootvmOnTerminal(['--boot', system], 'reboot\r');
    assert.equal(status, 133, output);
    assert.match(output, /chrootvm: the guest rebooted \(exit status 133\)/);
  });

  test("a kernel panic is 125 with the kernel's words, told apart from a reboot", vm, async () => {
    const result = await chrootvm(['--boot', system, 'sh', '-c', 'echo c > /proc/sysrq-trigger']);
    assert.equal(result.status, 125, result.stderr);
    assert.match(result.stderr, /^chrootvm: the guest kernel panicked; the kernel's last messages:\n/);
    assert.match(result.stderr, /Kernel panic - not syncing/);
  });

  test('a system that never gets to the command: --timeout ends it with 124 and the console\'s last lines', vm, async () => {
    const stuck = await linkedDemoCopy('boot-stuck', (root) => writeFile(join(root, 'etc/inittab'), '::sysinit:/bin/sh -c "echo stuck-in-sysinit; exec sleep 1000"\n'));
    const before = leftovers();
    const result = await chrootvm(['--timeout', '20', '--boot', stuck, 'true']);
    assert.equal(result.status, 124, result.stderr);
    assert.match(result.stderr, /^chrootvm: timed out after 20 s; the VM was stopped; the kernel's last messages:\n(.*\n)*stuck-in-sysinit/);
    assertNothingLeft(before);
  });

  test('--boot=PATH that the tree lacks, or a tree with no init: 125 before anything boots', async () => {
    const missing = await chrootvm(['--boot=/sbin/nothing', requireDemoRootfs(), 'true']);
    assert.equal(missing.status, 125);
    assert.equal(missing.stderr, `chrootvm: --boot=/sbin/nothing: ${requireDemoRootfs()} has no /sbin/nothing\n`);
  });
});

describe('chrootvm --boot with systemd', () => {
  test('a Debian tree boots with its own systemd, and the check runs once it is up', { skip: skipWithoutQemu, timeout: (SYSTEMD_TIMEOUT_S + 60) * 1000 }, async () => {
    const script = 'systemctl is-system-running --wait; status=$?; systemctl --failed --no-legend --plain; exit $status';
    const result = await chrootvm(['--timeout', String(SYSTEMD_TIMEOUT_S), '--boot', '--kernel-from', requireDemoRootfs(), SYSTEMD_ROOTFS, 'sh', '-c', script]);
    // `degraded` would name its failed units on the next lines; none are expected here.
    assert.equal(result.stdout, 'running\n', result.stderr);
    assert.equal(result.status, 0, result.stderr);
  });
});
