import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readdir, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTree } from '../../../../../scripts/lib/remove-tree.ts';
import { pruneTrees } from '../../../../../scripts/lib/image/prune-trees.ts';
import { resolveImage } from '../../../../../scripts/lib/image/resolve-image.ts';
import { usersDirectory } from '../../../../../scripts/lib/image/tree-users.ts';
import { sha256, tarOf } from './fixtures.ts';

async function scratch(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'prune-trees-'));
  t.after(() => removeTree(directory));
  return directory;
}

const LIVE = 1111;
const DEAD = 2222;
const alive = (pid: number) => pid === LIVE || pid === process.pid;

/** A tree with a read-only directory inside, as an image's 0555 directories are; its users' files; its last use. */
async function makeTree(directory: string, name: string, used: number | undefined, users: string[] = []): Promise<void> {
  const tree = join(directory, name);
  await mkdir(join(tree, 'usr/bin'), { recursive: true });
  await writeFile(join(tree, 'usr/bin/tool'), 'x');
  await chmod(join(tree, 'usr/bin'), 0o555);
  // Only the users directory's time counts once it exists: this one says the opposite order.
  await utimes(tree, 9000 - (used ?? 6000), 9000 - (used ?? 6000));
  if (used === undefined) return;
  await mkdir(usersDirectory(tree));
  for (const user of users) await writeFile(join(usersDirectory(tree), user), '');
  await utimes(usersDirectory(tree), used, used);
}

test('pruneTrees keeps the most recently used and those in use, removes the rest whole, and the users of trees that are gone', async (t) => {
  const directory = await scratch(t);
  await makeTree(directory, 'sha256-a0', 1000, [String(DEAD)]);
  await makeTree(directory, 'sha256-a1', 2000, [String(LIVE)]);
  // Extracted before trees had users: its own mtime, 9000 - 6000, is its last use.
  await makeTree(directory, 'sha256-a2', undefined);
  await makeTree(directory, 'sha256-a3', 4000);
  await makeTree(directory, 'sha256-a4', 5000, [`removing-${DEAD}`]);
  // The users of a tree being extracted (live), and of one whose extraction was killed (dead).
  for (const [name, user] of [['sha256-b0.users', String(LIVE)], ['sha256-b1.users', String(DEAD)]] as const) {
    await mkdir(join(directory, name));
    await writeFile(join(directory, name, user), '');
  }
  // Another run's extraction in progress, and something that is not the cache's.
  await mkdir(join(directory, '.tmp-sha256-c0-1111-00ff00ff'));
  await writeFile(join(directory, 'notes'), '');

  assert.deepEqual(await pruneTrees(directory, 2, alive), {
    removed: [join(directory, 'sha256-a2'), join(directory, 'sha256-a0')],
    inUse: [join(directory, 'sha256-a1')],
  });
  assert.deepEqual((await readdir(directory)).sort(), [
    '.tmp-sha256-c0-1111-00ff00ff',
    'notes',
    'sha256-a1',
    'sha256-a1.users',
    'sha256-a3',
    'sha256-a3.users',
    'sha256-a4',
    'sha256-a4.users',
    'sha256-b0.users',
  ]);
  assert.deepEqual(await pruneTrees(directory, 2, alive), { removed: [], inUse: [join(directory, 'sha256-a1')] });
  assert.deepEqual(await pruneTrees(directory, 3, alive), { removed: [], inUse: [] });
});

const RESOLVE_IMAGE = new URL('../../../../../scripts/lib/image/resolve-image.ts', import.meta.url).pathname;

/**
 * Another process that resolves `image` and then either exits or, with `hold`, keeps running (and
 * so keeps using the tree) until its stdin ends.
 */
async function resolveElsewhere(image: string, cacheDir: string, hold: boolean): Promise<{ release(): Promise<void> }> {
  const script = `
    const { resolveImage } = await import(process.argv[1]);
    await resolveImage(process.argv[2], { cacheDir: process.argv[3] });
    process.stdout.write('resolved\\n');
    if (process.argv[4] === 'hold') process.stdin.resume();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, RESOLVE_IMAGE, image, cacheDir, hold ? 'hold' : 'exit'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  assert.equal(line.toString(), 'resolved\n');
  if (!hold) assert.deepEqual(await exited, [0, null]);
  return {
    async release() {
      child.stdin.end();
      assert.deepEqual(await exited, [0, null]);
    },
  };
}

test('resolveImage bounds the trees, and keeps the one another running process uses until it exits', async (t) => {
  const work = await scratch(t);
  const cacheDir = join(work, 'cache');
  const images: string[] = [];
  const trees: string[] = [];
  for (const name of ['first', 'second', 'third']) {
    const bytes = await tarOf([{ name: 'etc/hostname', content: `${name}\n` }]);
    images.push(join(work, `${name}.tar`));
    trees.push(join(cacheDir, 'rootfs', `sha256-${sha256(bytes).slice('sha256:'.length)}`));
    await writeFile(images.at(-1)!, bytes);
  }
  await resolveElsewhere(images[0]!, cacheDir, false);
  const holder = await resolveElsewhere(images[1]!, cacheDir, true);
  const lines: string[] = [];
  const log = (line: string) => lines.push(line);
  await resolveImage(images[2]!, { cacheDir, keptTrees: 1, log });
  assert.deepEqual(lines.slice(-2), [
    `removed the least recently used image tree ${trees[0]}`,
    `kept the image tree ${trees[1]}, beyond the 1 most recently used: a running process uses it`,
  ]);
  const listing = async () => (await readdir(join(cacheDir, 'rootfs'))).sort();
  const entries = (indexes: number[]) => indexes.flatMap((index) => [trees[index]!, usersDirectory(trees[index]!)]).map((path) => path.slice(join(cacheDir, 'rootfs/').length)).sort();
  assert.deepEqual(await listing(), entries([1, 2]));
  await holder.release();
  lines.length = 0;
  // A cache hit bounds the cache too: the tree is free now.
  assert.equal((await resolveImage(images[2]!, { cacheDir, keptTrees: 1, log })).cached, true);
  assert.equal(lines.at(-1), `removed the least recently used image tree ${trees[1]}`);
  assert.deepEqual(await listing(), entries([2]));
});
