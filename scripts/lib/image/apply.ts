/**
 * Writes layer tars into one directory tree, in order, as overlayfs would show them stacked:
 * whiteouts delete from lower layers, a later entry replaces an earlier one of another type, and
 * directories merge. Every path goes through paths.ts, so nothing lands outside the root.
 *
 * Directory modes, owners and times are applied once at the end, deepest first: a directory
 * written 0555 early would stop later entries being created in it (for a non-root user), and
 * every entry written into a directory changes its mtime.
 */
import { execFile } from 'node:child_process';
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { chmod, chown, lchown, link, lstat, lutimes, mkdir, open, rm, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type tar from 'tar-stream';
import type { Budget } from './limits.ts';
import { entrySegments, resolveDirectory, UnsafePathError, type Probe } from './paths.ts';
import { recordLayerPath, splitOpaqueChildren, whiteoutOf, type Whiteout } from './whiteout.ts';

const run = promisify(execFile);

interface Attributes {
  mode: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
}

// A directory the archive never described (the parent of `a/b` when `a/` has no entry of its own).
const IMPLICIT_DIRECTORY: Attributes = { mode: 0o755 };
const DEVICE_TYPES = { 'character-device': 'c', 'block-device': 'b', fifo: 'p' } as const;
const SKIP_DEVICES = 'device nodes and fifos (creating them needs root)';
const OWNERS_OUTSIDE_NAMESPACE = "owners outside the user namespace's ids (left as the user's)";

function attributesOf(header: tar.Headers): Attributes {
  return {
    mode: (header.mode ?? 0o644) & 0o7777,
    ...(header.uid !== undefined ? { uid: header.uid } : {}),
    ...(header.gid !== undefined ? { gid: header.gid } : {}),
    ...(header.mtime ? { mtime: header.mtime } : {}),
  };
}

function isUnder(path: string, top: string): boolean {
  return top === '' || path === top || path.startsWith(`${top}/`);
}

export interface TreeWriterOptions {
  /** Whether to chown: root may, and root of a user namespace for the ids it maps. */
  chown: boolean;
  /** Whether to create device nodes and fifos: only the host's root may. */
  deviceNodes: boolean;
  budget: Budget;
}

export class TreeWriter {
  readonly root: string;
  private readonly options: TreeWriterOptions;
  private readonly budget: Budget;
  // Real directories (relative paths) seen since they were last changed: saves an lstat per
  // parent per entry in big layers.
  private readonly knownDirectories = new Set<string>();
  private readonly directories = new Map<string, Attributes>();
  // Everything the current layer wrote, with its parents: an opaque marker or a whiteout in this
  // layer applies only to what lower layers left.
  private layerPaths = new Set<string>();
  private readonly skipped = new Map<string, number>();

  constructor(root: string, options: TreeWriterOptions) {
    this.root = root;
    this.options = options;
    this.budget = options.budget;
  }

  beginLayer(): void {
    this.layerPaths = new Set();
  }

  async write(entry: tar.Entry): Promise<void> {
    const { header } = entry;
    this.budget.entry(header.name);
    const segments = entrySegments(header.name, this.budget.limits.maxPathLength);
    const whiteout = whiteoutOf(segments, header.name);
    if (whiteout) return this.applyWhiteout(whiteout, header.name);
    if (segments.length === 0) {
      if (header.type !== 'directory') throw new UnsafePathError(`tar entry "${header.name}" (${header.type}) names the root itself`);
      this.directories.set('', attributesOf(header));
      return;
    }
    const type = header.type ?? 'file';
    if (type in DEVICE_TYPES && !this.options.deviceNodes) return this.skip(SKIP_DEVICES);
    if (!['directory', 'file', 'contiguous-file', 'symlink', 'link', ...Object.keys(DEVICE_TYPES)].includes(type)) {
      return this.skip(`entries of type ${type}`);
    }
    const parent = await this.makeParents(segments.slice(0, -1), header.name);
    const path = [...parent, segments.at(-1) as string];
    const relative = path.join('/');
    const absolute = join(this.root, relative);
    if (type === 'link') {
      const target = this.hardLinkTarget(header);
      if (target !== relative) {
        await this.clear(relative, false);
        await link(join(this.root, target), absolute);
      }
    } else if (type === 'directory') {
      if (!(await this.clear(relative, true))) await mkdir(absolute, { mode: 0o700 });
      this.knownDirectories.add(relative);
      this.directories.set(relative, attributesOf(header));
    } else {
      await this.clear(relative, false);
      if (type === 'symlink') await this.writeSymlink(absolute, header);
      else if (type in DEVICE_TYPES) await this.writeDevice(absolute, header, DEVICE_TYPES[type as keyof typeof DEVICE_TYPES]);
      else await this.writeFile(absolute, entry);
    }
    recordLayerPath(this.layerPaths, path);
  }

  /** Applies the directories' own attributes; returns the warnings of the whole extraction. */
  async finish(): Promise<string[]> {
    if (!this.directories.has('')) this.directories.set('', IMPLICIT_DIRECTORY);
    const depth = (relative: string) => (relative === '' ? 0 : relative.split('/').length);
    const deepestFirst = [...this.directories].sort(([a], [b]) => depth(b) - depth(a));
    for (const [relative, attributes] of deepestFirst) {
      const absolute = join(this.root, relative);
      const info = await lstat(absolute).catch(() => undefined);
      if (!info?.isDirectory()) continue;
      await this.own(absolute, attributes, chown);
      await chmod(absolute, attributes.mode);
      if (attributes.mtime) await utimes(absolute, attributes.mtime, attributes.mtime);
    }
    return [...this.skipped].map(([what, count]) => `skipped ${count} ${what}`);
  }

  /**
   * Gives `path` the entry's owner, when we may. In a user namespace an id it does not map cannot
   * be set (EINVAL): the entry stays the user's, and the warnings count it.
   */
  private async own(path: string, { uid, gid }: { uid?: number; gid?: number }, change: typeof chown): Promise<void> {
    if (!this.options.chown || uid === undefined) return;
    await change(path, uid, gid ?? 0).catch((cause: NodeJS.ErrnoException) => {
      if (cause.code !== 'EINVAL') throw cause;
      this.skip(OWNERS_OUTSIDE_NAMESPACE);
    });
  }

  private skip(what: string): void {
    this.skipped.set(what, (this.skipped.get(what) ?? 0) + 1);
  }

  private probe(relative: string): Probe {
    if (this.knownDirectories.has(relative)) return { kind: 'directory' };
    const info = lstatSync(join(this.root, relative), { throwIfNoEntry: false });
    if (!info) return { kind: 'missing' };
    if (info.isDirectory()) {
      this.knownDirectories.add(relative);
      return { kind: 'directory' };
    }
    if (info.isSymbolicLink()) return { kind: 'symlink', target: readlinkSync(join(this.root, relative)) };
    return { kind: 'other' };
  }

  /** The real path of directory `segments`, creating what is missing. */
  private async makeParents(segments: readonly string[], entry: string): Promise<string[]> {
    const { path, existing } = resolveDirectory(segments, (relative) => this.probe(relative), entry);
    for (let depth = existing + 1; depth <= path.length; depth += 1) {
      const relative = path.slice(0, depth).join('/');
      await mkdir(join(this.root, relative), { mode: 0o700 });
      this.knownDirectories.add(relative);
      if (!this.directories.has(relative)) this.directories.set(relative, IMPLICIT_DIRECTORY);
    }
    return path;
  }

  /** Removes what is at `relative`, unless both it and the new entry are directories (true then). */
  private async clear(relative: string, keepDirectory: boolean): Promise<boolean> {
    const info = lstatSync(join(this.root, relative), { throwIfNoEntry: false });
    if (!info) return false;
    if (info.isDirectory() && keepDirectory) return true;
    await this.remove(relative, info.isDirectory());
    return false;
  }

  private async remove(relative: string, isDirectory: boolean): Promise<void> {
    await rm(join(this.root, relative), { recursive: true, force: true });
    if (!isDirectory) return;
    for (const known of this.knownDirectories) if (isUnder(known, relative)) this.knownDirectories.delete(known);
    for (const known of this.directories.keys()) if (isUnder(known, relative)) this.directories.delete(known);
  }

  /** A hard link's target, relative to the root: it must be a non-directory already extracted. */
  private hardLinkTarget(header: tar.Headers): string {
    const what = `hard link "${header.name}" to "${header.linkname ?? ''}"`;
    const segments = entrySegments(header.linkname ?? '', this.budget.limits.maxPathLength, what);
    if (segments.length === 0) throw new UnsafePathError(`${what}: the target is the root`);
    const parent = resolveDirectory(segments.slice(0, -1), (relative) => this.probe(relative), header.name);
    const target = [...parent.path, segments.at(-1) as string].join('/');
    const info = parent.existing === parent.path.length ? lstatSync(join(this.root, target), { throwIfNoEntry: false }) : undefined;
    if (!info) throw new Error(`${what}: the target was not extracted before the link`);
    if (info.isDirectory()) throw new UnsafePathError(`${what}: the target is a directory`);
    return target;
  }

  private async setAttributes(path: string, header: tar.Headers): Promise<void> {
    const { mode, uid, gid, mtime } = attributesOf(header);
    // chown before chmod: chown clears the setuid and setgid bits.
    await this.own(path, { uid, gid }, chown);
    await chmod(path, mode);
    if (mtime) await utimes(path, mtime, mtime);
  }

  private async writeFile(absolute: string, entry: tar.Entry): Promise<void> {
    this.budget.data(entry.header.size ?? 0, entry.header.name);
    // 'wx' (O_CREAT|O_EXCL) never follows a symlink at the name; clear() removed whatever was there.
    const handle = await open(absolute, 'wx', 0o600);
    try {
      for await (const chunk of entry) await handle.write(chunk as Buffer);
    } finally {
      await handle.close();
    }
    await this.setAttributes(absolute, entry.header);
  }

  private async writeSymlink(absolute: string, header: tar.Headers): Promise<void> {
    if (!header.linkname) throw new Error(`symlink "${header.name}" has no target`);
    await symlink(header.linkname, absolute);
    await this.own(absolute, header, lchown);
    if (header.mtime) await lutimes(absolute, header.mtime, header.mtime);
  }

  private async writeDevice(absolute: string, header: tar.Headers, kind: 'c' | 'b' | 'p'): Promise<void> {
    // Node has no mknod(2); coreutils' mknod creates the node without following anything.
    const numbers = kind === 'p' ? [] : [String(header.devmajor ?? 0), String(header.devminor ?? 0)];
    await run('mknod', [absolute, kind, ...numbers]).catch((cause: Error) => {
      throw new Error(`${header.type} "${header.name}": mknod failed: ${cause.message.trim()}`);
    });
    await this.setAttributes(absolute, header);
  }

  private async applyWhiteout(whiteout: Whiteout, entry: string): Promise<void> {
    if (whiteout.kind === 'internal') return;
    const directory = whiteout.kind === 'opaque' ? whiteout.directory : whiteout.path.slice(0, -1);
    const parent = resolveDirectory(directory, (relative) => this.probe(relative), entry);
    // Nothing below a directory that does not exist to delete.
    if (parent.existing < parent.path.length) return;
    if (whiteout.kind === 'opaque') {
      recordLayerPath(this.layerPaths, parent.path);
      return this.pruneLower(parent.path.join('/'));
    }
    const victim = [...parent.path, whiteout.path.at(-1) as string].join('/');
    if (this.layerPaths.has(victim)) return;
    const info = lstatSync(join(this.root, victim), { throwIfNoEntry: false });
    if (info) await this.remove(victim, info.isDirectory());
  }

  private async pruneLower(directory: string): Promise<void> {
    const { remove, keep } = splitOpaqueChildren(directory, readdirSync(join(this.root, directory)), this.layerPaths);
    for (const path of remove) await this.remove(path, lstatSync(join(this.root, path)).isDirectory());
    for (const path of keep) if (lstatSync(join(this.root, path)).isDirectory()) await this.pruneLower(path);
  }
}
