// Which module files to load, and in which order, so that the requested modules load: every
// module after all the modules whose symbols it uses (finit_module fails with "Unknown symbol"
// otherwise, e.g. Debian 6.1's virtio before virtio_ring).
import { readFile, readdir, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { sectionData } from '../elf/reader.ts';
import { readModule } from './decompress.ts';
import { modinfoDepends, parseModinfo, parseModulePaths, parseModulesDep, type DepEntry } from './depfile.ts';
import { canonical, isModuleFile, moduleName } from './names.ts';

export type ResolvedModules = {
  /** Dependency order: every module after all its deps. */
  modules: Array<{ name: string; path: string }>;
  /** Requested or needed modules that are built into the kernel, sorted. */
  builtin: string[];
};

export type ModuleGraph = {
  /** The module directory, for error messages. */
  moddir: string;
  /** Module files by canonical name; `deps` are canonical names. */
  modules: ReadonlyMap<string, { path: string; deps: readonly string[] }>;
  builtin: ReadonlySet<string>;
};

// depmod's default "search updates built-in": updates/ overrides kernel/; other directories such
// as extra/ come last.
const SEARCH_DIRS = ['updates', 'kernel', 'extra'];

function notFound(name: string, moddir: string, neededBy: string | undefined): Error {
  const by = neededBy === undefined ? '' : ` (needed by ${neededBy})`;
  return new Error(`module ${name}${by} not found in ${moddir} (neither a .ko file nor in modules.builtin)`);
}

function cycleIn(graph: ModuleGraph, remaining: Set<string>): string[] {
  // Every remaining module has a remaining dependency, so walking deps must revisit a module.
  const path: string[] = [];
  let at = [...remaining].sort()[0]!;
  while (!path.includes(at)) {
    path.push(at);
    at = graph.modules.get(at)!.deps.filter((d) => remaining.has(d)).sort()[0]!;
  }
  return [...path.slice(path.indexOf(at)), at];
}

/**
 * The load order for `requested` (and everything they need) in `graph`: topological, ties broken by
 * name so the result does not depend on the order of the request. Built-in modules need no file.
 */
export function orderModules(graph: ModuleGraph, requested: string[]): ResolvedModules {
  const needed = new Set<string>();
  const builtin = new Set<string>();
  const visit = (name: string, neededBy: string | undefined): void => {
    if (needed.has(name) || builtin.has(name)) return;
    // A module that is both built in and present as a file is the built-in one: the kernel refuses to load it again.
    if (graph.builtin.has(name)) {
      builtin.add(name);
      return;
    }
    const module = graph.modules.get(name);
    if (!module) throw notFound(name, graph.moddir, neededBy);
    needed.add(name);
    for (const dep of module.deps) visit(dep, name);
  };
  for (const name of requested) visit(canonical(name), undefined);

  const order: string[] = [];
  const remaining = new Set(needed);
  while (remaining.size > 0) {
    const ready = [...remaining].filter((n) => graph.modules.get(n)!.deps.every((d) => !remaining.has(d))).sort();
    if (ready.length === 0) throw new Error(`module dependency cycle in ${graph.moddir}: ${cycleIn(graph, remaining).join(' -> ')}`);
    // One at a time, so a module that becomes ready sorts against the others by name.
    order.push(ready[0]!);
    remaining.delete(ready[0]!);
  }
  return {
    modules: order.map((name) => ({ name, path: graph.modules.get(name)!.path })),
    builtin: [...builtin].sort(),
  };
}

async function optionalText(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
}

// Module files by canonical name, the first of `dirs` winning; byte order within a directory.
async function walkModuleFiles(moddir: string, dirs: readonly string[]): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const dir of dirs) {
    const names = await readdir(posix.join(moddir, dir), { recursive: true }).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return [];
      throw e;
    });
    for (const rel of names.filter(isModuleFile).sort()) {
      const name = moduleName(rel);
      if (!files.has(name)) files.set(name, posix.join(moddir, dir, rel));
    }
  }
  return files;
}

/** modules.order lists the kernel's own modules by their build name; installed, they may carry a compression suffix. */
const INSTALLED_SUFFIXES = ['', '.xz', '.zst', '.gz'];

async function firstExisting(paths: readonly string[]): Promise<string | undefined> {
  for (const path of paths) {
    if (await stat(path).then((info) => info.isFile(), () => false)) return path;
  }
  return undefined;
}

type FindModuleFile = (name: string) => Promise<string | undefined>;

/**
 * Where a module's file is, found without looking at all ~4,000 files of a distro kernel's tree
 * unless nothing else tells (walking them took chrootvm ~0.1 s on every run):
 * - modules.dep, when present, names the file depmod chose for each module;
 * - else modules.order lists kernel/'s modules, so only the few needed are looked for there, and
 *   updates/ and extra/ (small or absent) are walked;
 * - a tree with neither, or a module neither lists, is walked whole.
 */
async function moduleFileFinder(moddir: string, depEntries: readonly DepEntry[] | undefined): Promise<FindModuleFile> {
  let everything: Promise<Map<string, string>> | undefined;
  const walked: FindModuleFile = async (name) => (await (everything ??= walkModuleFiles(moddir, SEARCH_DIRS))).get(name);
  // Old depmods wrote absolute paths, which point into whatever system ran depmod.
  const listed = depEntries?.filter((entry) => !posix.isAbsolute(entry.path)).map((entry) => entry.path);
  if (listed !== undefined && listed.length > 0) {
    const byName = new Map(listed.map((path) => [moduleName(path), posix.join(moddir, path)]));
    return async (name) => byName.get(name) ?? walked(name);
  }
  const orderText = await optionalText(posix.join(moddir, 'modules.order'));
  if (orderText === undefined) return walked;
  const inKernel = new Map<string, string>();
  for (const path of parseModulePaths(orderText)) {
    if (path.startsWith('kernel/') && isModuleFile(path) && !inKernel.has(moduleName(path))) inKernel.set(moduleName(path), path);
  }
  const [updates, extra] = await Promise.all([walkModuleFiles(moddir, ['updates']), walkModuleFiles(moddir, ['extra'])]);
  return async (name) => {
    const ordered = inKernel.get(name);
    const fromOrder = ordered === undefined ? undefined : await firstExisting(INSTALLED_SUFFIXES.map((suffix) => posix.join(moddir, ordered + suffix)));
    return updates.get(name) ?? fromOrder ?? extra.get(name) ?? walked(name);
  };
}

async function modinfoDeps(path: string): Promise<string[]> {
  const modinfo = sectionData(await readModule(path), path, '.modinfo');
  if (!modinfo) throw new Error(`${path} has no .modinfo section; is it a kernel module?`);
  return modinfoDepends(parseModinfo(modinfo));
}

/**
 * The modules to load from `moddir` (e.g. /usr/lib/modules/6.1.0-27-amd64) for `requested`, in load
 * order. Dependencies come from modules.dep when present, else from each module's `.modinfo`
 * (Debian's kernel packages ship no modules.dep); only modules on the way are decompressed.
 */
export async function resolveModules(moddir: string, requested: string[]): Promise<ResolvedModules> {
  const dir = await stat(moddir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') throw new Error(`module directory ${moddir} does not exist`);
    throw e;
  });
  if (!dir.isDirectory()) throw new Error(`module directory ${moddir} is not a directory`);
  const builtin = new Set(parseModulePaths((await optionalText(posix.join(moddir, 'modules.builtin'))) ?? '').map(moduleName));
  const depText = await optionalText(posix.join(moddir, 'modules.dep'));
  const depEntries = depText === undefined ? undefined : parseModulesDep(depText);
  const fromDepFile = new Map((depEntries ?? []).map((e) => [moduleName(e.path), e.deps.map(moduleName)]));
  const findFile = await moduleFileFinder(moddir, depEntries);

  const modules = new Map<string, { path: string; deps: string[] }>();
  const queue = requested.map(canonical);
  for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
    if (modules.has(name) || builtin.has(name)) continue;
    const path = await findFile(name);
    // Unknown names are left to orderModules, which reports them.
    if (path === undefined) continue;
    const deps = fromDepFile.get(name) ?? (await modinfoDeps(path));
    modules.set(name, { path, deps });
    queue.push(...deps);
  }
  return orderModules({ moddir, modules, builtin }, requested);
}
