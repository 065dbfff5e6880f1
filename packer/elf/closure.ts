// The files a dynamically linked program needs in an initramfs: its loader and every DT_NEEDED
// library, found the way ld.so finds them, with the host's symlinks reproduced so that the paths
// baked into binaries (PT_INTERP, RUNPATH) exist in the guest too.
import { lstat, open, readlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { posix } from 'node:path';
import { fileSource, parseElf } from './reader.ts';
import type { ElfInfo } from './reader.ts';
import { ldSoConfDirs } from './ldconf.ts';

export type ClosureEntry =
  | { kind: 'file'; path: string; source: string; neededBy: string }
  | { kind: 'symlink'; path: string; target: string };

export type ClosureOptions = {
  /** Directories searched after RPATH/RUNPATH, replacing ld.so.conf and the built-in defaults. */
  searchPaths?: string[];
  /** Host directory that stands for the guest's `/` (default `/`); every path is looked up under it. */
  root?: string;
};

// glibc's built-in directories on x86_64, after Debian's multiarch ones (which ld.so.conf normally lists).
const DEFAULT_DIRS = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib'];
// Provided by the kernel in every process; ldd lists them but there is no file.
const VIRTUAL_LIBRARIES = new Set(['linux-vdso.so.1', 'linux-gate.so.1']);
// Linux gives up a path walk with ELOOP after this many symlinks.
const MAX_SYMLINKS = 40;

type Walk = { real: string; links: Array<{ path: string; target: string }>; stat: Stats };
type Loaded = { path: string; origin: string; info: ElfInfo; rpathChain: string[] };

function absent(error: NodeJS.ErrnoException): undefined {
  if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
  throw error;
}

/** Runs `use` with the file open, and closes it whatever happens. */
async function withFile<T>(path: string, use: (fd: number) => T): Promise<T> {
  const file = await open(path);
  try {
    return use(file.fd);
  } finally {
    await file.close();
  }
}

function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

// Resolves `path` one component at a time under `root`, recording every symlink crossed, so an
// absolute link target stays inside the root and the guest can be given the same links.
async function walk(root: string, path: string): Promise<Walk | undefined> {
  let done = '/';
  let rest = components(path);
  const links: Walk['links'] = [];
  while (rest.length > 0) {
    const [name, ...tail] = rest as [string, ...string[]];
    rest = tail;
    if (name === '..') {
      done = posix.dirname(done);
      continue;
    }
    const here = posix.join(done, name);
    const stat = await lstat(posix.join(root, here)).catch(absent);
    if (!stat) return undefined;
    if (!stat.isSymbolicLink()) {
      done = here;
      continue;
    }
    if (links.length >= MAX_SYMLINKS) throw new Error(`too many levels of symbolic links resolving ${path}`);
    const target = await readlink(posix.join(root, here));
    links.push({ path: here, target });
    if (posix.isAbsolute(target)) done = '/';
    rest = [...components(target), ...rest];
  }
  // A trailing '..' leaves `done` at a directory whose type the loop never looked at.
  const stat = await lstat(posix.join(root, done)).catch(absent);
  return stat && { real: done, links, stat };
}

function expandOrigin(dirs: string[], origin: string): string[] {
  return dirs.map((d) => posix.normalize(d.replace(/\$(ORIGIN\b|\{ORIGIN\})/g, origin)));
}

class Closure {
  readonly root: string;
  readonly systemDirs: string[];
  readonly entries: ClosureEntry[] = [];
  readonly emitted = new Set<string>();
  // ld.so maps a name once per process: a later DT_NEEDED of the same name (or of a loaded
  // object's DT_SONAME) reuses it whatever the requester's own search path says.
  readonly byName = new Set<string>();
  readonly queue: Loaded[] = [];

  constructor(root: string, systemDirs: string[]) {
    this.root = root;
    this.systemDirs = systemDirs;
  }

  emit(found: Walk, neededBy: string): boolean {
    for (const link of found.links) {
      if (this.emitted.has(link.path)) continue;
      this.emitted.add(link.path);
      this.entries.push({ kind: 'symlink', ...link });
    }
    if (this.emitted.has(found.real)) return false;
    this.emitted.add(found.real);
    this.entries.push({ kind: 'file', path: found.real, source: posix.join(this.root, found.real), neededBy });
    return true;
  }

  async load(path: string, found: Walk, origin: string, parentChain: string[]): Promise<Loaded> {
    const info = await withFile(posix.join(this.root, found.real), (fd) => parseElf(fileSource(fd), path));
    // A DT_RPATH is honoured only by objects without DT_RUNPATH, and is inherited by what they load.
    const ownRpath = info.runpath.length === 0 ? expandOrigin(info.rpath, origin) : [];
    if (info.soname) this.byName.add(info.soname);
    return { path, origin, info, rpathChain: [...ownRpath, ...parentChain] };
  }

  searchDirs(requester: Loaded): string[] {
    const first = requester.info.runpath.length > 0 ? expandOrigin(requester.info.runpath, requester.origin) : requester.rpathChain;
    return [...new Set([...first, ...this.systemDirs])];
  }

  async addRoot(path: string): Promise<void> {
    const found = await walk(this.root, path);
    if (!found?.stat.isFile()) throw new Error(`${path} does not exist or is not a regular file`);
    // The executable's $ORIGIN is its fully resolved directory (the kernel's /proc/self/exe).
    const loaded = await this.load(path, found, posix.dirname(found.real), []);
    this.queue.push(loaded);
    const interp = loaded.info.interp;
    if (interp === undefined) return;
    const loader = await walk(this.root, interp);
    if (!loader?.stat.isFile()) throw new Error(`program interpreter ${interp} (needed by ${path}) not found`);
    if (this.emit(loader, path)) this.queue.push(await this.load(interp, loader, posix.dirname(interp), []));
  }

  async find(name: string, requester: Loaded): Promise<{ path: string; found: Walk }> {
    // A name with a slash is a path, not searched for.
    const dirs = name.includes('/') ? [''] : this.searchDirs(requester);
    for (const dir of dirs) {
      const path = posix.join('/', dir, name);
      const found = await walk(this.root, path);
      if (found?.stat.isFile()) return { path, found };
    }
    throw new Error(`library ${name} (needed by ${requester.path}) not found in ${dirs.join(', ')}`);
  }

  async drain(): Promise<void> {
    for (let next = this.queue.shift(); next; next = this.queue.shift()) {
      for (const name of next.info.needed) {
        if (VIRTUAL_LIBRARIES.has(name) || this.byName.has(name)) continue;
        this.byName.add(name);
        const { path, found } = await this.find(name, next);
        if (!this.emit(found, next.path)) continue;
        const lib = await this.load(path, found, posix.dirname(path), next.rpathChain);
        if (lib.info.machine !== next.info.machine) {
          throw new Error(`library ${path} is for ELF machine ${lib.info.machine}, but ${next.path} (machine ${next.info.machine}) needs it`);
        }
        this.queue.push(lib);
      }
    }
  }
}

/**
 * Everything `roots` need at run time (not the roots themselves): symlink entries for each link
 * crossed on the way, then a file entry for the real file, in discovery order without duplicates.
 */
export async function libraryClosure(roots: string[], options: ClosureOptions = {}): Promise<ClosureEntry[]> {
  const root = options.root ?? '/';
  const systemDirs = options.searchPaths ?? [...new Set([...(await ldSoConfDirs(root)), ...DEFAULT_DIRS])];
  const closure = new Closure(root, systemDirs);
  for (const path of roots) {
    await closure.addRoot(path);
    await closure.drain();
  }
  return closure.entries;
}
