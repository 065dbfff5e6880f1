/**
 * chrootvm's initrds, cached by content: the key hashes every byte that would go in (the init, its
 * libraries, the modules) plus the layout, so a rebuilt init or an updated kernel gets a new initrd
 * and an unchanged one is never packed twice.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { buildInitrd, planInitrd, type InitrdPlan, type InitrdSpec } from '../../packer/index.ts';
import type { Codec } from '../../packer/compress.ts';
import { writeFileAtomic } from './atomic-write.ts';

/** Bump when the initrd layout changes in a way the inputs do not show. */
const CACHE_FORMAT = 1;

export function cacheDirectory(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'virtinitrd');
}

async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function planKey(plan: InitrdPlan, codec: Codec): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ CACHE_FORMAT, codec }));
  for (const entry of plan.entries) {
    const { why: _why, ...layout } = entry;
    hash.update(JSON.stringify(layout));
    if (entry.kind === 'file') hash.update(await fileDigest(entry.source));
  }
  return hash.digest('hex').slice(0, 32);
}

/** The cached initrd for `spec`, built first if this content was never packed. */
export async function cachedInitrd(spec: InitrdSpec, codec: Codec, log: (text: string) => void): Promise<string> {
  const plan = await planInitrd(spec);
  const directory = cacheDirectory();
  const path = join(directory, `initrd-${await planKey(plan, codec)}.${codec === 'none' ? 'cpio' : `cpio.${codec}`}`);
  if (existsSync(path)) {
    log(`initrd ${path} (cached)`);
    return path;
  }
  await mkdir(directory, { recursive: true, mode: 0o700 });
  log(`building initrd ${path}`);
  await writeFileAtomic(path, await buildInitrd(plan, { codec, mtime: 0 }));
  return path;
}
