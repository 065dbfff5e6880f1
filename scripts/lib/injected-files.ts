/**
 * Host files added to a whole system (mkvirtinitrd --inject HOSTPATH:GUESTPATH), as podman's COPY
 * puts them: owned by root, with the file's own mode (an executable stays executable). The guest
 * path is followed through the system's own directory symlinks (/bin -> usr/bin), so the file
 * lands where the system looks; directories the system lacks are made.
 */
import { lstat, stat } from 'node:fs/promises';
import { posix, relative } from 'node:path';
import type { InitrdEntry } from '../../packer/index.ts';
import { resolveInRoot } from './kernels.ts';
import type { Injection } from './mkvirtinitrd-args.ts';

const ROOT_OWNED = { uid: 0, gid: 0 };

/** The directory `directory` of the system names, symlinks followed inside it; the part that does not exist yet is returned as spelled. */
async function systemDirectory(systemRoot: string, directory: string, what: string): Promise<{ path: string; missing: string[] }> {
  let path = '/';
  const parts = directory.split('/').filter(Boolean);
  for (const [index, part] of parts.entries()) {
    const resolved = await resolveInRoot(systemRoot, posix.join(path, part));
    if (resolved === null) {
      const missing = parts.slice(index).map((_, i) => posix.join(path, ...parts.slice(index, index + i + 1)));
      return { path: posix.join(path, ...parts.slice(index)), missing };
    }
    if (!(await stat(resolved)).isDirectory()) throw new Error(`${what}: ${posix.join(path, part)} is not a directory in the system`);
    path = `/${relative(systemRoot, resolved)}`;
  }
  return { path, missing: [] };
}

/** The entries for `injections`: each file after the directories it needs; a later one at the same path wins. */
export async function injectedEntries(systemRoot: string, injections: readonly Injection[]): Promise<InitrdEntry[]> {
  const entries: InitrdEntry[] = [];
  const made = new Set<string>();
  for (const { hostPath, guestPath } of injections) {
    const what = `--inject ${hostPath}:${guestPath}`;
    const info = await stat(hostPath).catch((cause: NodeJS.ErrnoException) => {
      throw new Error(`${what}: ${hostPath}: ${cause.code === 'ENOENT' ? 'no such file' : cause.message}`);
    });
    if (!info.isFile()) throw new Error(`${what}: ${hostPath} is not a regular file`);
    const directory = await systemDirectory(systemRoot, posix.dirname(guestPath), what);
    const path = posix.join(directory.path, posix.basename(guestPath));
    const existing = await lstat(posix.join(systemRoot, path)).catch(() => undefined);
    if (existing?.isDirectory()) throw new Error(`${what}: ${path} is a directory in the system`);
    for (const missing of directory.missing.filter((dir) => !made.has(dir))) {
      made.add(missing);
      entries.push({ kind: 'dir', path: missing, mode: 0o755, why: `made for ${what}`, meta: { ...ROOT_OWNED, mtime: 0 } });
    }
    const earlier = entries.findIndex((entry) => entry.path === path);
    if (earlier !== -1) entries.splice(earlier, 1);
    entries.push({ kind: 'file', path, source: hostPath, mode: info.mode & 0o7777, why: what, meta: { ...ROOT_OWNED, mtime: Math.floor(info.mtimeMs / 1000) } });
  }
  return entries;
}
