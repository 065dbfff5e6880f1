/**
 * What a feature costs a boot: `chrootvm --overlay ROOTFS true` and `chrootvm --net ROOTFS true`
 * against a plain boot, and `--image … --rw` as it is (an overlay over the cached tree) against
 * what it was before the overlay (a `cp -a` of the cached tree, then a --rw boot of the copy),
 * alternating, in one run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { resolveImage } from '../lib/image/resolve-image.ts';
import { runChrootvm } from '../lib/timed-chrootvm.ts';
import { summarize, type Summary } from './stats.ts';

export interface FeaturesResult {
  plain: Summary;
  overlay: Summary;
  net: Summary;
  imageCopyThenRw: Summary;
  imageOverlay: Summary;
  imageBytes: number;
}

async function boot(args: readonly string[], timeoutMs: number): Promise<number> {
  const run = await runChrootvm(args, timeoutMs);
  if (run.exitCode !== 0) throw new Error(`chrootvm ${args.join(' ')} exited with ${run.exitCode}: ${run.stderr.trim()}`);
  return run.seconds;
}

/** The image (ROOTFS as a rootfs tar, the same bytes each run: its extracted tree is cached once) and the copies go below `directory`, and are removed. */
export async function measureFeatures(rootfs: string, directory: string, boots: number, timeoutMs: number, progress: (text: string) => void): Promise<FeaturesResult> {
  const work = mkdtempSync(join(directory, 'features-'));
  try {
    return await measure(rootfs, work, boots, timeoutMs, progress);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function measure(rootfs: string, directory: string, boots: number, timeoutMs: number, progress: (text: string) => void): Promise<FeaturesResult> {
  const image = join(directory, 'rootfs-image.tar');
  execFileSync('tar', ['--sort=name', '-C', rootfs, '-cf', image, '.']);
  const imageBytes = Number(execFileSync('stat', ['-c', '%s', image], { encoding: 'utf8' }));
  const tree = (await resolveImage(image)).rootfs;
  const copyThenRw = async () => {
    const scratch = mkdtempSync(join(directory, 'copy-'));
    try {
      const started = performance.now();
      execFileSync('cp', ['-a', '--reflink=auto', '--', tree, join(scratch, 'rootfs')]);
      const copySeconds = (performance.now() - started) / 1000;
      return copySeconds + (await boot(['--rw', join(scratch, 'rootfs'), 'true'], timeoutMs));
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  };
  // Untimed: the overlay's and the network's initramfs are built once, the image extracted once.
  await boot(['--overlay', rootfs, 'true'], timeoutMs);
  await boot(['--net', rootfs, 'true'], timeoutMs);
  await boot(['--image', image, '--rw', 'true'], timeoutMs);
  const samples = { plain: [] as number[], overlay: [] as number[], net: [] as number[], imageCopyThenRw: [] as number[], imageOverlay: [] as number[] };
  for (let run = 1; run <= boots; run++) {
    samples.plain.push(await boot([rootfs, 'true'], timeoutMs));
    samples.overlay.push(await boot(['--overlay', rootfs, 'true'], timeoutMs));
    samples.net.push(await boot(['--net', rootfs, 'true'], timeoutMs));
    samples.imageCopyThenRw.push(await copyThenRw());
    samples.imageOverlay.push(await boot(['--image', image, '--rw', 'true'], timeoutMs));
    progress(`features ${run}/${boots}: plain ${samples.plain.at(-1)!.toFixed(2)} s, --overlay ${samples.overlay.at(-1)!.toFixed(2)} s, --net ${samples.net.at(-1)!.toFixed(2)} s, `
      + `image copy+rw ${samples.imageCopyThenRw.at(-1)!.toFixed(2)} s, image --rw ${samples.imageOverlay.at(-1)!.toFixed(2)} s`);
  }
  return {
    plain: summarize(samples.plain),
    overlay: summarize(samples.overlay),
    net: summarize(samples.net),
    imageCopyThenRw: summarize(samples.imageCopyThenRw),
    imageOverlay: summarize(samples.imageOverlay),
    imageBytes,
  };
}
