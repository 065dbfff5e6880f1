/**
 * --overlay, --overlay-dir and --image --rw: a writable root whose changes never reach the tree on
 * the host. Each test hashes the tree before and after (contents, modes, owners, mtimes to the
 * nanosecond, xattrs), so any write through to the host fails it.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { OVERLAY_DISK_NAME } from '../../scripts/lib/overlay.ts';
import { tarOf, type FixtureEntry } from '../unit/scripts/lib/image/fixtures.ts';
import { assertNothingLeft, chrootvm, leftovers, requireDemoRootfs, skipWithoutQemu, startChrootvm, TEST_TMP, VM_TEST_TIMEOUT_MS } from './harness.ts';

const vm = { skip: skipWithoutQemu, timeout: VM_TEST_TIMEOUT_MS };

/** Everything about a tree a write could change, as one digest: GNU tar in pax format keeps mtimes in nanoseconds and xattrs. */
function treeDigest(tree: string): string {
  const archive = execFileSync('tar', [
    '--format=posix', '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
    '--xattrs', '--xattrs-include=*', '--sort=name', '--numeric-owner', '-C', tree, '-cf', '-', '.',
  ], { maxBuffer: 1 << 30 });
  return createHash('sha256').update(archive).digest('hex');
}

/** A small root of the demo's userland (bin, etc and the init's mount points), copied so that its inodes are its own. */
function smallRoot(name: string): string {
  const demo = requireDemoRootfs();
  const root = join(TEST_TMP, name);
  mkdirSync(root);
  execFileSync('cp', ['-a', join(demo, 'bin'), join(demo, 'etc'), root]);
  for (const directory of ['dev', 'proc', 'sys', 'run', 'tmp', 'root']) mkdirSync(join(root, directory));
  return root;
}

describe('a writable root that never touches the host', vm, () => {
  let root = '';
  let digest = '';
  const kernelFrom = () => ['--kernel-from', requireDemoRootfs()];

  before(() => {
    root = smallRoot('overlay-root');
    digest = treeDigest(root);
  });

  test('--overlay: every change stays in guest memory, a --mount share is written as usual, and the next run starts clean', async () => {
    const share = join(TEST_TMP, 'overlay-share');
    mkdirSync(share);
    const script = [
      'echo new > /etc/new', 'echo more >> /etc/passwd', 'rm /bin/vi', 'mkdir -p /opt/x/y', 'chmod 700 /etc', 'touch /etc/hostname',
      'mv /bin/ls /bin/ls2', 'ln -s nowhere /link', 'chown 1:1 /etc/group',
      'echo out > /run/mnt/out/file',
      'cat /etc/new; test -e /bin/vi || echo "vi gone"; stat -c %a /etc',
    ].join('\n');
    const result = await chrootvm(['--overlay', '--mount', 'out', share, ...kernelFrom(), root, 'sh', '-c', script]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'new\nvi gone\n700\n');
    assert.equal(readFileSync(join(share, 'file'), 'utf8'), 'out\n');
    assert.equal(treeDigest(root), digest);
    const again = await chrootvm(['--overlay', ...kernelFrom(), root, 'sh', '-c', 'test -e /etc/new || echo clean; test -e /bin/vi && echo "vi back"']);
    assert.equal(again.stdout, 'clean\nvi back\n', again.stderr);
  });

  test('--overlay-size: a write past it gets ENOSPC, and the command goes on', async () => {
    const script = 'dd if=/dev/zero of=/big bs=1M count=32; echo "dd $?"; rm /big; echo small > /after && cat /after';
    const result = await chrootvm(['--overlay', '--overlay-size', '8M', ...kernelFrom(), root, 'sh', '-c', script]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'dd 1\nsmall\n');
    assert.match(result.stderr, /No space left on device/);
    assert.equal(treeDigest(root), digest);
  });

  test('--overlay-dir: the changes are kept between runs on a sparse disk; the tree is still untouched', async () => {
    const keep = join(TEST_TMP, 'overlay-keep');
    const first = await chrootvm(['--overlay-dir', keep, '--overlay-size', '256M', ...kernelFrom(), root, 'sh', '-c', 'echo first > /etc/first && rm /bin/vi']);
    assert.equal(first.status, 0, first.stderr);
    const second = await chrootvm(['--overlay-dir', keep, ...kernelFrom(), root, 'sh', '-c', 'cat /etc/first; test -e /bin/vi || echo "vi gone"']);
    assert.equal(second.status, 0, second.stderr);
    assert.equal(second.stdout, 'first\nvi gone\n');
    assert.equal(treeDigest(root), digest);
    const disk = statSync(join(keep, OVERLAY_DISK_NAME));
    assert.equal(disk.size, 256 * 1024 * 1024);
    assert.ok(disk.blocks * 512 < disk.size / 4, `the disk takes ${disk.blocks * 512} bytes: not sparse`);
    assert.deepEqual(readdirSync(keep), [OVERLAY_DISK_NAME]);
  });

  test('--overlay-dir: a second VM on the same disk stops before booting, naming it', async () => {
    const keep = join(TEST_TMP, 'overlay-busy');
    const before = leftovers();
    const first = startChrootvm(['--overlay-dir', keep, ...kernelFrom(), root, 'sh', '-c', 'echo running; sleep 1000']);
    try {
      await first.waitFor('running');
      const second = await chrootvm(['--overlay-dir', keep, ...kernelFrom(), root, 'true']);
      assert.equal(second.status, 125, second.stderr);
      assert.ok(second.stderr.includes(`Failed to get "write" lock\nIs another process using the image [${join(keep, OVERLAY_DISK_NAME)}]?`), second.stderr);
    } finally {
      first.child.kill('SIGTERM');
      await first.result;
    }
    assertNothingLeft(before);
  });

  test('--image --rw writes through an overlay: the cached tree is never written', async () => {
    const cacheHome = join(TEST_TMP, 'overlay-image-cache');
    const image = join(TEST_TMP, 'overlay-image.tar');
    const entries: FixtureEntry[] = [
      { name: 'bin/', type: 'directory' },
      { name: 'bin/busybox', content: readFileSync(join(root, 'bin/busybox')), mode: 0o755 },
      { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
      { name: 'bin/cat', type: 'symlink', linkname: 'busybox' },
      ...['dev', 'proc', 'sys', 'run', 'tmp', 'etc'].map((dir): FixtureEntry => ({ name: `${dir}/`, type: 'directory' })),
    ];
    writeFileSync(image, await tarOf(entries));
    const env = { XDG_CACHE_HOME: cacheHome };
    const result = await chrootvm(['--image', image, '--rw', ...kernelFrom(), 'sh', '-c', 'echo written > /etc/new && cat /etc/new'], { env });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'written\n');
    const trees = join(cacheHome, 'virtinitrd/rootfs');
    // Beside the tree, the directory of the processes using it.
    const [tree] = readdirSync(trees).filter((name) => !name.endsWith('.users'));
    assert.equal(existsSync(join(trees, tree!, 'etc/new')), false);
    const readonly = await chrootvm(['--image', image, ...kernelFrom(), 'sh', '-c', 'echo x > /etc/new'], { env });
    assert.equal(readonly.status, 1);
    assert.match(readonly.stderr, /Read-only file system/);
  });

  test('a plain boot loads neither the overlay\'s modules nor the network\'s: it stays as it was', async () => {
    const result = await chrootvm(['--debug', ...kernelFrom(), root, 'true']);
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stdout + result.stderr, /(overlay|virtio_net|virtio_blk|ext4)\.ko/);
    const overlaid = await chrootvm(['--debug', '--overlay', ...kernelFrom(), root, 'true']);
    assert.match(overlaid.stdout + overlaid.stderr, /module \d+-overlay\.ko loaded/);
  });
});

/** The tree `make debian-rootfs` builds with mmdebstrap (Debian bookworm, minbase and passwd). */
const DEBIAN_ROOTFS = join(import.meta.dirname, '../../.cache/debian/bookworm');

describe('--overlay on a Debian bookworm tree built with mmdebstrap', vm, () => {
  test('dpkg -i of a small package and useradd -m work; the tree is unchanged', async () => {
    assert.ok(existsSync(join(DEBIAN_ROOTFS, 'usr/bin/dpkg')), `${DEBIAN_ROOTFS} is missing: make debian-rootfs`);
    const debs = join(TEST_TMP, 'debs');
    const source = join(TEST_TMP, 'hello-virtinitrd');
    mkdirSync(join(source, 'DEBIAN'), { recursive: true });
    mkdirSync(join(source, 'usr/bin'), { recursive: true });
    writeFileSync(join(source, 'DEBIAN/control'), 'Package: hello-virtinitrd\nVersion: 1.0\nArchitecture: all\nMaintainer: virtinitrd tests <tests@example.org>\nDescription: says hello\n');
    writeFileSync(join(source, 'usr/bin/hello-virtinitrd'), '#!/bin/sh\necho "hello from a package"\n', { mode: 0o755 });
    mkdirSync(debs);
    const built = spawnSync('dpkg-deb', ['--root-owner-group', '--build', source, join(debs, 'hello.deb')], { encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
    const before = treeDigest(DEBIAN_ROOTFS);
    const script = [
      'set -e',
      'dpkg -i /run/mnt/debs/hello.deb >/dev/null',
      'hello-virtinitrd',
      'dpkg-query -W -f \'${Status}\\n\' hello-virtinitrd',
      'useradd -m tester',
      'id -u tester >/dev/null && ls -d /home/tester',
    ].join('\n');
    const result = await chrootvm(['--overlay', '--mount-ro', 'debs', debs, '--kernel-from', requireDemoRootfs(), DEBIAN_ROOTFS, 'sh', '-c', script]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'hello from a package\ninstall ok installed\n/home/tester\n');
    assert.equal(treeDigest(DEBIAN_ROOTFS), before);
  });
});
