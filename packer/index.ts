/**
 * What goes into an initramfs and why: the init, the libraries it and ffi-rs load, and the kernel
 * modules for virtiofs on virtio-pci with their dependencies. Planning only reads metadata, so
 * `mkvirtinitrd --list` and the chrootvm cache key cost little; building reads the files.
 */
import { open, readFile, stat } from 'node:fs/promises';
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

/** One thing in the initramfs; `source` is read from the host, `why` is what `--list` prints. */
export type InitrdEntry =
  | { kind: 'file'; path: string; source: string; mode: number; why: string; decompress?: boolean }
  | { kind: 'symlink'; path: string; target: string; why: string }
  | { kind: 'device'; path: string; major: number; minor: number; mode: number; why: string };

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

/** cpio paths are relative to the archive root. */
function archivePath(path: string): string {
  return path.replace(/^\/+/, '');
}

async function toRecord(entry: InitrdEntry): Promise<CpioRecord> {
  const path = archivePath(entry.path);
  switch (entry.kind) {
    case 'file': {
      const data = entry.decompress ? await readModule(entry.source) : await readFile(entry.source);
      // The host file's mtime, which encodeNewc clamps to SOURCE_DATE_EPOCH (tar's --clamp-mtime).
      const mtime = Math.floor((await stat(entry.source)).mtimeMs / 1000);
      return { kind: 'file', path, data, mode: entry.mode, mtime };
    }
    case 'symlink':
      return { kind: 'symlink', path, target: entry.target };
    case 'device':
      return { kind: 'device', path, type: 'char', major: entry.major, minor: entry.minor, mode: entry.mode };
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

const SEA_NOTE_NAME = 'NODE_SEA_BLOB';

/**
 * Whether `path` is a Node single-executable application: postject puts the blob in a note named
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
