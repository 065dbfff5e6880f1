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

/**
 * Removes all but the `keep` most recently used files in `directory` whose names match `entry`
 * and returns their paths. Nothing else there is touched.
 */
export async function pruneLeastRecentlyUsed(directory: string, entry: RegExp, keep: number): Promise<string[]> {
  const entries: { path: string; used: number }[] = [];
  for (const name of (await readdir(directory)).filter((name) => entry.test(name))) {
    const path = join(directory, name);
    // Another run may have pruned it meanwhile.
    const info = await stat(path).catch(() => undefined);
    if (info) entries.push({ path, used: info.mtimeMs });
  }
  const stale = entries.sort((a, b) => b.used - a.used || a.path.localeCompare(b.path)).slice(keep).map((entry) => entry.path);
  await Promise.all(stale.map((path) => rm(path, { force: true })));
  return stale;
}
