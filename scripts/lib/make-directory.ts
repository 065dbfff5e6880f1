/**
 * mkdir -p for cache directories the user names (XDG_CACHE_HOME). Node's own recursive mkdir loops
 * forever when a parent cannot hold a directory although it exists (under /proc: ENOENT for the
 * child, EEXIST for the parent); this one walks down from the first existing directory and fails
 * naming the directory it could not make.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errnoOf } from '../../init/sys/errors.ts';

export async function makeDirectory(path: string, mode = 0o777): Promise<void> {
  const missing: string[] = [];
  for (let at = path; ; at = dirname(at)) {
    // ENOTDIR: a parent is a file, which the walk up reaches and names.
    const info = await stat(at).catch((cause: unknown) => (['ENOENT', 'ENOTDIR'].includes(errnoOf(cause) ?? '') ? undefined : Promise.reject(cause)));
    if (info?.isDirectory()) break;
    if (info) throw new Error(`cannot make the directory ${path}: ${at} is not a directory`);
    missing.unshift(at);
    if (dirname(at) === at) break;
  }
  for (const directory of missing) {
    await mkdir(directory, { mode }).catch((cause: unknown) => {
      if (errnoOf(cause) !== 'EEXIST') throw new Error(`cannot make the directory ${directory}: ${errnoOf(cause) ?? cause}`);
    });
  }
}
