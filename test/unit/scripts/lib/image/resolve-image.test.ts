import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { removeTree } from '../../../../../scripts/lib/remove-tree.ts';
import { DigestMismatchError } from '../../../../../scripts/lib/image/digest.ts';
import { ImageLimitError } from '../../../../../scripts/lib/image/limits.ts';
import { NO_PROCESS } from '../../../../../scripts/lib/image/manifest.ts';
import { resolveImage } from '../../../../../scripts/lib/image/resolve-image.ts';
import { archiveOf, compress, dockerArchiveFiles, FLAT_TREE, MTIME_SECONDS, ociLayout, sha256, snapshot, tarOf, TWO_LAYERS, TWO_LAYERS_TREE, writeFiles, wrongMtimes, type Files } from './fixtures.ts';

async function scratch(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'image-test-'));
  // removeTree: the trees hold read-only directories, which a non-root user cannot empty as they are.
  t.after(() => removeTree(directory));
  return directory;
}

const twoLayers = () => ociLayout([{ entries: TWO_LAYERS[0], codec: 'gzip' }, { entries: TWO_LAYERS[1], codec: 'zstd' }]);
const entryName = (digest: string) => `sha256-${digest.slice('sha256:'.length)}`;

/** Flips one byte in the middle of a file's contents. */
function corrupt(files: Files, name: string): void {
  const bytes = Buffer.from(files.get(name) as Buffer);
  bytes[bytes.length >> 1] ^= 0x01;
  files.set(name, bytes);
}

async function assertExtracted(rootfs: string): Promise<void> {
  assert.deepEqual(await snapshot(rootfs), TWO_LAYERS_TREE);
  assert.deepEqual(await wrongMtimes(rootfs), []);
  const root = await lstat(rootfs);
  assert.deepEqual([root.mode & 0o7777, root.mtimeMs / 1000], [0o755, MTIME_SECONDS]);
}

test('an OCI layout of two layers (gzip, zstd) extracts to exactly the stacked tree; the second call reads no layer', async (t) => {
  const work = await scratch(t);
  const image = await twoLayers();
  const layout = join(work, 'layout');
  await writeFiles(layout, image.files);
  const cacheDir = join(work, 'cache');
  const rootfs = join(cacheDir, 'rootfs', entryName(image.manifestDigest));
  const first = await resolveImage(layout, { cacheDir });
  assert.deepEqual(first, { rootfs, digest: image.manifestDigest, kind: 'oci-layout', process: NO_PROCESS, cached: false, warnings: [] });
  await assertExtracted(rootfs);
  // Beside the tree, its users: this process, until it exits.
  assert.deepEqual(await readdir(join(cacheDir, 'rootfs')), [entryName(image.manifestDigest), `${entryName(image.manifestDigest)}.users`]);
  assert.deepEqual(await readdir(join(cacheDir, 'rootfs', `${entryName(image.manifestDigest)}.users`)), [String(process.pid)]);
  // A broken layer would fail an extraction: the cache hit must not read it.
  await writeFile(join(layout, 'blobs/sha256', image.layerDigests[0]?.slice(7) as string), 'garbage');
  assert.deepEqual(await resolveImage(layout, { cacheDir }), { ...first, cached: true });
});

test("the image config's process comes back with the tree, from the cache too", async (t) => {
  const work = await scratch(t);
  const container = { Entrypoint: ['/bin/server'], Cmd: ['--port', '80'], Env: ['A=1'], WorkingDir: '/srv', User: '1000', ExposedPorts: { '80/tcp': {} } };
  const image = await ociLayout([{ entries: TWO_LAYERS[0], codec: 'gzip' }], undefined, container);
  await writeFiles(join(work, 'layout'), image.files);
  const expected = { entrypoint: ['/bin/server'], cmd: ['--port', '80'], env: ['A=1'], workingDir: '/srv', user: '1000', exposedPorts: ['80/tcp'] };
  assert.deepEqual((await resolveImage(join(work, 'layout'), { cacheDir: join(work, 'cache') })).process, expected);
  assert.deepEqual((await resolveImage(join(work, 'layout'), { cacheDir: join(work, 'cache') })).process, expected);
});

test('a nested multi-platform index: linux/amd64 by default, another platform on request', async (t) => {
  const work = await scratch(t);
  const arm64 = [{ entries: [{ name: 'arm64-only', content: 'arm' }], codec: 'none' as const }];
  const image = await ociLayout([{ entries: TWO_LAYERS[0], codec: 'gzip' }, { entries: TWO_LAYERS[1], codec: 'none' }], arm64);
  await writeFiles(join(work, 'layout'), image.files);
  const amd64 = await resolveImage(join(work, 'layout'), { cacheDir: join(work, 'cache') });
  assert.equal(amd64.digest, image.manifestDigest);
  await assertExtracted(amd64.rootfs);
  const other = await resolveImage(join(work, 'layout'), { cacheDir: join(work, 'cache'), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
  assert.notEqual(other.digest, image.manifestDigest);
  assert.deepEqual((await snapshot(other.rootfs)).map((node) => node.path), ['arm64-only']);
  await assert.rejects(resolveImage(join(work, 'layout'), { cacheDir: join(work, 'cache'), platform: { os: 'linux', architecture: 's390x' } }),
    /has no image for linux\/s390x; it offers linux\/arm64\/v8, linux\/amd64/);
});

test('a docker-archive (layers stored after the manifest) extracts to the same tree, keyed by the image id', async (t) => {
  const work = await scratch(t);
  const image = await dockerArchiveFiles([{ entries: TWO_LAYERS[0], codec: 'none' }, { entries: TWO_LAYERS[1], codec: 'none' }]);
  await writeFile(join(work, 'saved'), await archiveOf(new Map([...image.files].reverse())));
  const result = await resolveImage(join(work, 'saved'), { cacheDir: join(work, 'cache') });
  assert.deepEqual([result.kind, result.digest, result.cached], ['docker-archive', image.configDigest, false]);
  await assertExtracted(result.rootfs);
});

test('an OCI archive, plain and gzip-compressed, extracts to the same tree under the manifest digest', async (t) => {
  const work = await scratch(t);
  const image = await twoLayers();
  const archive = await archiveOf(image.files);
  for (const [name, bytes] of [['image.tar', archive], ['image.tar.gz', compress(archive, 'gzip')]] as const) {
    await writeFile(join(work, name), bytes);
    const result = await resolveImage(join(work, name), { cacheDir: join(work, name === 'image.tar' ? 'cache' : 'cache-gz') });
    assert.deepEqual([result.kind, result.digest, result.cached], ['oci-archive', image.manifestDigest, false]);
    await assertExtracted(result.rootfs);
  }
});

test('a rootfs tar is recognized by content (plain, gzip, zstd; any name) and keyed by its sha256', async (t) => {
  const work = await scratch(t);
  const plain = await tarOf(FLAT_TREE);
  for (const [codec, bytes] of [['none', plain], ['gzip', zlib.gzipSync(plain)], ['zstd', zlib.zstdCompressSync(plain)]] as const) {
    const file = join(work, `rootfs-${codec}.img`);
    await writeFile(file, bytes);
    const result = await resolveImage(file, { cacheDir: join(work, 'cache') });
    assert.deepEqual([result.kind, result.digest, result.rootfs], ['rootfs-tar', sha256(bytes), join(work, 'cache/rootfs', entryName(sha256(bytes)))]);
    await assertExtracted(result.rootfs);
  }
});

test('one changed byte in a manifest, config or layer blob is an error naming the blob and its file; nothing is cached', async (t) => {
  const work = await scratch(t);
  const image = await twoLayers();
  const blob = (digest: string) => `blobs/sha256/${digest.slice(7)}`;
  const cases = [
    ['manifest', image.manifestDigest],
    ['config', image.configDigest],
    ['layer', image.layerDigests[0] as string],
    ['layer', image.layerDigests[1] as string],
  ] as const;
  for (const [what, digest] of cases) {
    const files = new Map(image.files);
    corrupt(files, blob(digest));
    const layout = join(work, `layout-${digest.slice(7, 15)}`);
    await writeFiles(layout, files);
    await assert.rejects(resolveImage(layout, { cacheDir: join(work, 'cache') }), (error: Error) => {
      assert.ok(error instanceof DigestMismatchError, error.message);
      assert.match(error.message, new RegExp(`^${what} ${digest} \\(${join(layout, blob(digest))}\\) has digest sha256:[0-9a-f]{64}: the blob is corrupted`));
      return true;
    });
  }
  assert.deepEqual(await readdir(join(work, 'cache/rootfs')).catch(() => []), []);
});

test('a corrupted docker-archive layer (named by a legacy id, not a digest) fails its diff_id', async (t) => {
  const work = await scratch(t);
  const image = await dockerArchiveFiles([{ entries: [{ name: 'a', content: 'x'.repeat(2000) }], codec: 'none' }]);
  const layerName = [...image.files.keys()].find((name) => name.endsWith('/layer.tar')) as string;
  const bytes = Buffer.from(image.files.get(layerName) as Buffer);
  bytes[1000] ^= 0x01;
  image.files.set(layerName, bytes);
  await writeFile(join(work, 'saved.tar'), await archiveOf(image.files));
  const message = new RegExp(`^DigestMismatchError: layer \\(uncompressed, diff_id\\) ${image.layerDigests[0]} \\(${join(work, 'saved.tar')}: ${layerName}\\) has digest`);
  await assert.rejects(resolveImage(join(work, 'saved.tar'), { cacheDir: join(work, 'cache') }), message);
  // A changed byte in a tar header breaks the tar before the end: the digest is still the message.
  bytes[1000] ^= 0x01;
  bytes[100] ^= 0x01;
  await writeFile(join(work, 'saved.tar'), await archiveOf(image.files));
  await assert.rejects(resolveImage(join(work, 'saved.tar'), { cacheDir: join(work, 'cache') }), message);
});

test('an extraction left behind by a dead process is removed by the next run', async (t) => {
  const work = await scratch(t);
  const image = await twoLayers();
  await writeFiles(join(work, 'layout'), image.files);
  // pid 4194305 is above the kernel's pid_max: never alive.
  const stale = join(work, 'cache/rootfs', `.tmp-${entryName(image.manifestDigest)}-4194305-0badcafe`);
  await mkdir(join(stale, 'tree/etc'), { recursive: true });
  const lines: string[] = [];
  await resolveImage(join(work, 'layout'), { cacheDir: join(work, 'cache'), log: (line) => lines.push(line) });
  assert.deepEqual(await readdir(join(work, 'cache/rootfs')), [entryName(image.manifestDigest), `${entryName(image.manifestDigest)}.users`]);
  assert.ok(lines.includes(`removed ${stale}, left by an extraction that did not finish`), lines.join('\n'));
});

test('limits apply across layers and name the option that raises them', async (t) => {
  const work = await scratch(t);
  const image = await twoLayers();
  await writeFiles(join(work, 'layout'), image.files);
  await assert.rejects(resolveImage(join(work, 'layout'), { cacheDir: join(work, 'cache'), limits: { maxBytes: 40 } }), (error: Error) => {
    assert.ok(error instanceof ImageLimitError);
    assert.equal(error.limit, 'maxBytes');
    assert.match(error.message, /exceeds the maxBytes limit of 40; raise it with the maxBytes option$/);
    return true;
  });
  await assert.rejects(resolveImage(join(work, 'layout'), { cacheDir: join(work, 'cache'), limits: { maxEntries: 30 } }),
    /entry 31 \("etc\/hostname"\) exceeds the maxEntries limit of 30; raise it with the maxEntries option$/);
});

test('what is not an image says so', async (t) => {
  const work = await scratch(t);
  await mkdir(join(work, 'plain-dir'));
  await writeFile(join(work, 'image.tar.xz'), Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2]));
  await writeFile(join(work, 'notes.txt'), 'hello');
  const cases = [
    ['missing', /^Error: image \S+missing does not exist$/],
    ['plain-dir', /is a directory but not an OCI image layout \(it has no oci-layout file\)$/],
    ['image.tar.xz', /image\.tar\.xz is xz-compressed, which is not read here: decompress it first/],
    ['notes.txt', /notes\.txt is not a tar archive \(nor gzip- or zstd-compressed tar\)$/],
  ] as const;
  for (const [name, message] of cases) await assert.rejects(resolveImage(join(work, name), { cacheDir: join(work, 'cache') }), message);
});
