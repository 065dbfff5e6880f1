import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, lchownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { systemTree } from '../../../packer/system-tree.ts';

test('systemTree: every kind of entry, in order, symlinks recorded and never followed', async () => {
  const root = mkdtempSync(join(tmpdir(), 'system-tree-'));
  try {
    mkdirSync(join(root, 'etc'));
    mkdirSync(join(root, 'dev'));
    writeFileSync(join(root, 'etc/a'), 'a');
    chmodSync(join(root, 'etc/a'), 0o600);
    linkSync(join(root, 'etc/a'), join(root, 'etc/b'));
    // Pointing out of the tree: recorded as it is, and nothing outside is read.
    symlinkSync('/etc/shadow', join(root, 'etc/escape'));
    execFileSync('mkfifo', [join(root, 'dev/pipe')]);
    if (process.getuid?.() === 0) execFileSync('mknod', [join(root, 'dev/null'), 'c', '1', '3']);
    const tree = await systemTree(root);
    const summary = tree.entries.map((entry) => {
      switch (entry.kind) {
        case 'file':
          return `${entry.path} file ${entry.mode.toString(8)} ${entry.source === join(root, entry.path)}`;
        case 'hardlink':
        case 'symlink':
          return `${entry.path} ${entry.kind} ${entry.target}`;
        case 'device':
          return `${entry.path} ${entry.type} ${entry.major}:${entry.minor}`;
        default:
          return `${entry.path} ${entry.kind}`;
      }
    });
    assert.deepEqual(summary, [
      '/dev dir',
      ...(process.getuid?.() === 0 ? ['/dev/null char 1:3'] : []),
      '/etc dir',
      '/etc/a file 600 true',
      '/etc/b hardlink /etc/a',
      '/etc/escape symlink /etc/shadow',
    ]);
    assert.deepEqual(tree.skipped, ['/dev/pipe (a fifo)']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('systemTree: --map-root-user records the given user\'s uid and gid as root\'s, and no one else\'s', async () => {
  const root = mkdtempSync(join(tmpdir(), 'system-tree-'));
  try {
    writeFileSync(join(root, 'mine'), '');
    writeFileSync(join(root, 'theirs'), '');
    // Who owns what is read from the files; the mapping's uid and gid are chosen to match them.
    const owner = lstatSync(join(root, 'mine'));
    const rootOwner = { uid: owner.uid, gid: owner.gid };
    if (process.getuid?.() === 0) {
      Object.assign(rootOwner, { uid: 4321, gid: 4322 });
      lchownSync(join(root, 'mine'), 4321, 4322);
      lchownSync(join(root, 'theirs'), 4321, 77);
    }
    symlinkSync('mine', join(root, 'link'));
    if (process.getuid?.() === 0) lchownSync(join(root, 'link'), 55, 4322);
    const owners = (tree: Awaited<ReturnType<typeof systemTree>>) =>
      tree.entries.map((entry) => `${entry.path} ${'meta' in entry && entry.meta ? `${entry.meta.uid}:${entry.meta.gid}` : '-'}`);
    const mapped = owners(await systemTree(root, rootOwner));
    if (process.getuid?.() === 0) {
      assert.deepEqual(mapped, ['/link 55:0', '/mine 0:0', '/theirs 0:77']);
      assert.deepEqual(owners(await systemTree(root)), ['/link 55:4322', '/mine 4321:4322', '/theirs 4321:77']);
    } else {
      assert.deepEqual(mapped, ['/link 0:0', '/mine 0:0', '/theirs 0:0']);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
