/**
 * The caches' bound: keep the most recently used entries of one kind, drop the rest. "Used" is the
 * file's mtime, which a cache hit refreshes (markUsed), so a cache never grows past `keep` entries
 * of that kind however many inits, kernels or kernel builds pass through it.
 */
import { readdir, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';

/** Records that the cached file at `path` was used now. */
export async function markUsed(path: string): Promise<void> {
  const now = new Date();
  await utimes(path, now, now);
}

/** When `path` was last used (its mtime, in ms), or undefined when it is gone. */
export async function modified(path: string): Promise<number | undefined> {
  return stat(path).then(
    (info) => info.mtimeMs,
    () => undefined,
  );
}

/**
 * The paths in `directory` whose names match `entry` beyond the `keep` most recently used, the
 * more recently used first. `lastUsed` says when an entry was used, undefined when it is gone.
 */
export async function leastRecentlyUsed(
  directory: string,
  entry: RegExp,
  keep: number,
  lastUsed: (path: string) => Promise<number | undefined> = modified,
): Promise<string[]> {
  const entries: { path: string; used: number }[] = [];
  for (const name of (await readdir(directory)).filter((name) => entry.test(name))) {
    const path = join(directory, name);
    // Another run may have pruned it meanwhile.
    const used = await lastUsed(path);
    if (used !== undefined) entries.push({ path, used });
  }
  return entries
    .sort((a, b) => b.used - a.used || a.path.localeCompare(b.path))
    .slice(keep)
    .map((entry) => entry.path);
}

/**
 * Removes all but the `keep` most recently used files in `directory` whose names match `entry`
 * and returns their paths. Nothing else there is touched.
 */
export async function pruneLeastRecentlyUsed(directory: string, entry: RegExp, keep: number): Promise<string[]> {
  const stale = await leastRecentlyUsed(directory, entry, keep);
  await Promise.all(stale.map((path) => rm(path, { force: true })));
  return stale;
}
