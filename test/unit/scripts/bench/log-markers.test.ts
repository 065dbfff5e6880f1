import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BOOT_SEQUENCE, findMarkers, phasesOf, requireMarkers, span } from '../../../../scripts/bench/log-markers.ts';

// Lines of a real `chrootvm --debug .cache/demo/rootfs true` boot (Debian 6.1.0-56, TCG), in their
// order, kernel (12-wide stamps) and init (13-wide stamps) interleaved.
const DEBUG_BOOT = `[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)
[    0.000000] Command line: console=ttyS0 panic=-1 rootfs=rootfs debug
[    0.934906] Trying to unpack rootfs image as initramfs...
[    1.586460] Freeing initrd memory: 48556K
[    2.113275] Run /init as init process
[    2.113402]   with arguments:
[    2.113455]     /init
[     2.797179] init: init started
[     2.798404] init: step: mount early filesystems
[     2.917633] init: step: load kernel modules
[    2.990455] fuse: init (API version 7.38)
[     2.981159] init: module 001-fuse.ko loaded in 44.4 ms
[     3.034741] init: module 007-virtiofs.ko loaded in 13.0 ms
[     3.035113] init: step: prepare the root
[     3.043853] init: share "rootfs" mounted on /sysroot (ro) after 5 ms
[     3.043990] init: step: mount shares
[     3.044877] init: step: switch root
[     3.084834] init: initramfs contents deleted
[     3.096461] init: run ["true"] in /
[     3.208693] init: command ended: {"kind":"exit","code":0}
[    3.236199] ACPI: PM: Preparing to enter system sleep state S5
[    3.236791] reboot: Power down
`;

const DEBUG_MARKERS = {
  kernelStart: 0,
  unpackStart: 0.934906,
  unpackEnd: 1.58646,
  runInit: 2.113275,
  jsStart: 2.797179,
  modulesLoaded: 3.035113,
  sharesMounted: 3.044877,
  commandStarted: 3.096461,
  commandEnded: 3.208693,
  powerDown: 3.236791,
};

test('findMarkers', async (t) => {
  const cases = [
    { name: 'a debug boot has every marker', log: DEBUG_BOOT, expected: DEBUG_MARKERS },
    { name: 'serial CRLF line ends', log: DEBUG_BOOT.replaceAll('\n', '\r\n'), expected: DEBUG_MARKERS },
    { name: 'empty log', log: '', expected: {} },
    {
      name: 'the first line of a marker wins',
      log: '[    1.000000] Run /init as init process\n[    2.000000] Run /init as init process\n',
      expected: { runInit: 1 },
    },
    {
      name: 'unstamped and mid-line stamps are not markers',
      log: 'Run /init as init process\nxx [    1.000000] reboot: Power down\n[ 4.5] reboot: Power down\n',
      expected: { powerDown: 4.5 },
    },
    {
      // The bare runtime (C): its own "init started" line, then straight to the power-off.
      name: 'a bare runtime boot',
      log: '[    2.100000] Run /init as init process\n[     3.250000] init: init started\n[    3.310000] reboot: Power down\n',
      expected: { runInit: 2.1, jsStart: 3.25, powerDown: 3.31 },
    },
  ];
  for (const c of cases) {
    await t.test(c.name, () => assert.deepEqual(findMarkers(c.log), c.expected));
  }
});

test('requireMarkers returns the asked markers or names the missing line', () => {
  assert.deepEqual(requireMarkers(DEBUG_MARKERS, ['runInit', 'powerDown'], 'boot'), { runInit: 2.113275, powerDown: 3.236791 });
  assert.throws(
    () => requireMarkers({ runInit: 1 }, ['runInit', 'jsStart'], 'C kernel log'),
    { message: 'C kernel log: no "init: init started" line (JS started)' },
  );
});

test('phasesOf: consecutive markers of the boot sequence', () => {
  const phases = phasesOf(DEBUG_MARKERS, BOOT_SEQUENCE).map((phase) => ({ ...phase, seconds: Number(phase.seconds.toFixed(6)) }));
  assert.deepEqual(phases, [
    { name: 'kernel start → initramfs unpack start', start: 0, end: 0.934906, seconds: 0.934906 },
    { name: 'initramfs unpack start → initramfs unpacked', start: 0.934906, end: 1.58646, seconds: 0.651554 },
    { name: 'initramfs unpacked → /init started', start: 1.58646, end: 2.113275, seconds: 0.526815 },
    { name: '/init started → JS started', start: 2.113275, end: 2.797179, seconds: 0.683904 },
    { name: 'JS started → modules loaded', start: 2.797179, end: 3.035113, seconds: 0.237934 },
    { name: 'modules loaded → shares mounted', start: 3.035113, end: 3.044877, seconds: 0.009764 },
    { name: 'shares mounted → command started', start: 3.044877, end: 3.096461, seconds: 0.051584 },
    { name: 'command started → command ended', start: 3.096461, end: 3.208693, seconds: 0.112232 },
    { name: 'command ended → power down', start: 3.208693, end: 3.236791, seconds: 0.028098 },
  ]);
  assert.throws(() => phasesOf({ kernelStart: 0 }, ['kernelStart', 'unpackStart']), { message: /no "Trying to unpack rootfs image as initramfs\.\.\." line/ });
});

test('span', () => {
  assert.equal(Number(span(DEBUG_MARKERS, 'unpackStart', 'unpackEnd', 'boot').toFixed(6)), 0.651554);
  assert.throws(() => span({}, 'unpackStart', 'unpackEnd', 'codec xz boot'), { message: /^codec xz boot: no "Trying to unpack/ });
});
