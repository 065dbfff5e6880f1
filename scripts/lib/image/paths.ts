/**
 * Where a tar entry may land. Entry names are taken relative to the root (a leading `/` is how
 * some tools write them), `..` is refused outright, and the directories above an entry are
 * resolved the way the guest kernel will see them: symlinks are followed with the root as `/`
 * and `..` stopping at the root, so `link/file` with `link -> /` or `link -> ../..` lands inside.
 */
import { limitExceeded } from './limits.ts';

export class UnsafePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafePathError';
  }
}

// NAME_MAX of every Linux file system the tree can live on.
const NAME_MAX = 255;
// The kernel's own bound on symlinks followed in one lookup (ELOOP beyond it).
export const MAX_SYMLINK_HOPS = 40;

/** The components of a tar entry name below the root; `[]` is the root itself. */
export function entrySegments(name: string, maxPathLength: number, what = 'tar entry'): string[] {
  if (Buffer.byteLength(name) > maxPathLength) {
    throw limitExceeded('maxPathLength', maxPathLength, `${what} "${name.slice(0, 64)}…"`, `the name length (${Buffer.byteLength(name)} bytes)`);
  }
  if (name.includes('\0')) throw new UnsafePathError(`${what} "${name}" has a NUL byte in its name`);
  const segments = name.split('/').filter((part) => part !== '' && part !== '.');
  if (segments.includes('..')) {
    throw new UnsafePathError(`${what} "${name}" has a ".." component: refusing a path that could lead outside the root`);
  }
  const long = segments.find((part) => Buffer.byteLength(part) > NAME_MAX);
  if (long) throw new UnsafePathError(`${what} "${name}" has a component longer than ${NAME_MAX} bytes`);
  return segments;
}

export type Probe =
  | { kind: 'directory' }
  | { kind: 'symlink'; target: string }
  | { kind: 'missing' }
  | { kind: 'other' };

export interface ResolvedDirectory {
  /** Real directory components under the root: no symlinks, no `..`. */
  path: string[];
  /** path[0..existing) exist as directories; the rest are to be created. */
  existing: number;
}

/**
 * The real directory that `segments` names inside the root. `probe(relative)` reports what is at a
 * path relative to the root without following it. Never yields a path outside the root: absolute
 * symlink targets restart at the root and `..` at the root stays there, as in a chroot.
 */
export function resolveDirectory(segments: readonly string[], probe: (relative: string) => Probe, entry: string): ResolvedDirectory {
  const path: string[] = [];
  let missingFrom = -1;
  const pending = [...segments];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      path.pop();
      if (missingFrom >= path.length) missingFrom = -1;
      continue;
    }
    if (missingFrom >= 0) {
      path.push(part);
      continue;
    }
    const here = [...path, part].join('/');
    const found = probe(here);
    switch (found.kind) {
      case 'directory':
        path.push(part);
        break;
      case 'missing':
        missingFrom = path.length;
        path.push(part);
        break;
      case 'symlink':
        hops += 1;
        if (hops > MAX_SYMLINK_HOPS) {
          throw new UnsafePathError(`tar entry "${entry}": more than ${MAX_SYMLINK_HOPS} symlinks followed at ${here} (a symlink loop)`);
        }
        if (found.target.startsWith('/')) path.length = 0;
        pending.unshift(...found.target.split('/'));
        break;
      case 'other':
        throw new UnsafePathError(`tar entry "${entry}": ${here} is not a directory`);
    }
  }
  return { path, existing: missingFrom >= 0 ? missingFrom : path.length };
}
