/**
 * What the caches' memos trust a file by: while its inode, size and mtime are the same, it is the
 * file they saw (package managers replace files by rename, editors and builds rewrite them), the
 * way git trusts its index.
 */
import type { Stats } from 'node:fs';

export interface FileIdentity {
  ino: number;
  size: number;
  mtimeMs: number;
}

export function identityOf({ ino, size, mtimeMs }: Stats): FileIdentity {
  return { ino, size, mtimeMs };
}

export function sameIdentity(known: FileIdentity | undefined, current: FileIdentity | undefined): boolean {
  return known !== undefined && current !== undefined && known.ino === current.ino && known.size === current.size && known.mtimeMs === current.mtimeMs;
}
