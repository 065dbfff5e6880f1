/**
 * Who uses an extracted image tree right now, so that bounding the cache (prune-trees.ts) never
 * removes a tree that a running chrootvm or mkvirtinitrd shares with a VM. Node has no flock(2):
 * each side writes a file of its own into `<tree>.users/` first and reads the other's second
 * (Dekker's flags):
 *
 *   a user writes `<pid>`, waits while a live `removing-<pid>` is there, then looks for the tree;
 *   a pruner writes `removing-<pid>`, keeps the tree if a live `<pid>` is there, else renames the
 *   tree away, and only then deletes its file.
 *
 * Whatever the interleaving, at least one of the two sees the other's file: the pruner keeps the
 * tree, or the user, once the claim is gone, finds the tree there or gone (and extracts it again),
 * never a tree that vanishes under it. A user's file stays until its process exits; a file whose
 * pid is not alive counts for nothing, so a killed run holds no tree. A reused pid only keeps a
 * tree longer. The pids are the host's: the user namespace the commands may run in has no pid
 * namespace of its own. The directory's mtime is the tree's last use (the tree itself is the image
 * and is never written).
 */
import { rmSync } from 'node:fs';
import { mkdir, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoOf } from '../../../init/sys/errors.ts';
import { markUsed } from '../cache-lru.ts';
import { processAlive } from '../processes.ts';

/** A pruner's claim lasts a readdir and a rename: waiting longer than this means it is stuck. */
const CLAIM_WAIT_MS = 10_000;
const CLAIM_POLL_MS = 20;

export function usersDirectory(tree: string): string {
  return `${tree}.users`;
}

const claimName = (pid: number) => `removing-${pid}`;

/** The live processes among the files of one kind in `users`. */
async function livePids(users: string, kind: 'user' | 'claim', alive: (pid: number) => boolean): Promise<number[]> {
  const pattern = kind === 'user' ? /^(\d+)$/ : /^removing-(\d+)$/;
  const names = await readdir(users).catch(() => []);
  return names.flatMap((name) => pattern.exec(name)?.slice(1).map(Number) ?? []).filter(alive);
}

/**
 * Writes the file `name` into `users`, making the directory first. A pruner removes the directory
 * once it is empty (forgetUsers), possibly between the two steps: then both are made again.
 */
async function writeInto(users: string, name: string): Promise<string> {
  const path = join(users, name);
  for (;;) {
    await mkdir(users, { mode: 0o700 }).catch((cause: unknown) => (errnoOf(cause) === 'EEXIST' ? undefined : Promise.reject(cause)));
    try {
      await writeFile(path, '');
      return path;
    } catch (cause) {
      if (errnoOf(cause) !== 'ENOENT') throw cause;
    }
  }
}

/** Removes `users` if nothing is left in it; another process may have just written its file there. */
async function removeIfEmpty(users: string): Promise<void> {
  await rmdir(users).catch((cause: unknown) => (['ENOTEMPTY', 'EEXIST', 'ENOENT'].includes(errnoOf(cause) ?? '') ? undefined : Promise.reject(cause)));
}

/** The markers this process holds, removed when it exits. */
const heldMarkers = new Set<string>();
let removingOnExit = false;

function holdUntilExit(marker: string): void {
  if (!removingOnExit) process.once('exit', () => heldMarkers.forEach((path) => rmSync(path, { force: true })));
  removingOnExit = true;
  heldMarkers.add(marker);
}

export interface TreeUse {
  /** Ends the use early, for a tree that was never made (its extraction failed): nothing of it stays. */
  abandon(): Promise<void>;
}

/**
 * Marks `tree` as used by this process from now until it exits, once no pruner is deciding about
 * it: afterwards the tree is either there and stays, or is not there. Call it before looking.
 */
export async function useTree(tree: string, alive: (pid: number) => boolean = processAlive, waitMs = CLAIM_WAIT_MS): Promise<TreeUse> {
  const users = usersDirectory(tree);
  const marker = await writeInto(users, String(process.pid));
  holdUntilExit(marker);
  const deadline = Date.now() + waitMs;
  for (let pruners = await livePids(users, 'claim', alive); pruners.length > 0; pruners = await livePids(users, 'claim', alive)) {
    if (Date.now() >= deadline) {
      const claim = join(users, claimName(pruners[0]!));
      throw new Error(`${claim}: process ${pruners[0]} has been deciding for more than ${waitMs / 1000} s whether to remove ${tree}; if it is stuck, remove that file`);
    }
    await sleep(CLAIM_POLL_MS);
  }
  await markUsed(users);
  return {
    async abandon() {
      heldMarkers.delete(marker);
      await rm(marker, { force: true });
      await removeIfEmpty(users);
    },
  };
}

export interface Claim {
  /** Lets users in again: call it once the tree has been renamed away (or was not). */
  release(): Promise<void>;
}

/**
 * Whether a live process uses `tree`, as far as can be seen without a claim. A pruner asks first:
 * writing a claim and removing it refreshes the tree's last use, which should record uses only.
 */
export async function inUse(tree: string, alive: (pid: number) => boolean = processAlive): Promise<boolean> {
  return (await livePids(usersDirectory(tree), 'user', alive)).length > 0;
}

/** Claims `tree` for removal; undefined, and no claim, when a live process uses it. */
export async function claimTree(tree: string, alive: (pid: number) => boolean = processAlive): Promise<Claim | undefined> {
  const claim = await writeInto(usersDirectory(tree), claimName(process.pid));
  const release = () => rm(claim, { force: true });
  if (await inUse(tree, alive)) {
    await release();
    return undefined;
  }
  return { release };
}

/**
 * Removes the record of users of a tree that is gone: the files of dead processes, then the
 * directory unless a live process has written its file there since.
 */
export async function forgetUsers(tree: string, alive: (pid: number) => boolean = processAlive): Promise<void> {
  const users = usersDirectory(tree);
  for (const name of await readdir(users).catch(() => [])) {
    const pid = Number(/^(?:removing-)?(\d+)$/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || !alive(pid)) await rm(join(users, name), { force: true });
  }
  await removeIfEmpty(users);
}
