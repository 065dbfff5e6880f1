/**
 * What goes into an initramfs and why: the init, the libraries it and ffi-rs load, and the kernel
 * modules for virtiofs on virtio-pci with their dependencies. Planning only reads metadata, so
 * `mkvirtinitrd --list` and the chrootvm cache key cost little; building reads the files.
 */
import { readFile } from 'node:fs/promises';
import { initrdPaths } from '../init/paths.ts';
import { compress, type Codec } from './compress.ts';
import { encodeNewc } from './cpio/newc.ts';
import type { CpioRecord } from './cpio/records.ts';
import { libraryClosure } from './elf/closure.ts';
import { readModule } from './kmod/decompress.ts';
import { DEFAULT_MODULES } from './kmod/defaults.ts';
import { initrdModuleNames } from './kmod/layout.ts';
import { resolveModules } from './kmod/resolve.ts';

export interface InitrdSpec {
  /** Host path of the init executable (the SEA, or osbuild's BINARY). */
  init: string;
  /** Host path of ffi-rs's native module, which the init dlopens. */
  ffiModule: string;
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
  const entries: InitrdEntry[] = [
    { kind: 'file', path: '/init', source: spec.init, mode: 0o755, why: 'the init' },
    { kind: 'file', path: initrdPaths.ffiModule, source: spec.ffiModule, mode: 0o755, why: "ffi-rs's native module (the init's system calls)" },
    // The kernel opens /dev/console for PID 1's stdio before /init runs, ahead of any devtmpfs.
    { kind: 'device', path: '/dev/console', major: 5, minor: 1, mode: 0o600, why: "PID 1's stdio before devtmpfs is mounted" },
  ];
  for (const entry of await libraryClosure([spec.init, spec.ffiModule])) {
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
      return { kind: 'file', path, data, mode: entry.mode };
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
