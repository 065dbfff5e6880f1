// Finding the kernel a rootfs directory would boot, and its modules.
// Paths are resolved the way the guest will see them: the rootfs is `/`, so
// an absolute symlink (merged-usr `lib -> /usr/lib`, Fedora's
// `/boot/vmlinuz-V -> /usr/lib/modules/V/vmlinuz`) must never reach the host's
// files of the same name.

import { lstat, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { compareVersions } from './version.ts';

export interface KernelCandidate {
  /** Host path of the kernel image, symlinks resolved inside the rootfs. */
  kernel: string;
  version: string;
  /** Host path of the matching modules directory; null when the rootfs has none. */
  moddir: string | null;
  /** Where it was found, relative to the rootfs (for messages). */
  found: string;
}

export interface PickedKernel {
  kernel: string;
  version: string;
  moddir: string;
  note?: string;
}

// Linux's own limit (MAXSYMLINKS) on links followed in one lookup.
const MAX_SYMLINKS = 40;

const isMissing = (err: unknown): boolean => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

/**
 * Host path of `rel` inside `root`, following symlinks as if `root` were `/`
 * (absolute targets restart at `root`, `..` stops there); null when missing.
 */
export async function resolveInRoot(root: string, rel: string): Promise<string | null> {
  let pending = rel.split('/');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending[0];
    pending = pending.slice(1);
    if (part === '' || part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, part);
    let isLink: boolean;
    try {
      isLink = (await lstat(host)).isSymbolicLink();
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw new Error(`${rel} in ${root}: more than ${MAX_SYMLINKS} symlinks (a loop?)`);
    const target = await readlink(host);
    if (target.startsWith('/')) done.length = 0;
    pending = [...target.split('/'), ...pending];
  }
  return join(root, ...done);
}

async function resolveKind(root: string, rel: string, kind: 'file' | 'dir'): Promise<string | null> {
  const path = await resolveInRoot(root, rel);
  if (path === null) return null;
  const st = await stat(path);
  return (kind === 'file' ? st.isFile() : st.isDirectory()) ? path : null;
}

async function list(root: string, rel: string): Promise<string[]> {
  const dir = await resolveKind(root, rel, 'dir');
  return dir === null ? [] : (await readdir(dir)).sort();
}

// Where distributions keep a kernel's modules, most specific first: on
// merged-usr systems `lib/modules` is the same directory reached through a link.
export const MODDIR_PLACES = ['usr/lib/modules', 'lib/modules'];

export async function moddirFor(root: string, version: string): Promise<string | null> {
  for (const place of MODDIR_PLACES) {
    const dir = await resolveKind(root, `${place}/${version}`, 'dir');
    if (dir !== null) return dir;
  }
  return null;
}

const LOOKED_AT = 'usr/lib/modules/*/vmlinuz and boot/vmlinuz-*';

/** Where a kernel of each version would be, relative to the rootfs, whether or not it is there. */
async function kernelPlaces(rootfs: string): Promise<Array<{ rel: string; version: string }>> {
  return [
    ...(await list(rootfs, 'usr/lib/modules')).map((v) => ({ rel: `usr/lib/modules/${v}/vmlinuz`, version: v })),
    ...(await list(rootfs, 'boot'))
      .filter((name) => name.startsWith('vmlinuz-'))
      .map((name) => ({ rel: `boot/${name}`, version: name.slice('vmlinuz-'.length) })),
  ];
}

/** Why an entry named like a kernel is not one to boot; undefined when there is no such entry. */
async function whyUnusable(rootfs: string, rel: string): Promise<string | undefined> {
  const entry = await lstat(join(rootfs, rel)).catch(() => undefined);
  if (entry === undefined) return undefined;
  const path = await resolveInRoot(rootfs, rel);
  if (path === null) return 'a dangling symlink';
  return (await stat(path)).isDirectory() ? 'a directory' : 'not a regular file';
}

/** Kernels in `rootfs`, newest first, one per version (usr/lib/modules/V/vmlinuz before boot/vmlinuz-V). */
export async function findKernels(rootfs: string): Promise<KernelCandidate[]> {
  const found = await kernelPlaces(rootfs);
  const byVersion = new Map<string, KernelCandidate>();
  for (const { rel, version } of found) {
    if (byVersion.has(version)) continue;
    const kernel = await resolveKind(rootfs, rel, 'file');
    if (kernel === null) continue;
    byVersion.set(version, { kernel, version, moddir: await moddirFor(rootfs, version), found: rel });
  }
  return [...byVersion.values()].sort((a, b) => compareVersions(b.version, a.version));
}

/** The newest kernel of `rootfs` that has a modules directory; `note` names the ones passed over. */
export async function pickKernel(rootfs: string): Promise<PickedKernel> {
  const candidates = await findKernels(rootfs);
  if (candidates.length === 0) {
    // Something named like a kernel that is not one (a directory, a dangling link) is said, or the
    // message would deny a file the user can see.
    const unusable: string[] = [];
    for (const { rel } of await kernelPlaces(rootfs)) {
      const why = await whyUnusable(rootfs, rel);
      if (why) unusable.push(`${rel} (${why})`);
    }
    throw new Error(`no kernel found in ${rootfs}: looked for ${LOOKED_AT}${unusable.length > 0 ? `; unusable: ${unusable.join(', ')}` : ''}`);
  }
  const chosen = candidates.find((c) => c.moddir !== null);
  if (chosen === undefined || chosen.moddir === null) {
    const names = candidates.map((c) => c.found).join(', ');
    throw new Error(
      `no kernel in ${rootfs} has its modules: found ${names}, but none of ${MODDIR_PLACES.map((p) => `${p}/VERSION`).join(', ')}`,
    );
  }
  const picked: PickedKernel = { kernel: chosen.kernel, version: chosen.version, moddir: chosen.moddir };
  const skipped = candidates
    .filter((c) => c !== chosen)
    .map((c) => `${c.found} (${c.moddir === null ? 'no module directory' : 'older'})`);
  if (skipped.length > 0) picked.note = `using kernel ${chosen.version} from ${chosen.found}; skipped ${skipped.join(', ')}`;
  return picked;
}
