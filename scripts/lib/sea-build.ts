/**
 * A Node single executable application from one CommonJS script: the pinned runtime, stripped
 * first (strip rewrites the file and would drop an injected blob), with the script's SEA blob
 * injected (packer/elf/sea.ts). The Makefile builds the init with it, the benchmark its bare SEA.
 */
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeThrough } from '../../packer/compress.ts';
import { injectSeaBlob } from '../../packer/elf/sea.ts';
import { pinnedNode } from './artifacts.ts';
import { writeFileAtomic } from './atomic-write.ts';

/** Builds `output` from the script `main`; returns the size of the stripped runtime, before the blob. */
export async function buildSea(main: string, output: string): Promise<{ strippedRuntimeBytes: number }> {
  const workdir = await mkdtemp(join(dirname(output), '.sea-'));
  try {
    const [config, blob, runtime] = ['sea-config.json', 'sea.blob', 'runtime'].map((name) => join(workdir, name)) as [string, string, string];
    // No snapshot, no code cache: a snapshot made on the build host fails in the guest (its CPU
    // features differ), and the code cache measured no faster there.
    await writeFile(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: false }));
    await pipeThrough([pinnedNode, '--experimental-sea-config', config], new Uint8Array());
    await copyFile(pinnedNode, runtime);
    await pipeThrough(['strip', '--strip-all', runtime], new Uint8Array(), 'install the Debian package binutils');
    const strippedRuntimeBytes = (await stat(runtime)).size;
    await writeFileAtomic(output, injectSeaBlob(await readFile(runtime), await readFile(blob), runtime), 0o755);
    return { strippedRuntimeBytes };
  } finally {
    await rm(workdir, { recursive: true, force: true });
  }
}
