import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DigestMismatchError } from '../../../../../../scripts/lib/image/digest.ts';
import { KEPT_IMAGES, RegistryStore } from '../../../../../../scripts/lib/image/registry/store.ts';
import { resolveImage } from '../../../../../../scripts/lib/image/resolve-image.ts';
import { ociLayout, snapshot, TWO_LAYERS, TWO_LAYERS_TREE, type Image } from '../fixtures.ts';

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const bytesOf = (image: Image, digest: string) => image.files.get(`blobs/sha256/${digest.slice('sha256:'.length)}`)!;
const descriptor = (image: Image, digest: string) => ({ digest, size: bytesOf(image, digest).length });

/** Stores `image` as a pull would, recorded under `reference`; returns its layout. */
async function store(into: RegistryStore, image: Image, reference: string): Promise<string> {
  for (const digest of [image.configDigest, ...image.layerDigests]) await into.putBlob(descriptor(image, digest), Readable.from([bytesOf(image, digest)]), 'layer', digest);
  await into.putDocument(descriptor(image, image.manifestDigest), bytesOf(image, image.manifestDigest), 'manifest', reference);
  const layout = await into.writeImage({ mediaType: MANIFEST_TYPE, ...descriptor(image, image.manifestDigest) });
  await into.recordReference(reference, image.manifestDigest);
  return layout;
}

async function withStore(body: (store: RegistryStore, cacheDir: string) => Promise<void>): Promise<void> {
  const cacheDir = await mkdtemp(join(tmpdir(), 'virtinitrd-store-'));
  try {
    await body(new RegistryStore(cacheDir), cacheDir);
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
}

test('a stored image is an OCI layout resolveImage extracts, found again by its reference', async () => {
  await withStore(async (registry, cacheDir) => {
    const image = await ociLayout([{ entries: TWO_LAYERS[0]!, codec: 'gzip' }, { entries: TWO_LAYERS[1]!, codec: 'none' }]);
    const layout = await store(registry, image, 'reg.example/app:v1');
    assert.equal(layout, join(cacheDir, 'registry/images', image.manifestDigest.replace(':', '-')));
    assert.deepEqual((await readdir(layout)).sort(), ['blobs', 'index.json', 'oci-layout']);
    const resolved = await resolveImage(layout, { cacheDir });
    assert.equal(resolved.digest, image.manifestDigest);
    assert.deepEqual(await snapshot(resolved.rootfs), TWO_LAYERS_TREE);
    assert.equal(await registry.cachedImage('reg.example/app:v1'), layout);
    assert.equal(await registry.cachedImage('reg.example/app:v2'), undefined);
    // A blob gone (removed by hand) makes the image missing, to be pulled again.
    await rm(registry.blobPath(image.layerDigests[1]!));
    assert.equal(await registry.cachedImage('reg.example/app:v1'), undefined);
  });
});

test('a blob whose bytes are not its digest is not stored, and no temporary file stays', async () => {
  await withStore(async (registry) => {
    const image = await ociLayout([{ entries: TWO_LAYERS[0]!, codec: 'gzip' }]);
    const digest = image.layerDigests[0]!;
    const wrong = Buffer.from(bytesOf(image, digest));
    wrong[wrong.length >> 1] ^= 1;
    await assert.rejects(registry.putBlob(descriptor(image, digest), Readable.from([wrong]), 'layer', 'http://reg/blob'), DigestMismatchError);
    await assert.rejects(registry.putBlob(descriptor(image, digest), Readable.from([bytesOf(image, digest), Buffer.from('x')]), 'layer', 'http://reg/blob'), DigestMismatchError);
    assert.equal(registry.hasBlob(digest), false);
    assert.deepEqual(await readdir(join(registry.root, 'blobs/sha256')), []);
  });
});

test(`the store keeps the ${KEPT_IMAGES} most recently used images and the blobs they name`, async () => {
  await withStore(async (registry) => {
    const images: Image[] = [];
    const shared = { name: 'shared', content: 'in every image' };
    for (let i = 0; i <= KEPT_IMAGES; i += 1) {
      images.push(await ociLayout([{ entries: [shared], codec: 'none' }, { entries: [{ name: `own-${i}`, content: String(i) }], codec: 'none' }]));
    }
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    for (const [i, image] of images.entries()) {
      const layout = await store(registry, image, `reg.example/app:${i}`);
      // Image 0 the least recently used; every blob older than a pull under way could be.
      await utimes(join(layout, 'index.json'), new Date(old.getTime() + i * 1000), new Date(old.getTime() + i * 1000));
      for (const digest of [image.manifestDigest, image.configDigest, ...image.layerDigests]) await utimes(registry.blobPath(digest), old, old);
    }
    // Another run's record being written: not a record yet, and not the prune's to remove.
    const writing = join(registry.root, 'references', `${'0'.repeat(64)}.json.tmp-1-abcd`);
    await writeFile(writing, '{');
    const removed = await registry.prune();
    assert.equal(existsSync(writing), true);
    const [gone, ...kept] = images as [Image, ...Image[]];
    assert.equal(existsSync(registry.imagePath(gone.manifestDigest)), false);
    assert.equal(await registry.cachedImage('reg.example/app:0'), undefined);
    for (const digest of [gone.manifestDigest, gone.configDigest, gone.layerDigests[1]!]) assert.equal(registry.hasBlob(digest), false, digest);
    // The shared layer is named by images still kept.
    assert.equal(registry.hasBlob(gone.layerDigests[0]!), true);
    for (const [i, image] of kept.entries()) assert.equal(await registry.cachedImage(`reg.example/app:${i + 1}`), registry.imagePath(image.manifestDigest));
    assert.equal(removed.length, 1 + 1 + 3);
  });
});
