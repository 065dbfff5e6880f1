/**
 * What goes into an initramfs and why: the init, the libraries it and ffi-rs load, and the kernel
 * modules for virtiofs on virtio-pci with their dependencies. Planning only reads metadata, so
 * `mkvirtinitrd --list` and the chrootvm cache key cost little; building reads the files.
 */
import { lstat, open, readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { initrdPaths } from '../init/paths.ts';
import { compress, type Codec } from './compress.ts';
import { encodeNewc } from './cpio/newc.ts';
import type { CpioRecord } from './cpio/records.ts';
import { libraryClosure } from './elf/closure.ts';
import { ELF64_HEADER_SIZE, isElf64le, noteSegments, parseNotes, programHeaderTable } from './elf/notes.ts';
import { readModule } from './kmod/decompress.ts';
import { DEFAULT_MODULES } from './kmod/defaults.ts';
import { initrdModuleNames } from './kmod/layout.ts';
import { resolveModules } from './kmod/resolve.ts';
import { entryMeta, systemTree, type RootOwner } from './system-tree.ts';

export interface InitrdSpec {
  /** Host path of the init executable (the SEA, or osbuild's BINARY). */
  init: string;
  /**
   * Host path of ffi-rs's native module, which the virtinitrd init dlopens; left out for an init
   * that is not a Node SEA (osbuild's BINARY), which would never load it.
   */
  ffiModule?: string;
  /** The kernel's module directory, /usr/lib/modules/KVER. */
  moddir: string;
  /** Modules wanted besides the defaults (--module). */
  extraModules: readonly string[];
}

/** Ownership and time of a system's own entries (the init's own are root's, with mtime 0). */
export interface EntryMeta {
  uid: number;
  gid: number;
  mtime: number;
}

/** One thing in the initramfs; `source` is read from the host, `why` is what `--list` prints. */
export type InitrdEntry =
  | { kind: 'file'; path: string; source: string; mode: number; why: string; decompress?: boolean; meta?: EntryMeta }
  | { kind: 'data'; path: string; data: Buffer; mode: number; why: string }
  | { kind: 'dir'; path: string; mode: number; why: string; meta?: EntryMeta }
  | { kind: 'symlink'; path: string; target: string; why: string; meta?: EntryMeta }
  | { kind: 'hardlink'; path: string; target: string; why: string }
  | { kind: 'device'; path: string; type?: 'char' | 'block'; major: number; minor: number; mode: number; why: string; meta?: EntryMeta };

export interface InitrdPlan {
  entries: InitrdEntry[];
  /** Modules satisfied by the kernel itself (modules.builtin). */
  builtinModules: string[];
}

export async function planInitrd(spec: InitrdSpec): Promise<InitrdPlan> {
  const executables = spec.ffiModule === undefined ? [spec.init] : [spec.init, spec.ffiModule];
  const entries: InitrdEntry[] = [{ kind: 'file', path: '/init', source: spec.init, mode: 0o755, why: 'the init' }];
  if (spec.ffiModule !== undefined) {
    entries.push({ kind: 'file', path: initrdPaths.ffiModule, source: spec.ffiModule, mode: 0o755, why: "ffi-rs's native module (the init's system calls)" });
  }
  // The kernel opens /dev/console for PID 1's stdio before /init runs, ahead of any devtmpfs.
  entries.push({ kind: 'device', path: '/dev/console', major: 5, minor: 1, mode: 0o600, why: "PID 1's stdio before devtmpfs is mounted" });
  for (const entry of await libraryClosure(executables)) {
    entries.push(
      entry.kind === 'file'
        ? { kind: 'file', path: entry.path, source: entry.source, mode: 0o755, why: `library needed by ${entry.neededBy}` }
        : { kind: 'symlink', path: entry.path, target: entry.target, why: 'symlink on the way to a library' },
    );
  }
  const requested = [...new Set([...DEFAULT_MODULES, ...spec.extraModules])];
  const resolved = await resolveModules(spec.moddir, requested);
  const names = initrdModuleNames(resolved.modules);
  resolved.modules.forEach((module, index) => {
    entries.push({
      kind: 'file',
      path: `${initrdPaths.modules}/${names[index]}`,
      source: module.path,
      mode: 0o644,
      why: `kernel module ${module.name}`,
      decompress: true,
    });
  });
  return { entries, builtinModules: resolved.builtin };
}

export interface WholeSystemPlan extends InitrdPlan {
  /**
   * The system's paths where the init's own entry differs from the system's (another library at
   * the same path, say); an identical file, symlink or device there is not a replacement.
   */
  replaced: string[];
  /** System entries left out (fifos, sockets). */
  skipped: string[];
}

/** Every directory above `path`, nearest last: /usr/lib/x → ['/usr', '/usr/lib']. */
function parentsOf(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  return parts.slice(0, -1).map((_, index) => `/${parts.slice(0, index + 1).join('/')}`);
}

/** Entries beyond the system's tree and the init's: files added to the system (they replace its own at their paths), and to the init's own. */
export interface WholeSystemAdditions {
  system?: readonly InitrdEntry[];
  init?: readonly InitrdEntry[];
}

async function sameBytes(a: string, b: string): Promise<boolean> {
  const [sizeA, sizeB] = await Promise.all([stat(a), stat(b)]).then((stats) => stats.map((info) => info.size));
  return sizeA === sizeB && (await readFile(a)).equals(await readFile(b));
}

/**
 * Whether the init's entry puts at its path what the system has there already: the same bytes,
 * symlink target or device. Mode, owner and mtime are not compared: a library the init packs as
 * 0755 over the system's 0644 copy of the same bytes replaces nothing a program would notice.
 */
async function sameContent(system: InitrdEntry, init: InitrdEntry): Promise<boolean> {
  if (system.kind === 'symlink' && init.kind === 'symlink') return system.target === init.target;
  if (system.kind === 'file' && init.kind === 'file') return sameBytes(system.source, init.source);
  if (system.kind === 'device' && init.kind === 'device') {
    return (system.type ?? 'char') === (init.type ?? 'char') && system.major === init.major && system.minor === init.minor;
  }
  return false;
}

/**
 * A whole system and the init in one initramfs (mkvirtinitrd --rootfs): the system's tree, then
 * the init's own entries, which win where both have a path (the init must find its loader and
 * libraries where its ELF headers say). The marker tells the init to boot the system it carries
 * and lists what the system did not have, so the init leaves its own files behind. Where both
 * have a file at one path, both are read, to tell a real replacement from the same library.
 */
export async function planWholeSystem(spec: InitrdSpec, systemRoot: string, rootOwner?: RootOwner, additions: WholeSystemAdditions = {}): Promise<WholeSystemPlan> {
  const [tree, init] = await Promise.all([systemTree(systemRoot, rootOwner), planInitrd(spec)]);
  const added = new Set((additions.system ?? []).map((entry) => entry.path));
  const system = { ...tree, entries: [...tree.entries.filter((entry) => !added.has(entry.path)), ...(additions.system ?? [])] };
  init.entries.push(...(additions.init ?? []));
  const systemPaths = new Set(system.entries.map((entry) => entry.path));
  const initByPath = new Map(init.entries.map((entry) => [entry.path, entry]));
  const initPaths = new Set(initByPath.keys());
  // A system directory stays a directory (usr/lib, say); any other clash is the init's.
  const systemDirs = new Set(system.entries.filter((entry) => entry.kind === 'dir').map((entry) => entry.path));
  const shadowed = system.entries.filter((entry) => initPaths.has(entry.path) && entry.kind !== 'dir');
  const differs = await Promise.all(shadowed.map(async (entry) => !(await sameContent(entry, initByPath.get(entry.path)!))));
  const replaced = shadowed.filter((_, index) => differs[index]).map((entry) => entry.path);
  const kept = system.entries.filter((entry) => !initPaths.has(entry.path) || entry.kind === 'dir');
  const initEntries = init.entries.flatMap((entry) =>
    entry.kind === 'symlink' && systemDirs.has(entry.path) ? linksInto(entry, [...initPaths], systemDirs, systemPaths) : [entry],
  );
  const own = new Set<string>();
  for (const entry of initEntries) {
    for (const path of [...parentsOf(entry.path), entry.path]) if (!systemPaths.has(path)) own.add(path);
  }
  const markerDirectory = posix.dirname(initrdPaths.wholeSystemMarker);
  if (!systemPaths.has(markerDirectory)) own.add(markerDirectory);
  const marker: InitrdEntry = {
    kind: 'data',
    path: initrdPaths.wholeSystemMarker,
    data: Buffer.from([...own].sort().map((path) => `${path}\n`).join('')),
    mode: 0o644,
    why: "marks a whole-system initramfs; lists the init's own paths",
  };
  const dropped = new Set([...shadowed.map((entry) => entry.path), ...added]);
  // A hard link to a file the init's entry or an added one takes the place of would point at that
  // file instead: it becomes a copy of its own.
  const relinked = await Promise.all(
    kept.map(async (entry): Promise<InitrdEntry> => {
      if (entry.kind !== 'hardlink' || !dropped.has(entry.target)) return entry;
      const source = join(systemRoot, entry.path);
      const stat = await lstat(source);
      return { kind: 'file', path: entry.path, source, mode: stat.mode & 0o7777, why: entry.why, meta: entryMeta(stat, rootOwner) };
    }),
  );
  return {
    entries: [...relinked, ...initEntries, marker],
    builtinModules: init.builtinModules,
    replaced,
    skipped: system.skipped,
  };
}

/**
 * The init reaches its loader and libraries through directory symlinks (/lib -> usr/lib on
 * merged-/usr hosts) that the system may have as real directories. Instead of such a symlink, the
 * system's directory gets links to what the init has beneath the symlink's target, one level at a
 * time: a name the system lacks becomes a symlink; a directory both have is entered.
 */
function linksInto(
  symlink: Extract<InitrdEntry, { kind: 'symlink' }>,
  initPaths: readonly string[],
  systemDirs: ReadonlySet<string>,
  systemPaths: ReadonlySet<string>,
): InitrdEntry[] {
  const links: InitrdEntry[] = [];
  const why = `the init's ${symlink.path} -> ${symlink.target}, inside the system's directory`;
  const mirror = (at: string, target: string) => {
    const children = new Set(initPaths.filter((path) => path.startsWith(`${target}/`)).map((path) => path.slice(target.length + 1).split('/')[0]!));
    for (const child of [...children].sort()) {
      const here = posix.join(at, child);
      const there = posix.join(target, child);
      if (!systemPaths.has(here)) links.push({ kind: 'symlink', path: here, target: there, why });
      else if (systemDirs.has(here)) mirror(here, there);
    }
  };
  mirror(symlink.path, posix.resolve(posix.dirname(symlink.path), symlink.target));
  return links;
}

/** cpio paths are relative to the archive root. */
function archivePath(path: string): string {
  return path.replace(/^\/+/, '');
}

async function toRecord(entry: InitrdEntry): Promise<CpioRecord> {
  const path = archivePath(entry.path);
  const meta = 'meta' in entry ? entry.meta : undefined;
  switch (entry.kind) {
    case 'file': {
      const data = entry.decompress ? await readModule(entry.source) : await readFile(entry.source);
      // The host file's mtime, which encodeNewc clamps to SOURCE_DATE_EPOCH (tar's --clamp-mtime).
      const mtime = Math.floor((await stat(entry.source)).mtimeMs / 1000);
      return { kind: 'file', path, data, mode: entry.mode, mtime, ...meta };
    }
    case 'data':
      return { kind: 'file', path, data: entry.data, mode: entry.mode };
    case 'dir':
      return { kind: 'dir', path, mode: entry.mode, ...meta };
    case 'symlink':
      return { kind: 'symlink', path, target: entry.target, ...meta };
    case 'hardlink':
      return { kind: 'hardlink', path, target: archivePath(entry.target) };
    case 'device':
      return { kind: 'device', path, type: entry.type ?? 'char', major: entry.major, minor: entry.minor, mode: entry.mode, ...meta };
  }
}

export interface BuildOptions {
  codec: Codec;
  /** Upper bound for every mtime (SOURCE_DATE_EPOCH); 0 by default, so builds are reproducible. */
  mtime: number;
}

export async function buildInitrd(plan: InitrdPlan, options: BuildOptions): Promise<Buffer> {
  const records = await Promise.all(plan.entries.map(toRecord));
  return compress(encodeNewc(records, { mtime: options.mtime }), options.codec);
}

/** The ELF note Node's SEA builders (`node --build-sea`, postject) put a single executable's blob in. */
const SEA_NOTE_NAME = 'NODE_SEA_BLOB';

/**
 * Whether `path` is a Node single-executable application: its blob is in a note named
 * NODE_SEA_BLOB, which Node finds through its program headers at startup. Reads only the headers
 * and the note segments, not the 100 MB binary.
 */
export async function isNodeSea(path: string): Promise<boolean> {
  const file = await open(path);
  try {
    const { size } = await file.stat();
    // Offsets and sizes come from the file: bounded by its size, so a corrupt header cannot ask for gigabytes.
    const read = async (offset: number, length: number): Promise<Buffer> => {
      const buffer = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
      const { bytesRead } = await file.read(buffer, 0, buffer.length, offset);
      return buffer.subarray(0, bytesRead);
    };
    const header = await read(0, ELF64_HEADER_SIZE);
    // ELF64 little-endian only, like the rest of the packer; anything else is not a Node SEA for x86_64.
    if (!isElf64le(header)) return false;
    const table = programHeaderTable(header);
    for (const segment of noteSegments(await read(table.offset, table.size))) {
      const notes = parseNotes(await read(segment.offset, segment.size), segment.align);
      if (notes.some((note) => note.name === SEA_NOTE_NAME)) return true;
    }
    return false;
  } finally {
    await file.close();
  }
}
