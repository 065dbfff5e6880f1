/**
 * A Node single executable application from one CommonJS script, configured as the init is
 * (sea-config.json: the stripped runtime as `executable`, no snapshot) but without its assets (the
 * init's bundle and code cache), built by Node's own `node --build-sea`, then without the runtime's
 * ICU data (packer/elf/icu-data.ts). The Makefile builds the init from sea-config.json itself and
 * drops the data with scripts/drop-icu-data.ts; the benchmark builds its bare SEA here, with its own
 * `main` and `output`.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeThrough } from '../../packer/pipe-through.ts';
import { dropIcuData, type IcuDataCut } from '../../packer/elf/icu-data.ts';
import { writeFileAtomic } from './atomic-write.ts';
import { pinnedNode, projectRoot } from './artifacts.ts';

/** Builds `output` from the script `main`; returns the size of the stripped runtime it is built on and of the ICU data dropped. */
export async function buildSea(main: string, output: string): Promise<{ strippedRuntimeBytes: number; icuDataBytes: number }> {
  // One script: the init's assets stay out.
  const { assets: _initAssets, ...config } = JSON.parse(await readFile(join(projectRoot, 'sea-config.json'), 'utf8')) as { executable: string; assets?: unknown };
  const executable = resolve(projectRoot, config.executable);
  const strippedRuntimeBytes = await stat(executable).then((info) => info.size, () => {
    throw new Error(`${executable} not found: run make all (it strips the pinned runtime)`);
  });
  const workdir = await mkdtemp(join(dirname(output), '.sea-'));
  try {
    const ours = join(workdir, 'sea-config.json');
    await writeFile(ours, JSON.stringify({ ...config, main, output, executable }));
    await pipeThrough([pinnedNode, '--build-sea', ours], new Uint8Array());
    const { removedBytes } = await dropIcuDataFromFile(output);
    return { strippedRuntimeBytes, icuDataBytes: removedBytes };
  } finally {
    await rm(workdir, { recursive: true, force: true });
  }
}

/** Rewrites the runtime at `path` without its ICU data; readers see the old file or the new one. */
export async function dropIcuDataFromFile(path: string): Promise<Omit<IcuDataCut, 'bytes'>> {
  const { bytes, ...cut } = dropIcuData(await readFile(path), path);
  await writeFileAtomic(path, bytes, 0o755);
  return cut;
}
