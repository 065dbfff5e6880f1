/**
 * The bound on extracted image trees: like the initrds and kernels (cache-lru.ts), the KEPT_TREES
 * most recently used stay and the others go, except a tree a live process uses (tree-users.ts).
 * By count, not size: a tree's size is known only by walking all of it (hard links and whiteouts
 * make the extracted byte count inexact), on every run, while each tree is bounded already
 * (limits.ts). A tree is renamed to a temporary name before it is removed, so a cache path never
 * holds a half-removed tree; what a killed removal leaves is a stale temporary (cache.ts).
 */
import { randomBytes } from 'node:crypto';
import { readdir, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errnoOf } from '../../../init/sys/errors.ts';
import { leastRecentlyUsed, modified } from '../cache-lru.ts';
import { processAlive } from '../processes.ts';
import { temporaryName } from './cache.ts';
import { removeTree } from '../remove-tree.ts';
import { claimTree, forgetUsers, inUse, usersDirectory } from './tree-users.ts';

/**
 * How many extracted trees the cache keeps: a few images one works with stay extracted, while
 * trying out many images does not fill the disk with trees of tens to hundreds of MB each.
 */
export const KEPT_TREES = 8;

/** cacheEntryName's `<algorithm>-<hex>`: not a temporary (`.tmp-…`), not a users directory (`….users`). */
const TREE_NAME = /^[a-z0-9]+-[0-9a-f]+$/;
const USERS_NAME = /^([a-z0-9]+-[0-9a-f]+)\.users$/;

/**
 * A tree's last use: its users directory's mtime; for a tree extracted before trees had users, the
 * tree's own (the image's date for its root, usually older than any use).
 */
async function lastUsed(tree: string): Promise<number | undefined> {
  const own = await modified(tree);
  if (own === undefined) return undefined;
  return (await modified(usersDirectory(tree))) ?? own;
}

/** Removes `tree` unless a live process uses it; 'gone' when another run removed it first. */
async function removeUnused(tree: string, alive: (pid: number) => boolean): Promise<'removed' | 'in use' | 'gone'> {
  if (await inUse(tree, alive)) return 'in use';
  const claim = await claimTree(tree, alive);
  if (!claim) return 'in use';
  const removing = join(dirname(tree), temporaryName(basename(tree), process.pid, randomBytes(4).toString('hex')));
  try {
    await rename(tree, removing);
  } catch (cause) {
    if (errnoOf(cause) !== 'ENOENT') throw cause;
    return 'gone';
  } finally {
    await claim.release();
  }
  await forgetUsers(tree, alive);
  await removeTree(removing);
  return 'removed';
}

export interface Pruned {
  /** The trees removed, the more recently used first. */
  removed: string[];
  /** Trees beyond the bound that stay because a live process uses them. */
  inUse: string[];
}

/**
 * Bounds the trees in `directory` to the `keep` most recently used and those in use, and drops
 * the users directories of trees that are gone (an extraction that was killed).
 */
export async function pruneTrees(directory: string, keep: number, alive: (pid: number) => boolean = processAlive): Promise<Pruned> {
  const pruned: Pruned = { removed: [], inUse: [] };
  for (const tree of await leastRecentlyUsed(directory, TREE_NAME, keep, lastUsed)) {
    const outcome = await removeUnused(tree, alive);
    if (outcome === 'removed') pruned.removed.push(tree);
    if (outcome === 'in use') pruned.inUse.push(tree);
  }
  for (const name of await readdir(directory)) {
    const entry = USERS_NAME.exec(name)?.[1];
    if (entry !== undefined && (await modified(join(directory, entry))) === undefined) await forgetUsers(join(directory, entry), alive);
  }
  return pruned;
}
