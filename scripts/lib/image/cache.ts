/**
 * The cache of extracted trees: `<cacheDir>/rootfs/<algorithm>-<hex>/`, one per image. A tree is
 * built in a temporary directory beside it and renamed into place only when complete, so a path
 * that exists is a whole tree; what a killed run left behind is removed by the next run.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheDirectory } from '../initrd-cache.ts';
import { makeDirectory } from '../make-directory.ts';
import { processAlive } from '../processes.ts';
import { removeTree } from '../remove-tree.ts';
import type { Digest } from './digest.ts';

const TEMPORARY_PREFIX = '.tmp-';

export function rootfsCacheDirectory(cacheDir: string = cacheDirectory()): string {
  return join(cacheDir, 'rootfs');
}

/** `sha256-HEX`: no `:`, which qemu and virtiofsd option strings treat specially. */
export function cacheEntryName({ algorithm, hex }: Digest): string {
  return `${algorithm}-${hex}`;
}

export function temporaryName(entry: string, pid: number, random: string): string {
  return `${TEMPORARY_PREFIX}${entry}-${pid}-${random}`;
}

/** The pid that made a temporary directory, from its name; undefined for any other name. */
export function temporaryOwner(name: string): number | undefined {
  const match = /^\.tmp-.+-(\d+)-[0-9a-f]+$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** Removes the temporary directories of runs that are no longer alive; returns their names. */
export async function removeStaleTemporaries(directory: string, alive: (pid: number) => boolean = processAlive): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(directory).catch(() => [])) {
    const owner = temporaryOwner(name);
    if (owner === undefined || alive(owner)) continue;
    await removeTree(join(directory, name));
    removed.push(name);
  }
  return removed;
}

export interface Temporary {
  path: string;
  /** Removes the directory; safe to call more than once. */
  dispose(): Promise<void>;
}

/**
 * A fresh temporary directory in `directory` for building `entry`. It is also removed if the
 * process exits midway (the CLIs turn SIGINT/SIGTERM into an exit).
 */
export async function makeTemporary(directory: string, entry: string): Promise<Temporary> {
  await makeDirectory(directory, 0o700);
  const path = join(directory, temporaryName(entry, process.pid, randomBytes(4).toString('hex')));
  await mkdir(path, { mode: 0o700 });
  const removeOnExit = () => rmSync(path, { recursive: true, force: true });
  process.once('exit', removeOnExit);
  return {
    path,
    async dispose() {
      process.removeListener('exit', removeOnExit);
      await removeTree(path);
    },
  };
}

/**
 * Moves a finished tree to its cache path. Another run may have published the same image first:
 * then its tree stays (same digest, same contents) and ours is left for the caller to remove.
 */
export async function publish(tree: string, final: string): Promise<'published' | 'already-there'> {
  try {
    await rename(tree, final);
    return 'published';
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return 'already-there';
    throw cause;
  }
}
