import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PLATFORM, formatPlatform, parsePlatform, platformMatches, selectDescriptor, type Descriptor } from '../../../../../scripts/lib/image/platform.ts';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const d = (n: number, platform?: Descriptor['platform'], name?: string): Descriptor => ({
  mediaType: MANIFEST,
  digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  size: n,
  ...(platform ? { platform } : {}),
  ...(name ? { annotations: { 'org.opencontainers.image.ref.name': name } } : {}),
});
const arm64 = d(1, { os: 'linux', architecture: 'arm64', variant: 'v8' });
const amd64 = d(2, { os: 'linux', architecture: 'amd64' });
const amd64v3 = d(3, { os: 'linux', architecture: 'amd64', variant: 'v3' });
const attestation = d(4, { os: 'unknown', architecture: 'unknown' });
const bare = d(5);

test('platform text round-trips and bad text is refused', () => {
  assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(parsePlatform('linux/amd64'), DEFAULT_PLATFORM);
  assert.equal(formatPlatform({ os: 'linux', architecture: 'arm', variant: 'v7' }), 'linux/arm/v7');
  for (const text of ['linux', 'linux/', '/amd64', 'linux/arm64/', 'a/b/c/d']) assert.throws(() => parsePlatform(text), /is not OS\/ARCHITECTURE\[\/VARIANT\]/, text);
});

test('a variant is compared only when one is wanted', () => {
  assert.equal(platformMatches(amd64v3.platform!, DEFAULT_PLATFORM), true);
  assert.equal(platformMatches(amd64.platform!, { ...DEFAULT_PLATFORM, variant: 'v3' }), false);
});

test('the descriptor for the wanted platform, else the only one without a platform', () => {
  const cases: [Descriptor[], Descriptor][] = [
    [[arm64, amd64, attestation], amd64],
    [[attestation, amd64v3, amd64], amd64v3],
    [[bare], bare],
    [[arm64, bare], bare],
    [[amd64, bare], amd64],
  ];
  for (const [descriptors, expected] of cases) assert.equal(selectDescriptor(descriptors, DEFAULT_PLATFORM, 'index'), expected);
  assert.equal(selectDescriptor([arm64, amd64], { os: 'linux', architecture: 'arm64' }, 'index'), arm64);
});

test('no match, or several images without platforms, is an error that lists them', () => {
  assert.throws(() => selectDescriptor([arm64, attestation], DEFAULT_PLATFORM, 'x/index.json'),
    /^Error: x\/index\.json has no image for linux\/amd64; it offers linux\/arm64\/v8, unknown\/unknown \(choose one with the platform option\)$/);
  assert.throws(() => selectDescriptor([d(6, undefined, 'a'), d(7, undefined, 'b')], DEFAULT_PLATFORM, 'x/index.json'),
    /^Error: x\/index\.json holds 2 images and names no platform for them, so none can be chosen: sha256:6{64} \(a\), sha256:7{64} \(b\)$/);
  assert.throws(() => selectDescriptor([], DEFAULT_PLATFORM, 'x/index.json'), /^Error: x\/index\.json lists no images$/);
});
