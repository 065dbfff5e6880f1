/**
 * The benchmark's initrds and its bare SEA, built under build/bench/. Initrds of the normal layout
 * are named by the packer's content key, so an unchanged init is not packed again (xz takes minutes).
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initrdPaths } from '../../init/paths.ts';
import { compress, type Codec } from '../../packer/compress.ts';
import { encodeNewc } from '../../packer/cpio/newc.ts';
import { buildInitrd, planInitrd, type InitrdPlan } from '../../packer/index.ts';
import { readModule } from '../../packer/kmod/decompress.ts';
import { builtFfiModule, projectRoot } from '../lib/artifacts.ts';
import { writeFileAtomic } from '../lib/atomic-write.ts';
import { buildSea } from '../lib/sea-build.ts';
import { planKey } from '../lib/initrd-cache.ts';
import { bareInitScript } from './bare-init.ts';
import { floorInitScript, floorRecords } from './floor-initrd.ts';

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

/** C's /init: a SEA built the way the Makefile builds build/init, around the bare script. */
export async function bareSea(directory: string): Promise<{ path: string; strippedRuntimeBytes: number; icuDataBytes: number }> {
  const script = join(directory, 'bare-init.cjs');
  const path = join(directory, 'bare-init');
  await writeFile(script, bareInitScript(initrdPaths.ffiModule));
  return { path, ...(await buildSea(script, path)) };
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
