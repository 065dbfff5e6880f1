/**
 * Directories that belong to one run, named `<prefix>-<pid>-<random>`. A run killed with SIGKILL
 * cannot remove its own; the next run removes those whose process is gone, never a live run's,
 * and only its own user's (a shared /tmp holds other users' runs too).
 */
import { lstat, mkdtemp, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { removeTree } from './remove-tree.ts';
import { processAlive } from './processes.ts';

export async function makeRunDirectory(parent: string, prefix: string): Promise<string> {
  await removeDeadRunDirectories(parent, prefix);
  return mkdtemp(join(parent, `${prefix}-${process.pid}-`));
}

/** The run that made a directory, from its name; undefined for any other name. */
export function runDirectoryOwner(name: string, prefix: string): number | undefined {
  if (!name.startsWith(`${prefix}-`)) return undefined;
  const match = /^(\d+)-[^-]+$/.exec(name.slice(prefix.length + 1));
  return match ? Number(match[1]) : undefined;
}

export async function removeDeadRunDirectories(parent: string, prefix: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(parent).catch(() => [])) {
    const owner = runDirectoryOwner(name, prefix);
    if (owner === undefined || processAlive(owner)) continue;
    const path = join(parent, name);
    const info = await lstat(path).catch(() => undefined);
    if (!info?.isDirectory() || info.uid !== process.getuid?.()) continue;
    await removeTree(path).catch(() => {});
    removed.push(path);
  }
  return removed;
}
