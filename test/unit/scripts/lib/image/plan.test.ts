import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Budget, DEFAULT_LIMITS } from '../../../../../scripts/lib/image/limits.ts';
import { digestInName, planImage } from '../../../../../scripts/lib/image/plan.ts';
import { DEFAULT_PLATFORM } from '../../../../../scripts/lib/image/platform.ts';
import { archiveOf, dockerArchiveFiles, ociLayout, sha256, tarOf, writeFiles, type Files, type Layer } from './fixtures.ts';

const HEX = 'd'.repeat(64);
const LAYERS: Layer[] = [{ entries: [{ name: 'a', content: 'a' }], codec: 'gzip' }, { entries: [{ name: 'b', content: 'b' }], codec: 'none' }];
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

async function scratch(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'image-plan-'));
  t.after(() => rm(directory, { recursive: true, force: true }));
  return directory;
}

test('digests spelled in member names', () => {
  const cases: [string, string | undefined][] = [
    [`blobs/sha256/${HEX}`, `sha256:${HEX}`],
    [`${HEX}.json`, `sha256:${HEX}`],
    [`${HEX}/layer.tar`, undefined],
    ['config.json', undefined],
    [`x${HEX}.json`, undefined],
  ];
  for (const [name, digest] of cases) assert.equal(digestInName(name), digest, name);
});

test('an OCI layout plans its layers in order, straight from its blobs, with codecs and digests', async (t) => {
  const work = await scratch(t);
  const image = await ociLayout(LAYERS);
  await writeFiles(work, image.files);
  const plan = await planImage(work, DEFAULT_PLATFORM);
  assert.deepEqual([plan.kind, plan.digest], ['oci-layout', { algorithm: 'sha256', hex: image.manifestDigest.slice(7) }]);
  const blob = (i: number) => join(work, 'blobs/sha256', (image.layerDigests[i] as string).slice(7));
  const size = (i: number) => (image.files.get(`blobs/sha256/${(image.layerDigests[i] as string).slice(7)}`) as Buffer).length;
  assert.deepEqual(await plan.layers(join(work, 'unused'), new Budget(DEFAULT_LIMITS, 'x')), [
    { file: blob(0), where: blob(0), codec: 'gzip', digest: image.layerDigests[0], size: size(0) },
    { file: blob(1), where: blob(1), codec: 'none', digest: image.layerDigests[1], size: size(1) },
  ]);
});

test('a docker archive plans layers by diff_id (legacy ids are not digests)', async (t) => {
  const work = await scratch(t);
  const image = await dockerArchiveFiles(LAYERS);
  await writeFile(join(work, 'd.tar'), await archiveOf(image.files));
  const plan = await planImage(join(work, 'd.tar'), DEFAULT_PLATFORM);
  assert.equal(plan.kind, 'docker-archive');
  const layers = await plan.layers(join(work, 'staging'), new Budget(DEFAULT_LIMITS, 'x'));
  const names = [...image.files.keys()].filter((name) => name.endsWith('/layer.tar'));
  assert.deepEqual(layers, names.map((name, i) => ({ file: join(work, 'staging', `member-${i}`), where: `${join(work, 'd.tar')}: ${name}`, diffId: image.layerDigests[i] })));
});

test('a tar without image metadata is a rootfs tar, checked again by its own digest', async (t) => {
  const work = await scratch(t);
  const bytes = await tarOf([{ name: 'manifest.json', content: '{"not":"docker"}' }, { name: 'etc/x', content: 'x' }]);
  await writeFile(join(work, 'r.tar'), bytes);
  const plan = await planImage(join(work, 'r.tar'), DEFAULT_PLATFORM);
  assert.equal(plan.kind, 'rootfs-tar');
  assert.deepEqual(await plan.layers(join(work, 's'), new Budget(DEFAULT_LIMITS, 'x')), [{ file: join(work, 'r.tar'), where: join(work, 'r.tar'), codec: 'none', digest: sha256(bytes) }]);
});

/** An OCI layout's files with one document replaced (by blob name or file name). */
async function layoutWith(work: string, edit: (files: Files, image: Awaited<ReturnType<typeof ociLayout>>) => void): Promise<string> {
  const image = await ociLayout(LAYERS);
  edit(image.files, image);
  await writeFiles(work, image.files);
  return work;
}

test('layout problems are errors that name the file', async (t) => {
  const cases: [(files: Files, image: Awaited<ReturnType<typeof ociLayout>>) => void, RegExp][] = [
    [(files) => files.set('oci-layout', json({})), /oci-layout has no imageLayoutVersion$/],
    [(files) => files.delete('index.json'), /^Error: OCI layout \S+ has no index\.json$/],
    [(files, image) => files.delete(`blobs/sha256/${image.manifestDigest.slice(7)}`), /^Error: OCI layout \S+ has no blobs\/sha256\/[0-9a-f]{64}$/],
    [(files, image) => {
      const manifest = `blobs/sha256/${image.manifestDigest.slice(7)}`;
      const config = json({ architecture: 'arm64', os: 'linux', rootfs: { diff_ids: [] } });
      const configDigest = sha256(config);
      files.set(`blobs/sha256/${configDigest.slice(7)}`, config);
      const document = JSON.parse((files.get(manifest) as Buffer).toString());
      document.config = { ...document.config, digest: configDigest, size: config.length };
      const bytes = json(document);
      files.set(`blobs/sha256/${sha256(bytes).slice(7)}`, bytes);
      files.set('index.json', json({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(bytes), size: bytes.length }] }));
    }, /^Error: manifest sha256:[0-9a-f]{64} is an image for linux\/arm64, not linux\/amd64 \(choose another with the platform option\)$/],
    [(files, image) => {
      // Nine indexes, each pointing at the next, the last at the manifest.
      const manifest = files.get(`blobs/sha256/${image.manifestDigest.slice(7)}`) as Buffer;
      let target = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.manifestDigest, size: manifest.length };
      for (let i = 0; i < 9; i += 1) {
        const bytes = json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [target] });
        files.set(`blobs/sha256/${sha256(bytes).slice(7)}`, bytes);
        target = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: sha256(bytes), size: bytes.length };
      }
      files.set('index.json', json({ schemaVersion: 2, manifests: [target] }));
    }, /index\.json: image indexes nested more than 8 deep$/],
  ];
  for (const [i, [edit, message]] of cases.entries()) {
    const work = await scratch(t);
    await assert.rejects(planImage(await layoutWith(join(work, `l${i}`), edit), DEFAULT_PLATFORM), message);
  }
});

test('docker archive problems are errors that name the archive and member', async (t) => {
  const work = await scratch(t);
  const image = await dockerArchiveFiles(LAYERS);
  const configName = [...image.files.keys()].find((name) => name.endsWith('.json') && name !== 'manifest.json') as string;
  const manifest = JSON.parse((image.files.get('manifest.json') as Buffer).toString());
  const cases: [Files, RegExp][] = [
    [new Map([...image.files, ['manifest.json', json([{ ...manifest[0], Layers: manifest[0].Layers.slice(1) }])]]), /manifest\.json lists 1 layers but config [0-9a-f]{64}\.json has 2 diff_ids$/],
    [new Map([...image.files, [configName, json({ os: 'linux', architecture: 'amd64', rootfs: { diff_ids: [] } })]]), /^DigestMismatchError: config sha256:[0-9a-f]{64} \(\S+d\.tar: [0-9a-f]{64}\.json\) has digest/],
    [new Map([...image.files, ['manifest.json', json([manifest[0], manifest[0]])]]), /manifest\.json holds 2 images \(fixture:latest, fixture:latest\); save one image per archive$/],
    [new Map([...image.files].filter(([name]) => name !== configName)), /d\.tar has no member [0-9a-f]{64}\.json \(the image config named in manifest\.json\), or it is too big$/],
  ];
  for (const [files, message] of cases) {
    await writeFile(join(work, 'd.tar'), await archiveOf(files));
    await assert.rejects(planImage(join(work, 'd.tar'), DEFAULT_PLATFORM), (error: Error) => {
      assert.match(`${error.name}: ${error.message}`, message);
      return true;
    });
  }
});
