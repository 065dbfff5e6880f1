import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMemory, parseSize, qemuArgv } from '../../../../scripts/lib/plan.ts';
import type { VmPlanInput } from '../../../../scripts/lib/plan.ts';
import { buildProbeBios, PROBE_EXIT_STATUS } from '../../../../scripts/lib/accel.ts';

const GOLDEN_DIR = new URL('../../../golden/plan/', import.meta.url);
// UPDATE_GOLDEN=1 rewrites the golden files instead of comparing (see test/golden/plan/README.md).
const UPDATE = process.env.UPDATE_GOLDEN === '1';

const BASE: VmPlanInput = {
  qemu: 'qemu-system-x86_64',
  kernel: '/var/cache/virtinitrd/vmlinuz-6.1.0-27-amd64',
  initrd: '/var/cache/virtinitrd/initrd.lz4',
  memoryMiB: 512,
  cpus: 2,
  accel: 'tcg',
  shares: [],
  cmdline: 'console=ttyS0 panic=-1 quiet rootfs=rootfs init=/bin/true',
  statusPath: '/run/chrootvm.1234/status',
  kernelLogPath: '/run/chrootvm.1234/kernel.log',
  interactive: false,
};

const ROOTFS_AND_TWO = [
  { tag: 'rootfs', socket: '/run/chrootvm.1234/rootfs.sock' },
  { tag: 'data', socket: '/run/chrootvm.1234/data.sock' },
  { tag: 'src', socket: '/run/chrootvm.1234/src.sock' },
];

const PLANS: Array<[string, VmPlanInput]> = [
  ['tcg-no-share', BASE],
  ['tcg-rootfs-two-shares', { ...BASE, shares: ROOTFS_AND_TWO, cmdline: `${BASE.cmdline} mount=data mount-ro=src` }],
  ['run-ports', {
    ...BASE,
    shares: ROOTFS_AND_TWO.slice(0, 1),
    ports: ['control', 'stdin', 'stdout', 'stderr'].map((role) => ({ name: `virtinitrd.${role}`, socket: `/run/chrootvm.1234/${role}.sock` })),
  }],
  ['qmp', { ...BASE, qmpSocket: '/run/chrootvm.1234/qmp.sock' }],
  ['kvm-rootfs', { ...BASE, accel: 'kvm', cpus: 1, memoryMiB: 1024, shares: ROOTFS_AND_TWO.slice(0, 1) }],
  ['interactive', { ...BASE, interactive: true, shares: ROOTFS_AND_TWO.slice(0, 1), cmdline: 'console=ttyS0 panic=-1 rootfs=rootfs' }],
  ['overlay-disk', {
    ...BASE, shares: ROOTFS_AND_TWO.slice(0, 1), disks: [{ path: '/home/u/overlay,1/upper.ext4', serial: 'virtinitrd-upper' }],
  }],
  ['user-network', {
    ...BASE, shares: ROOTFS_AND_TWO.slice(0, 1), network: { hostForwards: ['tcp:127.0.0.1:34567-:8080', 'udp:0.0.0.0:5353-:53'] },
  }],
  ['commas-escaped', {
    ...BASE, statusPath: '/tmp/a,b/status', shares: [{ tag: 'x,y', socket: '/tmp/a,b/x.sock' }],
  }],
];

for (const [name, input] of PLANS) {
  test(`qemu argv for plan "${name}" matches test/golden/plan/${name}.json`, async () => {
    const golden = new URL(`${name}.json`, GOLDEN_DIR);
    const argv = qemuArgv(input);
    if (UPDATE) await writeFile(golden, `${JSON.stringify(argv, null, 2)}\n`);
    assert.deepEqual(argv, JSON.parse(await readFile(golden, 'utf8')));
  });
}

test('argv[0] is the qemu binary and one device per share, in order', () => {
  const argv = qemuArgv({ ...BASE, qemu: '/opt/qemu/bin/qemu-system-x86_64', shares: ROOTFS_AND_TWO });
  assert.equal(argv[0], '/opt/qemu/bin/qemu-system-x86_64');
  assert.deepEqual(
    argv.filter((a) => a.startsWith('vhost-user-fs-pci,')).map((a) => a.split('tag=')[1]),
    ['rootfs', 'data', 'src'],
  );
});

// The plan's options, minus the kernel (replaced by the probe firmware, which
// ends qemu at once), must be accepted by the installed qemu: this catches
// option syntax a qemu version does not know (chardev:ID, signal=, memfd).
const noQemu = spawnSync('qemu-system-x86_64', ['--version']).error ? 'qemu-system-x86_64 is not installed' : false;
test('the installed qemu accepts the plan options', { skip: noQemu }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plan-test-'));
  try {
    const bios = join(dir, 'probe.bin');
    await writeFile(bios, buildProbeBios());
    // The comma checks that doubled commas are how this qemu reads them.
    const status = join(dir, 'status,1');
    const argv = qemuArgv({ ...BASE, statusPath: status, kernelLogPath: join(dir, 'kernel.log') });
    const kernelAt = argv.indexOf('-kernel');
    argv.splice(kernelAt, 6, '-bios', bios, '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04');
    const run = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000, encoding: 'utf8' });
    assert.equal(run.status, PROBE_EXIT_STATUS, run.stderr);
    assert.equal(await readFile(status, 'utf8'), '');
  } finally {
    await rm(dir, { recursive: true });
  }
});

const MEMORY: Array<[string, number]> = [
  ['512M', 512], ['512m', 512], ['1G', 1024], ['2g', 2048], ['1024', 1024], ['128M', 128],
  ['256MiB', 256], ['1GiB', 1024], [' 768M ', 768],
];
for (const [text, mib] of MEMORY) {
  test(`parseMemory(${JSON.stringify(text)}) = ${mib}`, () => assert.equal(parseMemory(text), mib));
}

const BAD_MEMORY: Array<[string, RegExp]> = [
  ['', /^memory size "": expected a whole number of MiB with an optional M or G suffix/],
  ['lots', /^memory size "lots": expected/],
  ['1.5G', /^memory size "1.5G": expected/],
  ['512K', /^memory size "512K": expected/],
  ['-512M', /^memory size "-512M": expected/],
  ['64M', /^memory size "64M" is 64 MiB: the VM needs at least 128M$/],
  ['0', /^memory size "0": expected/],
];
for (const [text, message] of BAD_MEMORY) {
  test(`parseMemory(${JSON.stringify(text)}) throws`, () => assert.throws(() => parseMemory(text), { message }));
}

test('parseSize: any whole number of MiB, named in the message', () => {
  assert.equal(parseSize('8M', '--overlay-size'), 8);
  assert.equal(parseSize('2g', '--overlay-size'), 2048);
  assert.throws(() => parseSize('0', '--overlay-size'), { message: '--overlay-size "0": expected a whole number of MiB with an optional M or G suffix, e.g. 512M, 1G, 1024' });
});
