import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MEDIA_TYPES, NO_PROCESS, parseDescriptor, parseDockerManifest, parseImageConfig, parseImageDocument, selectDockerImage } from '../../../../../scripts/lib/image/manifest.ts';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const manifest = (extra: Record<string, unknown> = {}) => ({
  schemaVersion: 2,
  config: { mediaType: MEDIA_TYPES.ociConfig, digest: A, size: 10 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: B, size: 20 }],
  ...extra,
});

test('an image manifest, with or without its own mediaType, docker schema 2 too', () => {
  const expected = {
    kind: 'manifest',
    config: { mediaType: MEDIA_TYPES.ociConfig, digest: A, size: 10 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: B, size: 20 }],
  };
  assert.deepEqual(parseImageDocument(json(manifest({ mediaType: MEDIA_TYPES.ociManifest })), 'm'), expected);
  assert.deepEqual(parseImageDocument(json(manifest()), 'm'), expected);
  assert.deepEqual(parseImageDocument(json(manifest()), 'm', MEDIA_TYPES.dockerManifest), expected);
  const docker = manifest({ mediaType: MEDIA_TYPES.dockerManifest, config: { mediaType: MEDIA_TYPES.dockerConfig, digest: A, size: 10 } });
  assert.equal(parseImageDocument(json(docker), 'm').kind, 'manifest');
});

test('an image index keeps only image and index entries, with their platforms and annotations', () => {
  const index = {
    schemaVersion: 2,
    manifests: [
      { mediaType: MEDIA_TYPES.ociManifest, digest: A, size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      { mediaType: 'application/vnd.example.signature', digest: B, size: 2 },
      { mediaType: MEDIA_TYPES.dockerList, digest: B, size: 3, annotations: { 'org.opencontainers.image.ref.name': 'v1' } },
    ],
  };
  const expected = {
    kind: 'index',
    manifests: [
      { mediaType: MEDIA_TYPES.ociManifest, digest: A, size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      { mediaType: MEDIA_TYPES.dockerList, digest: B, size: 3, annotations: { 'org.opencontainers.image.ref.name': 'v1' } },
    ],
  };
  assert.deepEqual(parseImageDocument(json(index), 'i'), expected);
  assert.deepEqual(parseImageDocument(json({ ...index, mediaType: MEDIA_TYPES.ociIndex }), 'i'), expected);
});

test('malformed documents are refused, naming the file and field', () => {
  const cases: [unknown, RegExp][] = [
    ['not json', /^Error: f is not valid JSON/],
    [[1], /^Error: f is not a JSON object$/],
    [{ ...manifest(), schemaVersion: 1 }, /^Error: f: schemaVersion 1 is not 2$/],
    [manifest({ mediaType: 'application/json' }), /^Error: f: media type "application\/json" is neither an image index nor an image manifest$/],
    [manifest({ config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: A, size: 1 } }), /config media type "application\/vnd\.cncf\.helm\.config\.v1\+json" is not a container image config/],
    [manifest({ layers: [{ mediaType: 'x', digest: 'sha256:../../etc/passwd', size: 1 }] }), /^Error: f layers\[0\]\.digest: "sha256:\.\.\/\.\.\/etc\/passwd" is not a sha256 or sha512 digest$/],
    [manifest({ layers: [{ mediaType: 'x', digest: B, size: -1 }] }), /^Error: f layers\[0\]\.size is not a byte count$/],
    [manifest({ layers: undefined }), /^Error: f: an image manifest without "layers"$/],
    [{ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex }, /^Error: f: an image index without "manifests"$/],
  ];
  for (const [value, message] of cases) {
    const bytes = typeof value === 'string' ? Buffer.from(value) : json(value);
    assert.throws(() => parseImageDocument(bytes, 'f'), message);
  }
  assert.throws(() => parseDescriptor({ digest: A, size: 1 }, 'd'), /^Error: d\.mediaType is missing or not a string$/);
});

test('an image config: its platform and diff_ids', () => {
  assert.deepEqual(parseImageConfig(json({ os: 'linux', architecture: 'arm64', variant: 'v8', rootfs: { type: 'layers', diff_ids: [A, B] } }), 'c'),
    { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, diffIds: [A, B], process: NO_PROCESS });
  assert.deepEqual(parseImageConfig(json({}), 'c'), { diffIds: [], process: NO_PROCESS });
  assert.throws(() => parseImageConfig(json({ rootfs: { diff_ids: ['md5:x'] } }), 'c'), /^Error: c rootfs\.diff_ids\[0\]: "md5:x" is not a sha256 or sha512 digest$/);
});

test("an image config's process: docker's and OCI's fields, null and absent ones empty", () => {
  const config = {
    Entrypoint: ['/usr/bin/server', '--flag'],
    Cmd: ['serve'],
    Env: ['PATH=/usr/bin', 'A=b c'],
    WorkingDir: '/srv',
    User: 'app:app',
    ExposedPorts: { '8080/tcp': {}, '53/udp': {} },
    Labels: { ignored: 'yes' },
  };
  assert.deepEqual(parseImageConfig(json({ config }), 'c').process, {
    entrypoint: ['/usr/bin/server', '--flag'],
    cmd: ['serve'],
    env: ['PATH=/usr/bin', 'A=b c'],
    workingDir: '/srv',
    user: 'app:app',
    exposedPorts: ['53/udp', '8080/tcp'],
  });
  // docker writes null for what a Dockerfile did not set.
  assert.deepEqual(parseImageConfig(json({ config: { Entrypoint: null, Cmd: null, Env: null, WorkingDir: '', ExposedPorts: null } }), 'c').process, NO_PROCESS);
  assert.throws(() => parseImageConfig(json({ config: { Cmd: 'sh -c true' } }), 'c'), /^Error: c config\.Cmd is not a list of strings$/);
  assert.throws(() => parseImageConfig(json({ config: { User: 0 } }), 'c'), /^Error: c config\.User is not a string$/);
  assert.throws(() => parseImageConfig(json({ config: { ExposedPorts: ['80/tcp'] } }), 'c'), /^Error: c config\.ExposedPorts is not a JSON object$/);
});

test('docker manifest.json: one entry per image, and exactly one wanted', () => {
  const images = parseDockerManifest(json([{ Config: 'abc.json', RepoTags: ['a:1', 'a:latest'], Layers: ['1/layer.tar', '2/layer.tar'] }, { Config: 'def.json', RepoTags: null, Layers: [] }]), 'm');
  assert.deepEqual(images, [{ config: 'abc.json', layers: ['1/layer.tar', '2/layer.tar'], tags: ['a:1', 'a:latest'] }, { config: 'def.json', layers: [], tags: [] }]);
  assert.equal(selectDockerImage(images.slice(0, 1), 'm'), images[0]);
  assert.throws(() => selectDockerImage(images, 'x.tar: manifest.json'), /^Error: x\.tar: manifest\.json holds 2 images \(a:1 a:latest, def\.json\); save one image per archive$/);
  assert.throws(() => selectDockerImage([], 'm'), /^Error: m lists no images$/);
  assert.throws(() => parseDockerManifest(json({}), 'm'), /^Error: m is not a JSON array of images$/);
  assert.throws(() => parseDockerManifest(json([{ Config: 'c' }]), 'm'), /^Error: m \[0\]\.Layers is missing or not an array$/);
});
