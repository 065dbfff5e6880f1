/**
 * What pulls leave in the cache, below `<cacheDir>/registry/`:
 *   blobs/sha256/HEX          every manifest, config and layer, once, by digest (shared by all images)
 *   images/sha256-HEX/        per pulled manifest, an OCI image layout (oci-layout, index.json
 *                             naming the manifest, `blobs` a symlink to the store), which
 *                             resolveImage extracts as it does any local layout
 *   references/SHA256.json    per reference pulled (`{reference, digest}`, named by the reference's
 *                             sha256): its manifest then, so that a later run needs no network
 * A blob is written to a temporary file and renamed into place only once its digest and size are
 * right, so a blob path that exists holds the right bytes. The store keeps the KEPT_IMAGES most
 * recently used images and the blobs they name; anything else goes after each pull.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeFileAtomic } from '../../atomic-write.ts';
import { markUsed } from '../../cache-lru.ts';
import { makeDirectory } from '../../make-directory.ts';
import { cacheEntryName, makeTemporary, publish, removeStaleTemporaries } from '../cache.ts';
import { removeTree } from '../../remove-tree.ts';
import { checkDigest, digestOf, HashTap, parseDigest } from '../digest.ts';
import { MEDIA_TYPES, parseImageDocument } from '../manifest.ts';
import type { Descriptor } from '../platform.ts';

/** Pulled images kept, the most recently used; their layers are most of a pull's bytes. */
export const KEPT_IMAGES = 8;
// A blob this recent may belong to a pull still under way in another process: it is not removed.
const BLOB_GRACE_MS = 60 * 60 * 1000;

export interface ReferenceRecord {
  reference: string;
  /** The manifest (for linux/amd64) the reference named when it was pulled. */
  digest: string;
}

export class RegistryStore {
  readonly root: string;

  constructor(cacheDir: string) {
    this.root = join(cacheDir, 'registry');
  }

  blobPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest, 'blob');
    return join(this.root, 'blobs', algorithm, hex);
  }

  imagePath(manifestDigest: string): string {
    return join(this.root, 'images', cacheEntryName(parseDigest(manifestDigest, 'manifest')));
  }

  #referencePath(reference: string): string {
    return join(this.root, 'references', `${createHash('sha256').update(reference).digest('hex')}.json`);
  }

  hasBlob(digest: string): boolean {
    return existsSync(this.blobPath(digest));
  }

  /** Writes a document already in memory, after checking it is the one `descriptor` names. */
  async putDocument(descriptor: Pick<Descriptor, 'digest' | 'size'>, bytes: Buffer, what: string, where: string): Promise<void> {
    const { algorithm } = parseDigest(descriptor.digest, what);
    checkDigest(what, descriptor.digest, digestOf(bytes, algorithm), where, { expected: descriptor.size, actual: bytes.length });
    await makeDirectory(join(this.root, 'blobs', algorithm), 0o700);
    await writeFileAtomic(this.blobPath(descriptor.digest), bytes);
  }

  /**
   * Streams a blob to a temporary file beside its place, hashing it on the way, and renames it
   * there only when its digest and size are the descriptor's. `where` names its source in messages.
   */
  async putBlob(descriptor: Pick<Descriptor, 'digest' | 'size'>, body: Readable, what: string, where: string, onBytes?: (bytes: number) => void): Promise<void> {
    const { algorithm } = parseDigest(descriptor.digest, what);
    const directory = join(this.root, 'blobs', algorithm);
    await makeDirectory(directory, 0o700);
    const temporary = await makeTemporary(directory, 'blob');
    try {
      const tap = new HashTap(algorithm);
      if (onBytes) tap.on('data', () => onBytes(tap.bytes));
      const file = join(temporary.path, 'data');
      await pipeline(body, tap, createWriteStream(file, { mode: 0o644 }));
      checkDigest(what, descriptor.digest, tap.digest(), where, { expected: descriptor.size, actual: tap.bytes });
      await rename(file, this.blobPath(descriptor.digest));
    } finally {
      await temporary.dispose();
    }
  }

  /** The layout for `manifest` (already in the store): made once, atomically. */
  async writeImage(manifest: Pick<Descriptor, 'mediaType' | 'digest' | 'size'>): Promise<string> {
    const final = this.imagePath(manifest.digest);
    if (existsSync(final)) return final;
    const directory = join(this.root, 'images');
    const temporary = await makeTemporary(directory, cacheEntryName(parseDigest(manifest.digest, 'manifest')));
    try {
      const layout = join(temporary.path, 'layout');
      await mkdir(layout, { mode: 0o755 });
      await writeFileAtomic(join(layout, 'oci-layout'), Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
      const index = { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [{ mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size }] };
      await writeFileAtomic(join(layout, 'index.json'), Buffer.from(JSON.stringify(index)));
      await symlink('../../blobs', join(layout, 'blobs'));
      await publish(layout, final);
      return final;
    } finally {
      await temporary.dispose();
    }
  }

  /**
   * The image a reference was pulled as, when its layout and every blob it names are still here
   * (the last use is recorded); undefined otherwise.
   */
  async cachedImage(reference: string): Promise<string | undefined> {
    const record = await this.#readRecord(this.#referencePath(reference));
    if (!record || record.reference !== reference) return undefined;
    const image = this.imagePath(record.digest);
    const digests = await this.#namedBlobs(image).catch(() => undefined);
    if (!digests || !digests.every((digest) => this.hasBlob(digest))) return undefined;
    await markUsed(join(image, 'index.json'));
    return image;
  }

  async recordReference(reference: string, digest: string): Promise<void> {
    await makeDirectory(join(this.root, 'references'), 0o700);
    await writeFileAtomic(this.#referencePath(reference), Buffer.from(JSON.stringify({ reference, digest } satisfies ReferenceRecord)));
    await markUsed(join(this.imagePath(digest), 'index.json'));
  }

  async #readRecord(path: string): Promise<ReferenceRecord | undefined> {
    try {
      const record = JSON.parse(await readFile(path, 'utf8')) as ReferenceRecord;
      parseDigest(record.digest, path);
      return record;
    } catch {
      return undefined;
    }
  }

  /** The blobs a stored layout needs: its manifest, the config and the layers. */
  async #namedBlobs(image: string): Promise<string[]> {
    const index = JSON.parse(await readFile(join(image, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    const manifest = index.manifests[0] as Descriptor;
    const document = parseImageDocument(await readFile(this.blobPath(manifest.digest)), manifest.digest, manifest.mediaType);
    return document.kind === 'manifest' ? [manifest.digest, document.config.digest, ...document.layers.map((layer) => layer.digest)] : [manifest.digest];
  }

  /**
   * Keeps the KEPT_IMAGES most recently used images; removes the others, the references to them,
   * and the blobs no kept image names. Returns what it removed, for the debug log.
   */
  async prune(): Promise<string[]> {
    const imagesDirectory = join(this.root, 'images');
    const images: { path: string; used: number }[] = [];
    for (const name of await readdir(imagesDirectory).catch(() => [])) {
      if (!/^sha(256|512)-[0-9a-f]+$/.test(name)) continue;
      const info = await stat(join(imagesDirectory, name, 'index.json')).catch(() => undefined);
      if (info) images.push({ path: join(imagesDirectory, name), used: info.mtimeMs });
    }
    images.sort((a, b) => b.used - a.used || a.path.localeCompare(b.path));
    const removed: string[] = [];
    for (const directory of [imagesDirectory, ...(await readdir(join(this.root, 'blobs')).catch(() => [])).map((algorithm) => join(this.root, 'blobs', algorithm))]) {
      removed.push(...(await removeStaleTemporaries(directory)).map((name) => join(directory, name)));
    }
    for (const { path } of images.slice(KEPT_IMAGES)) {
      await removeTree(path);
      removed.push(path);
    }
    const kept = images.slice(0, KEPT_IMAGES);
    const named = new Set<string>();
    for (const { path } of kept) for (const digest of await this.#namedBlobs(path).catch(() => [])) named.add(this.blobPath(digest));
    const keptDigests = new Set(kept.map(({ path }) => path));
    for (const name of await readdir(join(this.root, 'references')).catch(() => [])) {
      // Only finished records: a `.tmp-` file beside one is another run's write in progress.
      if (!/^[0-9a-f]{64}\.json$/.test(name)) continue;
      const path = join(this.root, 'references', name);
      const record = await this.#readRecord(path);
      if (!record || !keptDigests.has(this.imagePath(record.digest))) {
        await rm(path, { force: true });
        removed.push(path);
      }
    }
    const now = Date.now();
    for (const algorithm of await readdir(join(this.root, 'blobs')).catch(() => [])) {
      for (const name of await readdir(join(this.root, 'blobs', algorithm)).catch(() => [])) {
        const path = join(this.root, 'blobs', algorithm, name);
        if (named.has(path) || name.startsWith('.tmp-')) continue;
        const info = await stat(path).catch(() => undefined);
        if (!info || now - info.mtimeMs < BLOB_GRACE_MS) continue;
        await rm(path, { force: true });
        removed.push(path);
      }
    }
    return removed;
  }
}
