// Which module files to load, and in which order, so that the requested modules load: every
// module after all the modules whose symbols it uses (finit_module fails with "Unknown symbol"
// otherwise, e.g. Debian 6.1's virtio before virtio_ring).
import { readFile, readdir, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { sectionData } from '../elf/reader.ts';
import { readModule } from './decompress.ts';
import { modinfoDepends, parseModinfo, parseModulesBuiltin, parseModulesDep } from './depfile.ts';
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

// Module files by canonical name, the first of SEARCH_DIRS winning; byte order within a directory.
async function indexFiles(moddir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const dir of SEARCH_DIRS) {
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
  const files = await indexFiles(moddir);
  const builtin = new Set(parseModulesBuiltin((await optionalText(posix.join(moddir, 'modules.builtin'))) ?? '').map(moduleName));
  const depText = await optionalText(posix.join(moddir, 'modules.dep'));
  const fromDepFile = new Map((depText === undefined ? [] : parseModulesDep(depText)).map((e) => [moduleName(e.path), e.deps.map(moduleName)]));

  const modules = new Map<string, { path: string; deps: string[] }>();
  const queue = requested.map(canonical);
  for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
    const path = files.get(name);
    // Built-in and unknown names are left to orderModules, which reports the unknown ones.
    if (modules.has(name) || builtin.has(name) || path === undefined) continue;
    const deps = fromDepFile.get(name) ?? (await modinfoDeps(path));
    modules.set(name, { path, deps });
    queue.push(...deps);
  }
  return orderModules({ moddir, modules, builtin }, requested);
}
