import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { parseStatus } from '../../../../init/status-line.ts';
import { encodeNewc } from '../../../../packer/cpio/newc.ts';
import { floorInitScript, floorRecords } from '../../../../scripts/bench/floor-initrd.ts';

const INPUT = {
  modules: ['/usr/lib/modules/001-fuse.ko', '/usr/lib/modules/002-virtiofs.ko'],
  rootfsTag: 'rootfs',
  newRoot: '/sysroot',
  command: 'true',
};

test('floorInitScript: mounts, modules in the given order, the share, switch_root, status, power-off', () => {
  assert.equal(
    floorInitScript(INPUT),
    `#!/bin/busybox sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox insmod /usr/lib/modules/001-fuse.ko
/bin/busybox insmod /usr/lib/modules/002-virtiofs.ko
n=0
until /bin/busybox mount -t virtiofs -o ro rootfs /sysroot 2>/dev/null; do
  n=$((n + 1))
  if [ "$n" -ge 2000 ]; then echo "virtinitrd-status {\\"kind\\":\\"error\\",\\"message\\":\\"virtiofs rootfs did not appear\\"}" >/dev/ttyS1; /bin/busybox poweroff -f; fi
  /bin/busybox usleep 10000
done
/bin/busybox mount --move /dev /sysroot/dev
/bin/busybox mount --move /proc /sysroot/proc
/bin/busybox mount --move /sys /sysroot/sys
exec /bin/busybox switch_root /sysroot /bin/sh -c 'true; echo "virtinitrd-status {\\"kind\\":\\"exit\\",\\"code\\":$?}" >/dev/ttyS1; exec poweroff -f'
`,
  );
});

test('floorInitScript: a POSIX shell accepts it', () => {
  const checked = spawnSync('sh', ['-n'], { input: floorInitScript(INPUT), encoding: 'utf8' });
  assert.equal(checked.status, 0, checked.stderr);
});

/** The second stage, run here with the status on stdout and no power-off. */
function secondStage(command: string): string {
  const script = floorInitScript({ ...INPUT, command });
  const stage = /switch_root \/sysroot \/bin\/sh -c '([^']*)'/.exec(script)![1]!;
  const local = stage.replace(' >/dev/ttyS1', '').replace('exec poweroff -f', ':');
  return spawnSync('sh', ['-c', local], { encoding: 'utf8' }).stdout;
}

test("the second stage's status line is one chrootvm reads, with the command's exit status", async (t) => {
  const cases = [
    { command: 'true', status: { kind: 'exit', code: 0 } },
    { command: 'false', status: { kind: 'exit', code: 1 } },
    { command: 'exit_with() { return 7; }; exit_with', status: { kind: 'exit', code: 7 } },
  ];
  for (const c of cases) await t.test(c.command, () => assert.deepEqual(parseStatus(secondStage(c.command)), c.status));
});

test('floorInitScript refuses a command that would end its quoting', () => {
  assert.throws(() => floorInitScript({ ...INPUT, command: "echo 'x'" }), { message: `floor command "echo 'x'" contains a single quote` });
});

test('floorRecords: busybox, /init, the console, mount points, modules', () => {
  const busybox = Buffer.from('busybox');
  const fuse = Buffer.from('fuse.ko');
  const records = floorRecords({ busybox, script: '#!/bin/busybox sh\n', modules: [{ path: '/usr/lib/modules/001-fuse.ko', data: fuse }] }, '/sysroot');
  assert.deepEqual(records, [
    { kind: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    { kind: 'file', path: 'init', data: Buffer.from('#!/bin/busybox sh\n'), mode: 0o755 },
    { kind: 'device', path: 'dev/console', type: 'char', major: 5, minor: 1, mode: 0o600 },
    { kind: 'dir', path: 'proc' },
    { kind: 'dir', path: 'sys' },
    { kind: 'dir', path: 'sysroot' },
    { kind: 'file', path: 'usr/lib/modules/001-fuse.ko', data: fuse, mode: 0o644 },
  ]);
  // The packer's writer takes them as they are (parents added, no duplicates).
  const names = [...encodeNewc(records).toString('latin1').matchAll(/070701[0-9A-F]{104}([^\0]+)\0/g)].map((match) => match[1]);
  assert.deepEqual(names, ['bin', 'bin/busybox', 'dev', 'dev/console', 'init', 'proc', 'sys', 'sysroot', 'usr', 'usr/lib', 'usr/lib/modules', 'usr/lib/modules/001-fuse.ko', 'TRAILER!!!']);
});
