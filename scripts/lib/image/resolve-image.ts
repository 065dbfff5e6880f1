/**
 * An image (OCI layout directory, OCI or docker archive, plain rootfs tar) as an extracted,
 * cached rootfs directory that chrootvm can share with a VM. The tree is built once per image
 * digest; later calls return the cached path without reading a layer. The process that asked
 * holds the tree until it exits (tree-users.ts), and each call bounds the cache (prune-trees.ts).
 */
import { createReadStream, existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { cacheDirectory } from '../initrd-cache.ts';
import { cacheEntryName, makeTemporary, publish, removeStaleTemporaries, rootfsCacheDirectory } from './cache.ts';
import { checkDigest, DigestMismatchError, formatDigest, HashTap, parseDigest, type DigestAlgorithm } from './digest.ts';
import { TreeWriter } from './apply.ts';
import { Budget, DEFAULT_LIMITS, type Limits } from './limits.ts';
import type { ImageProcess } from './manifest.ts';
import { makeDirectory } from '../make-directory.ts';
import { tarCodec } from './media.ts';
import { planImage, type ImageKind, type ImagePlan, type LayerSource } from './plan.ts';
import { DEFAULT_PLATFORM, type Platform } from './platform.ts';
import { KEPT_TREES, pruneTrees } from './prune-trees.ts';
import { decoder, forEachTarEntry, readHead } from './tar-read.ts';
import { useTree } from './tree-users.ts';
import { hashFile } from '../hash-file.ts';
import { currentPrivilege } from '../user-namespace.ts';

export type { ImageKind } from './plan.ts';

export interface ResolveImageOptions {
  /** Default: cacheDirectory() (~/.cache/virtinitrd). The trees go to `<cacheDir>/rootfs/`. */
  cacheDir?: string;
  /** Default linux/amd64. */
  platform?: Platform;
  /** Overrides of DEFAULT_LIMITS. */
  limits?: Partial<Limits>;
  /** Progress lines (extracting layer N/M …). */
  log?: (text: string) => void;
  /** How many extracted trees the cache keeps, besides those in use. Default KEPT_TREES. */
  keptTrees?: number;
}

export interface ResolvedImage {
  /** The extracted tree: a directory to boot. */
  rootfs: string;
  /** `sha256:HEX`: the manifest's digest, docker's image id, or the rootfs tar's sha256. */
  digest: string;
  kind: ImageKind;
  /** How the image's config says to run its process. */
  process: ImageProcess;
  /** True when the tree was already there and nothing was extracted. */
  cached: boolean;
  /** What the extraction left out (device nodes as non-root, unknown entry types). */
  warnings: string[];
}

async function fileDigest(path: string, algorithm: DigestAlgorithm): Promise<{ digest: string; bytes: number }> {
  const { hex, bytes } = await hashFile(path, algorithm);
  return { digest: `${algorithm}:${hex}`, bytes };
}

/**
 * Extracts one layer file. When the extraction fails, the blob's digest is checked first: a
 * corrupted blob usually shows as a gzip or tar error, and its digest is the better message.
 */
async function applyLayer(writer: TreeWriter, layer: LayerSource): Promise<void> {
  const raw = new HashTap(layer.digest ? parseDigest(layer.digest, layer.where).algorithm : 'sha256');
  const uncompressed = layer.diffId ? new HashTap(parseDigest(layer.diffId, layer.where).algorithm) : undefined;
  const codec = layer.codec ?? tarCodec(await readHead(layer.file), `layer ${layer.where}`);
  const checkRaw = ({ digest, bytes }: { digest: string; bytes: number }) => {
    if (layer.digest) checkDigest('layer', layer.digest, digest, layer.where, layer.size === undefined ? undefined : { expected: layer.size, actual: bytes });
  };
  const checkDiffId = (digest: string) => {
    if (layer.diffId) checkDigest('layer (uncompressed, diff_id)', layer.diffId, digest, layer.where);
  };
  writer.beginLayer();
  try {
    await forEachTarEntry(createReadStream(layer.file), [raw, ...decoder(codec), ...(uncompressed ? [uncompressed] : [])], (entry) => writer.write(entry));
  } catch (cause) {
    if (layer.digest) checkRaw(await fileDigest(layer.file, raw.algorithm));
    // An uncompressed docker layer is its own diff_id: the same check, by the digest it has.
    else if (layer.diffId && uncompressed && codec === 'none') checkDiffId((await fileDigest(layer.file, uncompressed.algorithm)).digest);
    if (cause instanceof Error && !(cause instanceof DigestMismatchError)) cause.message = `${layer.where}: ${cause.message}`;
    throw cause;
  }
  checkRaw({ digest: raw.digest(), bytes: raw.bytes });
  if (uncompressed) checkDiffId(uncompressed.digest());
}

export async function resolveImage(path: string, options: ResolveImageOptions = {}): Promise<ResolvedImage> {
  const source = resolve(path);
  const log = options.log ?? (() => undefined);
  const plan = await planImage(source, options.platform ?? DEFAULT_PLATFORM);
  const digest = formatDigest(plan.digest);
  const directory = rootfsCacheDirectory(options.cacheDir ?? cacheDirectory());
  const rootfs = join(directory, cacheEntryName(plan.digest));
  await makeDirectory(directory, 0o700);
  for (const name of await removeStaleTemporaries(directory)) log(`removed ${join(directory, name)}, left by an extraction that did not finish`);
  // Before looking: from here on the tree is either there and stays while we run, or is not there.
  const use = await useTree(rootfs);
  let resolved: ResolvedImage;
  if (existsSync(rootfs)) {
    log(`image ${source} (${digest}): cached at ${rootfs}`);
    resolved = { rootfs, digest, kind: plan.kind, process: plan.process, cached: true, warnings: [] };
  } else {
    const warnings = await extract(plan, source, rootfs, options, log).catch(async (cause: unknown) => {
      await use.abandon();
      throw cause;
    });
    resolved = { rootfs, digest, kind: plan.kind, process: plan.process, cached: false, warnings };
  }
  const pruned = await pruneTrees(directory, options.keptTrees ?? KEPT_TREES);
  for (const tree of pruned.removed) log(`removed the least recently used image tree ${tree}`);
  for (const tree of pruned.inUse) log(`kept the image tree ${tree}, beyond the ${options.keptTrees ?? KEPT_TREES} most recently used: a running process uses it`);
  return resolved;
}

/** Extracts the image's layers into a temporary tree and publishes it at `rootfs`; returns the extraction's warnings. */
async function extract(plan: ImagePlan, source: string, rootfs: string, options: ResolveImageOptions, log: (text: string) => void): Promise<string[]> {
  const directory = dirname(rootfs);
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const temporary = await makeTemporary(directory, basename(rootfs));
  try {
    const layers = await plan.layers(join(temporary.path, 'layers'), new Budget(limits, source));
    const tree = join(temporary.path, 'tree');
    await mkdir(tree, { mode: 0o700 });
    // Root of a user namespace owns entries as the image says, within the ids it maps (README: Rootless use).
    const privilege = currentPrivilege().kind;
    const writer = new TreeWriter(tree, { chown: privilege !== 'user', deviceNodes: privilege === 'root', budget: new Budget(limits, source) });
    for (const [i, layer] of layers.entries()) {
      log(`image ${source}: extracting layer ${i + 1}/${layers.length} ${layer.digest ?? layer.diffId ?? ''}`.trimEnd());
      await applyLayer(writer, layer);
    }
    const warnings = await writer.finish();
    await publish(tree, rootfs);
    log(`image ${source} (${formatDigest(plan.digest)}): extracted to ${rootfs}`);
    return warnings;
  } finally {
    await temporary.dispose();
  }
}
