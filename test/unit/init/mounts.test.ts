import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deviceNodes, earlyMounts, movedMounts } from '../../../init/mounts.ts';

// From <linux/mount.h>, written out here so that a wrong MS table in init/sys/libc.ts shows up too.
const MS_NOSUID = 0x2;
const MS_NODEV = 0x4;
const MS_NOEXEC = 0x8;

const EXPECTED_MOUNTS: Array<{ target: string; fstype: string; flags: number; data: string }> = [
  { target: '/proc', fstype: 'proc', flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, data: '' },
  { target: '/sys', fstype: 'sysfs', flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, data: '' },
  { target: '/dev', fstype: 'devtmpfs', flags: MS_NOSUID, data: 'mode=0755' },
  { target: '/dev/pts', fstype: 'devpts', flags: MS_NOSUID | MS_NOEXEC, data: 'gid=5,mode=0620,ptmxmode=0666' },
  { target: '/dev/shm', fstype: 'tmpfs', flags: MS_NOSUID | MS_NODEV, data: 'mode=1777' },
  { target: '/run', fstype: 'tmpfs', flags: MS_NOSUID | MS_NODEV, data: 'mode=0755' },
  { target: '/tmp', fstype: 'tmpfs', flags: MS_NOSUID | MS_NODEV, data: 'mode=1777' },
  { target: '/sys/fs/cgroup', fstype: 'cgroup2', flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, data: 'nsdelegate' },
];

test('earlyMounts: each target with its fstype, flags and data', () => {
  assert.deepEqual(
    earlyMounts.map(({ target, fstype, flags, data }) => ({ target, fstype, flags, data })),
    EXPECTED_MOUNTS,
  );
});

test('earlyMounts: the boot cannot go on without /proc, /sys, /dev, /run and /tmp', () => {
  assert.deepEqual(
    earlyMounts.filter((entry) => entry.required).map((entry) => entry.target),
    ['/proc', '/sys', '/dev', '/run', '/tmp'],
  );
});

test('earlyMounts: no SELinux-only option (fails on kernels without SELinux)', () => {
  for (const entry of earlyMounts) assert.doesNotMatch(entry.data, /seclabel/, entry.target);
});

test('earlyMounts: every parent mount comes before its children', () => {
  earlyMounts.forEach((child, childIndex) => {
    earlyMounts.forEach((parent, parentIndex) => {
      if (child.target.startsWith(`${parent.target}/`)) {
        assert.ok(parentIndex < childIndex, `${parent.target} (#${parentIndex}) must come before ${child.target} (#${childIndex})`);
      }
    });
  });
});

test('earlyMounts: no target twice', () => {
  const targets = earlyMounts.map((entry) => entry.target);
  assert.deepEqual([...new Set(targets)], targets);
});

test('movedMounts: each is one of the early mounts', () => {
  const targets = new Set(earlyMounts.map((entry) => entry.target));
  for (const target of movedMounts) assert.ok(targets.has(target), target);
});

// Majors/minors from the kernel's Documentation/admin-guide/devices.txt (misc devices, major 10).
const EXPECTED_NODES = [
  { path: '/dev/kvm', type: 'char', major: 10, minor: 232 },
  { path: '/dev/fuse', type: 'char', major: 10, minor: 229 },
  { path: '/dev/loop-control', type: 'char', major: 10, minor: 237 },
  { path: '/dev/net/tun', type: 'char', major: 10, minor: 200 },
];

test('deviceNodes: paths, types, majors and minors', () => {
  assert.deepEqual(
    deviceNodes.map(({ path, type, major, minor }) => ({ path, type, major, minor })),
    EXPECTED_NODES,
  );
});
