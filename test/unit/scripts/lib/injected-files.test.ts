import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { injectedEntries } from '../../../../scripts/lib/injected-files.ts';

test('injected files: root-owned with their mode, through the system\'s directory symlinks, missing directories made, the last one at a path wins', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'injected-files-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const root = join(work, 'root');
  await mkdir(join(root, 'usr/bin'), { recursive: true });
  await symlink('usr/bin', join(root, 'bin'));
  await mkdir(join(root, 'etc'));
  await writeFile(join(root, 'etc/agent.conf'), 'old');
  const agent = join(work, 'agent');
  const config = join(work, 'agent.conf');
  await writeFile(agent, '#!/bin/sh\n', { mode: 0o750 });
  await writeFile(config, 'new', { mode: 0o600 });
  await utimes(agent, 1000, 1000);
  await utimes(config, 2000, 2000);
  const entries = await injectedEntries(root, [
    { hostPath: config, guestPath: '/etc/agent.conf' },
    { hostPath: agent, guestPath: '/bin/agent' },
    { hostPath: agent, guestPath: '/opt/agent/bin/agent' },
    { hostPath: agent, guestPath: '/etc/agent.conf' },
  ]);
  const meta = (mtime: number) => ({ uid: 0, gid: 0, mtime });
  assert.deepEqual(entries, [
    { kind: 'file', path: '/usr/bin/agent', source: agent, mode: 0o750, why: `--inject ${agent}:/bin/agent`, meta: meta(1000) },
    { kind: 'dir', path: '/opt', mode: 0o755, why: `made for --inject ${agent}:/opt/agent/bin/agent`, meta: meta(0) },
    { kind: 'dir', path: '/opt/agent', mode: 0o755, why: `made for --inject ${agent}:/opt/agent/bin/agent`, meta: meta(0) },
    { kind: 'dir', path: '/opt/agent/bin', mode: 0o755, why: `made for --inject ${agent}:/opt/agent/bin/agent`, meta: meta(0) },
    { kind: 'file', path: '/opt/agent/bin/agent', source: agent, mode: 0o750, why: `--inject ${agent}:/opt/agent/bin/agent`, meta: meta(1000) },
    { kind: 'file', path: '/etc/agent.conf', source: agent, mode: 0o750, why: `--inject ${agent}:/etc/agent.conf`, meta: meta(1000) },
  ]);
});

test('injected files: what cannot be injected is named', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'injected-files-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  await mkdir(join(work, 'root/etc'), { recursive: true });
  await writeFile(join(work, 'root/etc/file'), '');
  const root = join(work, 'root');
  await assert.rejects(injectedEntries(root, [{ hostPath: join(work, 'missing'), guestPath: '/x' }]), {
    message: `--inject ${join(work, 'missing')}:/x: ${join(work, 'missing')}: no such file`,
  });
  await assert.rejects(injectedEntries(root, [{ hostPath: root, guestPath: '/x' }]), { message: `--inject ${root}:/x: ${root} is not a regular file` });
  await assert.rejects(injectedEntries(root, [{ hostPath: join(root, 'etc/file'), guestPath: '/etc' }]), {
    message: `--inject ${join(root, 'etc/file')}:/etc: /etc is a directory in the system`,
  });
  await assert.rejects(injectedEntries(root, [{ hostPath: join(root, 'etc/file'), guestPath: '/etc/file/x' }]), {
    message: `--inject ${join(root, 'etc/file')}:/etc/file/x: /etc/file is not a directory in the system`,
  });
});
