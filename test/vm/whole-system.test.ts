/**
 * A whole-system initramfs (mkvirtinitrd --rootfs): the demo's userland packed with the init,
 * booted with no rootfs share at all.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { demoKernel } from '../demo.ts';
import { chrootvm, requireDemoRootfs, ROOT, skipWithoutQemu, VM_TEST_TIMEOUT_MS } from './harness.ts';

const vm = { skip: skipWithoutQemu, timeout: VM_TEST_TIMEOUT_MS };

describe('whole-system initramfs', () => {
  let dir = '';
  let initrd = '';
  before(() => {
    const rootfs = requireDemoRootfs();
    dir = mkdtempSync(join(tmpdir(), 'virtinitrd-whole-system-'));
    // The userland only: the kernel and its 400 MB of modules stay outside, as in a container image.
    const system = join(dir, 'system');
    for (const part of ['bin', 'etc', 'dev', 'proc', 'sys', 'run', 'tmp', 'root', 'sbin', 'usr/bin', 'usr/sbin']) {
      cpSync(join(rootfs, part), join(system, part), { recursive: true, verbatimSymlinks: true });
    }
    initrd = join(dir, 'system.img');
    const build = spawnSync(join(ROOT, 'bin/mkvirtinitrd'), ['--rootfs', system, demoKernel()!.moddir, initrd], { encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('boots with no rootfs share: the system runs from a tmpfs, read-only, without the init\'s files', vm, async () => {
    const script = [
      'echo "root: $(grep " / " /proc/mounts | cut -d" " -f3,4 | cut -d, -f1)"',
      'echo "hostname: $(cat /etc/hostname)"',
      'ls /init /usr/lib/virtinitrd /usr/lib/modules 2>&1 | sed "s/^ls: //"',
      'touch /etc/x 2>/dev/null || echo "read-only: yes"',
      'exit 5',
    ].join('\n');
    const result = await chrootvm(['--initrd', initrd, '--kernel-from', requireDemoRootfs(), 'sh', '-c', script]);
    assert.equal(result.status, 5, result.stderr);
    assert.equal(
      result.stdout,
      [
        'root: tmpfs ro',
        'hostname: virtinitrd-demo',
        '/init: No such file or directory',
        '/usr/lib/virtinitrd: No such file or directory',
        '/usr/lib/modules: No such file or directory',
        'read-only: yes',
        '',
      ].join('\n'),
    );
  });

  test('--rw makes it writable, and mount= shares still work beside it', vm, async () => {
    const share = join(dir, 'share');
    mkdirSync(share);
    const result = await chrootvm(['--rw', '--mount', 'data', share, '--initrd', initrd, '--kernel-from', requireDemoRootfs(), 'sh', '-c', 'touch /etc/x && echo ok > /run/mnt/data/out']);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(readFileSync(join(share, 'out'), 'utf8'), 'ok\n');
  });

  test('--overlay: the in-memory root is writable (it is a copy already), and --overlay-dir has nothing to keep', vm, async () => {
    const result = await chrootvm(['--overlay', '--initrd', initrd, '--kernel-from', requireDemoRootfs(), 'sh', '-c', 'echo changed > /etc/x && cat /etc/x']);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'changed\n');
    const refused = await chrootvm(['--overlay-dir', join(dir, 'keep'), '--initrd', initrd, '--kernel-from', requireDemoRootfs(), 'true']);
    assert.equal(refused.status, 125);
    assert.equal(refused.stderr, `chrootvm: --overlay-dir ${join(dir, 'keep')}: a whole-system initrd's root is in memory already; --overlay makes it writable\n`);
  });
});
