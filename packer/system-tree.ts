/**
 * A whole directory tree as initramfs entries (mkvirtinitrd --rootfs): every file, directory,
 * symlink, hard link and device with its mode, owner and mtime. Symlinks are recorded, never
 * followed, so nothing outside the tree is read; sockets and fifos are skipped (a running system
 * makes its own) and reported.
 */
import type { Stats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { deviceNumbers } from '../init/device-numbers.ts';
import type { EntryMeta, InitrdEntry } from './index.ts';

export interface SystemTree {
  entries: InitrdEntry[];
  /** Paths left out, with why. */
  skipped: string[];
}

/** The ids whose files are recorded as root's (mkvirtinitrd --map-root-user): a user's own tree, as a user namespace would show it. */
export interface RootOwner {
  uid: number;
  gid: number;
}

/** A host file's owner and mtime as its entry records them. */
export function entryMeta(stat: Stats, rootOwner?: RootOwner): EntryMeta {
  return {
    uid: rootOwner && stat.uid === rootOwner.uid ? 0 : stat.uid,
    gid: rootOwner && stat.gid === rootOwner.gid ? 0 : stat.gid,
    mtime: Math.floor(stat.mtimeMs / 1000),
  };
}

export async function systemTree(root: string, rootOwner?: RootOwner): Promise<SystemTree> {
  const entries: InitrdEntry[] = [];
  const skipped: string[] = [];
  // The first path seen of each multiply-linked inode; later names become hard links to it.
  const firstLink = new Map<number, string>();
  const walk = async (guestPath: string): Promise<void> => {
    const names = (await readdir(join(root, guestPath))).sort();
    for (const name of names) {
      const path = posix.join(guestPath, name);
      const host = join(root, path);
      const stat = await lstat(host);
      const meta = entryMeta(stat, rootOwner);
      const mode = stat.mode & 0o7777;
      const why = 'the system';
      if (stat.isDirectory()) {
        entries.push({ kind: 'dir', path, mode, why, meta });
        await walk(path);
      } else if (stat.isSymbolicLink()) {
        entries.push({ kind: 'symlink', path, target: await readlink(host), why, meta });
      } else if (stat.isFile()) {
        const first = stat.nlink > 1 ? firstLink.get(stat.ino) : undefined;
        if (first) {
          entries.push({ kind: 'hardlink', path, target: first, why });
        } else {
          if (stat.nlink > 1) firstLink.set(stat.ino, path);
          entries.push({ kind: 'file', path, source: host, mode, why, meta });
        }
      } else if (stat.isCharacterDevice() || stat.isBlockDevice()) {
        const type = stat.isCharacterDevice() ? 'char' : 'block';
        entries.push({ kind: 'device', path, type, ...deviceNumbers(stat.rdev), mode, why, meta });
      } else {
        skipped.push(`${path} (${stat.isFIFO() ? 'a fifo' : 'a socket'})`);
      }
    }
  };
  await walk('/');
  return { entries, skipped };
}
