/**
 * chrootvm's initrds, cached by content: the key hashes every byte that would go in (the init, its
 * libraries, the modules) plus the layout, so a rebuilt init or an updated kernel gets a new initrd
 * and an unchanged one is never packed twice.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { InitrdPlan, InitrdSpec } from '../../packer/index.ts';
import type { Codec } from '../../packer/compress.ts';
import { writeFileAtomic } from './atomic-write.ts';
import { markUsed, pruneLeastRecentlyUsed } from './cache-lru.ts';
import { identityOf, sameIdentity, type FileIdentity } from './file-identity.ts';
import { hashFile } from './hash-file.ts';
import { rememberedInitrd, rememberInitrd } from './initrd-memo.ts';
import { makeDirectory } from './make-directory.ts';

/** Bump when the initrd layout changes in a way the inputs do not show. */
const CACHE_FORMAT = 1;

export function cacheDirectory(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'virtinitrd');
}

/** A file's digest as last computed, valid while the file keeps its identity. */
export interface KnownDigest extends FileIdentity {
  sha256: string;
}

export type DigestMemo = Map<string, KnownDigest>;

/**
 * The sha256 of a file, from the memo when the file is unchanged since: hashing the 100 MB init on
 * every run would cost chrootvm ~0.3 s before the VM even starts (the way git trusts its index).
 */
export async function fileDigest(path: string, memo: DigestMemo): Promise<string> {
  const identity = identityOf(await stat(path));
  const known = memo.get(path);
  if (known && sameIdentity(known, identity)) return known.sha256;
  const { hex: sha256 } = await hashFile(path, 'sha256');
  memo.set(path, { ...identity, sha256 });
  return sha256;
}

export async function planKey(plan: InitrdPlan, codec: Codec, memo: DigestMemo = new Map()): Promise<string> {
  // Loaded here: a run whose initrd is remembered computes no key, and starts without node:crypto.
  const { createHash } = await import('node:crypto');
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ CACHE_FORMAT, codec }));
  for (const entry of plan.entries) {
    const { why: _why, ...layout } = entry;
    hash.update(JSON.stringify(layout));
    if (entry.kind === 'file') hash.update(await fileDigest(entry.source, memo));
  }
  return hash.digest('hex').slice(0, 32);
}

const MEMO_FILE = 'digests.json';

/** A memo that cannot be read is an empty one: the digests are computed again. */
async function loadMemo(directory: string): Promise<DigestMemo> {
  try {
    const entries = JSON.parse(await readFile(join(directory, MEMO_FILE), 'utf8')) as [string, KnownDigest][];
    return new Map(entries.filter(([path, known]) => typeof path === 'string' && typeof known?.sha256 === 'string'));
  } catch {
    return new Map();
  }
}

/**
 * How many initrds the cache keeps, the most recently used: each is ~36 MB, and every rebuilt init
 * or updated kernel makes a new one.
 */
export const KEPT_INITRDS = 8;
/**
 * The codec of chrootvm's initrds. Uncompressed, the kernel unpacks the initramfs 0.13 s sooner
 * under TCG, but qemu loads 2.4x the bytes: over 12 alternating boots the wall times were equal
 * (3.55 s against 3.59 s), while lz4 booted in 256M (uncompressed: 352M) and cached 50 MB, not 120
 * (measured while the runtime still held its ICU data).
 */
export const CHROOTVM_CODEC: Codec = 'lz4';

/** A finished cache entry: a key and a codec suffix (a file still being written has more after). */
const INITRD_NAME = /^initrd-[0-9a-f]{32}\.cpio(\.[a-z0-9]+)?$/;

/** The cached initrd for `spec`, built first if this content was never packed. */
export async function cachedInitrd(spec: InitrdSpec, codec: Codec, log: (text: string) => void): Promise<string> {
  const directory = cacheDirectory();
  await makeDirectory(directory, 0o700);
  const remembered = await rememberedInitrd(directory, spec, codec);
  if (remembered) {
    log(`initrd ${remembered} (cached; its inputs unchanged)`);
    await markUsed(remembered);
    return remembered;
  }
  // The packer (and what it loads) only now: a run whose initrd is remembered does without it.
  const { buildInitrd, planInitrd } = await import('../../packer/index.ts');
  const plan = await planInitrd(spec);
  const memo = await loadMemo(directory);
  const before = JSON.stringify([...memo]);
  const path = join(directory, `initrd-${await planKey(plan, codec, memo)}.${codec === 'none' ? 'cpio' : `cpio.${codec}`}`);
  const after = JSON.stringify([...memo]);
  if (after !== before) await writeFileAtomic(join(directory, MEMO_FILE), Buffer.from(after));
  if (existsSync(path)) {
    log(`initrd ${path} (cached)`);
    await markUsed(path);
  } else {
    log(`building initrd ${path}`);
    await writeFileAtomic(path, await buildInitrd(plan, { codec, mtime: 0 }));
    for (const stale of await pruneLeastRecentlyUsed(directory, INITRD_NAME, KEPT_INITRDS)) log(`removed the least recently used initrd ${stale}`);
  }
  await rememberInitrd(directory, spec, codec, plan, path);
  return path;
}
