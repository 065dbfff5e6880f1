import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimTree, forgetUsers, inUse, usersDirectory, useTree } from '../../../../../scripts/lib/image/tree-users.ts';

async function scratch(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'tree-users-'));
  t.after(() => rm(directory, { recursive: true, force: true }));
  return directory;
}

// Pids the tests call alive or dead, whatever runs on the machine.
const LIVE = 1111;
const DEAD = 2222;
const alive = (pid: number) => pid === LIVE || pid === process.pid;

test('usersDirectory is beside the tree', () => {
  assert.equal(usersDirectory('/c/rootfs/sha256-ab'), '/c/rootfs/sha256-ab.users');
});

test('useTree marks the tree as used by this process and used now; abandon leaves nothing', async (t) => {
  const tree = join(await scratch(t), 'sha256-ab');
  const users = usersDirectory(tree);
  await mkdir(users);
  await utimes(users, 1000, 1000);
  const use = await useTree(tree, alive);
  assert.deepEqual(await readdir(users), [String(process.pid)]);
  assert.ok((await stat(users)).mtimeMs > Date.now() - 60_000);
  await use.abandon();
  assert.deepEqual(await readdir(join(tree, '..')), []);
});

test('inUse and claimTree: refused while a live process uses the tree; a dead one counts for nothing', async (t) => {
  const tree = join(await scratch(t), 'sha256-ab');
  const users = usersDirectory(tree);
  await mkdir(users);
  await writeFile(join(users, String(LIVE)), '');
  await writeFile(join(users, String(DEAD)), '');
  assert.equal(await inUse(tree, alive), true);
  assert.equal(await claimTree(tree, alive), undefined);
  assert.deepEqual((await readdir(users)).sort(), [String(LIVE), String(DEAD)].sort(), 'a refused claim leaves no file');
  await rm(join(users, String(LIVE)));
  assert.equal(await inUse(tree, alive), false);
  const claim = await claimTree(tree, alive);
  assert.ok(claim);
  assert.deepEqual((await readdir(users)).sort(), [String(DEAD), `removing-${process.pid}`]);
  await claim.release();
  assert.deepEqual(await readdir(users), [String(DEAD)]);
});

test('useTree waits while a live pruner decides, and ignores a dead one', async (t) => {
  const tree = join(await scratch(t), 'sha256-ab');
  const users = usersDirectory(tree);
  await mkdir(users);
  await writeFile(join(users, `removing-${DEAD}`), '');
  const started = Date.now();
  await useTree(tree, alive);
  assert.ok(Date.now() - started < 1000, 'a dead pruner is not waited for');
  await writeFile(join(users, `removing-${LIVE}`), '');
  setTimeout(() => void rm(join(users, `removing-${LIVE}`)), 300);
  await useTree(tree, alive);
  assert.ok(Date.now() - started >= 300, 'the live pruner was waited for');
});

test('useTree gives up on a pruner that never ends, naming its file', async (t) => {
  const tree = join(await scratch(t), 'sha256-ab');
  await mkdir(usersDirectory(tree));
  await writeFile(join(usersDirectory(tree), `removing-${LIVE}`), '');
  await assert.rejects(useTree(tree, alive, 100), {
    message: `${join(usersDirectory(tree), `removing-${LIVE}`)}: process ${LIVE} has been deciding for more than 0.1 s whether to remove ${tree}; if it is stuck, remove that file`,
  });
});

test('forgetUsers removes the files of dead processes, and the directory once empty', async (t) => {
  const tree = join(await scratch(t), 'sha256-ab');
  const users = usersDirectory(tree);
  await mkdir(users);
  for (const name of [String(LIVE), String(DEAD), `removing-${DEAD}`, 'junk']) await writeFile(join(users, name), '');
  await forgetUsers(tree, alive);
  assert.deepEqual(await readdir(users), [String(LIVE)]);
  await rm(join(users, String(LIVE)));
  await forgetUsers(tree, alive);
  assert.deepEqual(await readdir(join(tree, '..')), []);
  await forgetUsers(tree, alive);
});
