import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveInRoot } from '../../../init/etc-files.ts';
import { hostsFile, netmaskOf } from '../../../init/network.ts';

test('netmaskOf: prefixes to dotted masks', () => {
  assert.deepEqual([8, 16, 24, 30, 32].map(netmaskOf), ['255.0.0.0', '255.255.0.0', '255.255.255.0', '255.255.255.252', '255.255.255.255']);
});

test('hostsFile: the root\'s lines, or localhost lines, then the hostname at the guest\'s address', () => {
  assert.equal(hostsFile('127.0.0.1 localhost\n', '10.0.2.15', 'box'), '127.0.0.1 localhost\n10.0.2.15\tbox\n');
  assert.equal(hostsFile('127.0.0.1 localhost', '10.0.2.15', 'box'), '127.0.0.1 localhost\n10.0.2.15\tbox\n');
  assert.equal(hostsFile(undefined, '10.0.2.15', 'box'), '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.2.15\tbox\n');
});

test('resolveInRoot: symlinks followed inside the root, relative and absolute, to a file or to where a missing one would be', () => {
  const root = mkdtempSync(join(tmpdir(), 'resolve-in-root-'));
  try {
    mkdirSync(join(root, 'etc'));
    mkdirSync(join(root, 'run'));
    writeFileSync(join(root, 'etc/hosts'), '');
    symlinkSync('../run/systemd/resolve/stub-resolv.conf', join(root, 'etc/resolv.conf'));
    symlinkSync('/etc/hosts', join(root, 'etc/hosts.link'));
    symlinkSync('loop', join(root, 'etc/loop'));
    assert.equal(resolveInRoot(root, '/etc/resolv.conf'), '/run/systemd/resolve/stub-resolv.conf');
    assert.equal(resolveInRoot(root, '/etc/hosts.link'), '/etc/hosts');
    assert.equal(resolveInRoot(root, '/etc/hosts'), '/etc/hosts');
    assert.equal(resolveInRoot(root, '/etc/missing'), '/etc/missing');
    assert.throws(() => resolveInRoot(root, '/etc/loop'), { message: '/etc/loop: too many levels of symbolic links in the new root' });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
