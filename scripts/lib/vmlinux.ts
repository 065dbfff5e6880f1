/**
 * The uncompressed kernel (vmlinux) inside a bzImage, for booting through PVH: qemu's -kernel takes an
 * ELF vmlinux with a XEN_ELFNOTE_PHYS32_ENTRY note and jumps straight to its 64-bit entry, so the
 * guest skips the bzImage's own decompressor — under TCG that decompression is most of the boot.
 * Decompressing once on the host and caching the result by the bzImage's hash pays it once per kernel.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { makeDirectory } from './make-directory.ts';
import { writeFileAtomic } from './atomic-write.ts';
import { markUsed, pruneLeastRecentlyUsed } from './cache-lru.ts';
import { identityOf, sameIdentity, type FileIdentity } from './file-identity.ts';

export interface VmlinuxResult {
  /** The cached vmlinux to pass to qemu's -kernel; absent when the bzImage has to be booted as it is. */
  path?: string;
  /** What happened, for --debug. */
  reason: string;
}

const HASH_HEX_LENGTH = 32;
/**
 * How many extracted kernels the cache keeps, the most recently used: each is tens of MB (66 MB for
 * Debian's 6.1), and every kernel build a developer boots makes a new one.
 */
export const KEPT_VMLINUXES = 8;
const VMLINUX_NAME = /^vmlinux-[0-9a-f]{32}$/;

/**
 * In the cache: the name each bzImage's content gave, trusted while it is the same file
 * (file-identity.ts). Reading and hashing Debian's 8 MB bzImage is ~50 ms of every run otherwise.
 */
export const VMLINUX_NAMES_MEMO = 'vmlinuxes.json';

type KnownNames = Record<string, FileIdentity & { name: string }>;

async function readKnownNames(cacheDir: string): Promise<KnownNames> {
  try {
    return JSON.parse(await readFile(join(cacheDir, VMLINUX_NAMES_MEMO), 'utf8')) as KnownNames;
  } catch {
    return {};
  }
}

/** The cache name of the bzImage at `kernelPath`: remembered, else its content hashed (the bytes come along then). */
async function cacheName(kernelPath: string, known: KnownNames): Promise<{ name: string; identity: FileIdentity; image?: Buffer }> {
  // Taken before the bytes are read: a file replaced meanwhile no longer matches next time.
  const identity = identityOf(await stat(kernelPath));
  const remembered = known[resolve(kernelPath)];
  if (remembered && sameIdentity(remembered, identity) && VMLINUX_NAME.test(remembered.name)) return { name: remembered.name, identity };
  const image = await readFile(kernelPath);
  // Loaded here, not for every run: a run whose bzImage is remembered needs no hash.
  const { createHash } = await import('node:crypto');
  return { name: `vmlinux-${createHash('sha256').update(image).digest('hex').slice(0, HASH_HEX_LENGTH)}`, identity, image };
}

/**
 * Records the name `kernelPath` hashed to. Dropped meanwhile: bzImages that are gone (trees built
 * and removed again, as a test suite does by the hundred) and names whose vmlinux and refusal the
 * cache no longer holds.
 */
async function rememberName(cacheDir: string, known: KnownNames, kernelPath: string, identity: FileIdentity, name: string): Promise<void> {
  const held = (entry: string) => existsSync(join(cacheDir, entry)) || existsSync(join(cacheDir, `${entry}.no-pvh`));
  const names = Object.fromEntries(Object.entries(known).filter(([path, remembered]) => existsSync(path) && held(remembered.name)));
  names[resolve(kernelPath)] = { ...identity, name };
  // A memo that cannot be written costs the next run one hash, nothing more.
  await writeFileAtomic(join(cacheDir, VMLINUX_NAMES_MEMO), Buffer.from(JSON.stringify(names))).catch(() => undefined);
}

/**
 * The vmlinux inside the bzImage at `kernelPath`, decompressed into `cacheDir` once per bzImage
 * content. Never throws: whatever stops the extraction is the reason, and the bzImage still boots.
 */
export async function extractVmlinux(kernelPath: string, cacheDir: string): Promise<VmlinuxResult> {
  try {
    const known = await readKnownNames(cacheDir);
    const { name, identity, image: hashed } = await cacheName(kernelPath, known);
    // Only a name just hashed is news; and only once the cache holds its vmlinux or refusal.
    const remember = () => (hashed ? rememberName(cacheDir, known, kernelPath, identity, name) : Promise.resolve());
    const path = join(cacheDir, name);
    // A kernel without PVH support is remembered too, so it is not decompressed on every boot.
    const refusal = join(cacheDir, `${name}.no-pvh`);
    if (existsSync(path)) {
      await markUsed(path);
      await remember();
      return { path, reason: `${path} (cached)` };
    }
    if (existsSync(refusal)) {
      await remember();
      return { reason: `${(await readFile(refusal, 'utf8')).trim()} (cached)` };
    }

    const { DECOMPRESS, findPayload, pvhProblem, streamOf } = await import('./vmlinux-payload.ts');
    const image = hashed ?? (await readFile(kernelPath));
    const payload = findPayload(image);
    const decompress = DECOMPRESS[payload.codec];
    if (!decompress) return { reason: `${kernelPath}: ${payload.codec}-compressed kernels are not extracted; booting the bzImage` };
    const started = Date.now();
    const { stream, size } = streamOf(image, payload);
    const vmlinux = await decompress(stream);
    if (size !== undefined && vmlinux.length % 2 ** 32 !== size) {
      return { reason: `${kernelPath}: the ${payload.codec} payload decompressed to ${vmlinux.length} bytes, the image says ${size}` };
    }
    await makeDirectory(cacheDir, 0o700);
    const problem = pvhProblem(vmlinux);
    if (problem) {
      const reason = `${kernelPath}: decompressed ${payload.codec} payload: ${problem}; booting the bzImage`;
      await writeFileAtomic(refusal, Buffer.from(`${reason}\n`));
      await remember();
      return { reason };
    }
    await writeFileAtomic(path, vmlinux);
    await remember();
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const stale = await pruneLeastRecentlyUsed(cacheDir, VMLINUX_NAME, KEPT_VMLINUXES);
    const pruned = stale.length === 0 ? '' : `; removed the least recently used ${stale.join(', ')}`;
    return { path, reason: `extracted the ${payload.codec} payload of ${kernelPath} to ${path} in ${seconds} s${pruned}` };
  } catch (cause) {
    return { reason: `${kernelPath}: no vmlinux extracted: ${(cause as Error).message}` };
  }
}
