/**
 * A Node single executable application from one CommonJS script, configured as the init is
 * (sea-config.json: the stripped runtime as `executable`, no snapshot, no code cache) and built by
 * Node's own `node --build-sea`. The Makefile builds the init from sea-config.json itself; the
 * benchmark builds its bare SEA here, with its own `main` and `output`.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeThrough } from '../../packer/compress.ts';
import { pinnedNode, projectRoot } from './artifacts.ts';

/** Builds `output` from the script `main`; returns the size of the stripped runtime it is built on. */
export async function buildSea(main: string, output: string): Promise<{ strippedRuntimeBytes: number }> {
  const config = JSON.parse(await readFile(join(projectRoot, 'sea-config.json'), 'utf8')) as { executable: string };
  const executable = resolve(projectRoot, config.executable);
  const strippedRuntimeBytes = await stat(executable).then((info) => info.size, () => {
    throw new Error(`${executable} not found: run make all (it strips the pinned runtime)`);
  });
  const workdir = await mkdtemp(join(dirname(output), '.sea-'));
  try {
    const ours = join(workdir, 'sea-config.json');
    await writeFile(ours, JSON.stringify({ ...config, main, output, executable }));
    await pipeThrough([pinnedNode, '--build-sea', ours], new Uint8Array());
    return { strippedRuntimeBytes };
  } finally {
    await rm(workdir, { recursive: true, force: true });
  }
}
