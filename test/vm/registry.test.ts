/**
 * --image REFERENCE against real registries on 127.0.0.1 (registry-servers.ts): Debian's
 * docker-registry open, behind htpasswd Basic auth, and behind bearer tokens from a token server
 * of the test's own, with images skopeo pushed from layouts the fixtures make. The trees are
 * checked where they are extracted (no VM needed); one VM boots a pulled image. Errors are checked
 * through chrootvm itself (exit 125 and its message, before any kernel is looked for).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openImage, type OpenImageOptions } from '../../scripts/lib/image/open-image.ts';
import { ociLayout, sha256, snapshot, TWO_LAYERS, TWO_LAYERS_TREE, writeFiles, type FixtureEntry, type Image } from '../unit/scripts/lib/image/fixtures.ts';
import { demoKernel } from '../demo.ts';
import { chrootvm, requireDemoRootfs, ROOT, skipWithoutQemu, VM_TEST_TIMEOUT_MS } from './harness.ts';
import { makeSigningKey, push, startRegistry, startTokenServer, writeHtpasswd, type Registry, type TokenServer } from './registry-servers.ts';

const TWO: Parameters<typeof ociLayout>[0] = [{ entries: TWO_LAYERS[0]!, codec: 'gzip' }, { entries: TWO_LAYERS[1]!, codec: 'zstd' }];
const USER = 'puller';
const CONTAINER_CONFIG = { Entrypoint: ['/bin/server'], Cmd: ['--port', '8080'], Env: ['MODE=test'], WorkingDir: '/srv', User: '1000:1000' };
const PASSWORD = 'pa:ss word';

let work = '';

async function layoutOf(name: string, image: Image): Promise<string> {
  const directory = join(work, 'layouts', name);
  await writeFiles(directory, image.files);
  return directory;
}

/** A fresh, empty cache directory (what XDG_CACHE_HOME/virtinitrd would be). */
let caches = 0;
async function emptyCache(): Promise<string> {
  const directory = join(work, 'caches', String((caches += 1)), 'virtinitrd');
  await mkdir(directory, { recursive: true });
  return directory;
}

/** Everything a cache holds below it, as sorted relative paths. */
async function cacheContents(cacheDir: string): Promise<string[]> {
  return (await readdir(cacheDir, { recursive: true })).map(String).sort();
}

let authFiles = 0;
/** An auth file (podman's format) holding `user:password` for the Basic and the token registry. */
async function authFile(user: string, password: string): Promise<string> {
  const path = join(work, `auth-${(authFiles += 1)}.json`);
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  await writeFile(path, JSON.stringify({ auths: { [registries.basic?.host ?? '']: { auth }, [registries.token?.host ?? '']: { auth } } }));
  return path;
}

function open(reference: string, cacheDir: string, options: Partial<OpenImageOptions> = {}) {
  return openImage(reference, { program: 'test', cacheDir, authFiles: [], ...options });
}

/** chrootvm as users run it, with its cache in `cacheDir`; a missing --kernel stops it right after the image. */
function chrootvmImage(args: string[], cacheDir: string, env: NodeJS.ProcessEnv = {}) {
  return chrootvm([...args, '--kernel', join(work, 'no-kernel'), 'true'], { env: { XDG_CACHE_HOME: join(cacheDir, '..'), REGISTRY_AUTH_FILE: join(work, 'no-auth.json'), ...env } });
}

const registries: { open?: Registry; basic?: Registry; token?: Registry } = {};
let tokens: TokenServer | undefined;
const images: Record<'two' | 'multi' | 'armOnly' | 'fragile' | 'configured', Image> = {} as never;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'virtinitrd-registry-'));
  images.two = await ociLayout(TWO);
  images.multi = await ociLayout(TWO, [{ entries: TWO_LAYERS[0]!, codec: 'gzip' }]);
  images.armOnly = await armOnly(images.multi);
  // Layers of their own: the registry stores blobs once, so corrupting a shared one would break other images.
  images.configured = await ociLayout(TWO, undefined, CONTAINER_CONFIG);
  images.fragile = await ociLayout([{ entries: [{ name: 'fragile', content: 'only this image has this file' }], codec: 'gzip' }]);
});

after(async () => {
  await Promise.all([...Object.values(registries).map((registry) => registry.stop()), tokens?.stop()]);
  await rm(work, { recursive: true, force: true });
});

/** The multi-platform image with its amd64 entry taken out of the index: a list of arm64 only. */
async function armOnly(multi: Image): Promise<Image> {
  const files = new Map(multi.files);
  const top = JSON.parse(files.get('index.json')!.toString()) as { manifests: { digest: string }[] };
  const nestedName = `blobs/sha256/${top.manifests[0]!.digest.slice('sha256:'.length)}`;
  const nested = JSON.parse(files.get(nestedName)!.toString()) as { manifests: { platform: { architecture: string } }[] };
  const bytes = Buffer.from(JSON.stringify({ ...nested, manifests: nested.manifests.filter((entry) => entry.platform.architecture !== 'amd64') }));
  const digest = sha256(bytes);
  files.set(`blobs/sha256/${digest.slice('sha256:'.length)}`, bytes);
  files.set('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest, size: bytes.length }] })));
  return { ...multi, files, manifestDigest: digest };
}

describe('an open registry', () => {
  let host = '';
  /** The digest skopeo gave the manifest list it pushed (skopeo copy --all keeps the index's bytes). */
  let listDigest = '';

  before(async () => {
    registries.open = await startRegistry(work, join(work, 'storage-open'));
    host = registries.open.host;
    await push(await layoutOf('two', images.two), `${host}/fixture/two:v1`);
    const multi = await layoutOf('multi', images.multi);
    await push(multi, `${host}/fixture/multi:latest`, { all: true });
    listDigest = (JSON.parse(await readFile(join(multi, 'index.json'), 'utf8')) as { manifests: { digest: string }[] }).manifests[0]!.digest;
    await push(await layoutOf('arm-only', images.armOnly), `${host}/fixture/arm-only:latest`, { all: true });
    await push(await layoutOf('fragile', images.fragile), `${host}/fixture/fragile:latest`);
    await push(await layoutOf('configured', images.configured), `${host}/fixture/configured:1`);
  });

  test('by tag: the extracted tree is the image\'s, cached by its manifest digest; blobs stored once by digest', async () => {
    const cacheDir = await emptyCache();
    const image = await open(`docker://${host}/fixture/two:v1`, cacheDir);
    assert.equal(image.digest, images.two.manifestDigest);
    assert.equal(image.cached, false);
    assert.deepEqual(await snapshot(image.rootfs), TWO_LAYERS_TREE);
    const blobs = (await readdir(join(cacheDir, 'registry/blobs/sha256'))).sort();
    assert.deepEqual(blobs, [images.two.manifestDigest, images.two.configDigest, ...images.two.layerDigests].map((digest) => digest.slice('sha256:'.length)).sort());
  });

  test("the image's config arrives as pushed: Entrypoint, Cmd, Env, WorkingDir, User in the pulled layout", async () => {
    const cacheDir = await emptyCache();
    const image = await open(`${host}/fixture/configured:1`, cacheDir);
    assert.equal(image.digest, images.configured.manifestDigest);
    const config = JSON.parse(await readFile(join(cacheDir, 'registry/blobs/sha256', images.configured.configDigest.slice('sha256:'.length)), 'utf8')) as { config: unknown };
    assert.deepEqual(config.config, CONTAINER_CONFIG);
  });

  test('by digest: of the amd64 manifest, and of the manifest list (its linux/amd64 entry)', async () => {
    const cacheDir = await emptyCache();
    const byManifest = await open(`${host}/fixture/multi@${images.multi.manifestDigest}`, cacheDir);
    assert.equal(byManifest.digest, images.multi.manifestDigest);
    assert.deepEqual(await snapshot(byManifest.rootfs), TWO_LAYERS_TREE);
    const byList = await open(`${host}/fixture/multi@${listDigest}`, cacheDir);
    assert.equal(byList.digest, images.multi.manifestDigest);
    assert.equal(byList.cached, true);
  });

  test('a manifest list by tag: the linux/amd64 image, not the arm64 one listed first', async () => {
    const image = await open(`${host}/fixture/multi`, await emptyCache());
    assert.equal(image.digest, images.multi.manifestDigest);
    assert.deepEqual(await snapshot(image.rootfs), TWO_LAYERS_TREE);
  });

  test('a list without linux/amd64: exit 125 listing the platforms offered', async () => {
    const result = await chrootvmImage(['--image', `${host}/fixture/arm-only`], await emptyCache());
    assert.equal(result.status, 125, result.stderr);
    assert.match(result.stderr, new RegExp(`^chrootvm: --image ${host}/fixture/arm-only: ${host}/fixture/arm-only:latest \\(image index sha256:[0-9a-f]{64}\\) has no image for linux/amd64; it offers linux/arm64/v8`));
  });

  test('an unknown tag and an unknown repository: exit 125 naming the reference and what the registry said', async () => {
    const cacheDir = await emptyCache();
    const tag = await chrootvmImage(['--image', `${host}/fixture/two:v9`], cacheDir);
    assert.equal(tag.status, 125, tag.stderr);
    assert.equal(tag.stderr, `chrootvm: --image ${host}/fixture/two:v9: ${host}/fixture/two:v9: manifest v9 not found in ${host} (MANIFEST_UNKNOWN: manifest unknown)\n`);
    const name = await chrootvmImage(['--image', `${host}/no/such`], cacheDir);
    assert.equal(name.status, 125, name.stderr);
    assert.equal(name.stderr, `chrootvm: --image ${host}/no/such: ${host}/no/such:latest: manifest latest not found in ${host} (MANIFEST_UNKNOWN: manifest unknown)\n`);
  });

  test('a corrupted blob served: the digest error names expected and actual, and nothing is cached', async () => {
    const layer = images.fragile.layerDigests[0]!;
    const hex = layer.slice('sha256:'.length);
    const data = join(registries.open!.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const blob = await readFile(data);
    const at = Math.floor(blob.length / 2);
    blob[at] = blob[at]! ^ 0x20;
    await writeFile(data, blob);
    const cacheDir = await emptyCache();
    const result = await chrootvmImage(['--image', `${host}/fixture/fragile`], cacheDir);
    assert.equal(result.status, 125, result.stderr);
    assert.equal(
      result.stderr,
      `chrootvm: --image ${host}/fixture/fragile: layer ${layer} (http://${host}/v2/fixture/fragile/blobs/${layer}) has digest ${sha256(blob)}: the blob is corrupted or was changed\n`,
    );
    // The manifest and config were fine and may stay; the layer, any image, reference or tree may not.
    const left = await cacheContents(cacheDir);
    assert.deepEqual(left.filter((path) => path.includes(hex) || /^registry\/(images|references)\/./.test(path) || /^rootfs\/./.test(path)), []);
    assert.deepEqual(left.filter((path) => path.includes('.tmp-')), []);
  });

  test('--pull never with nothing cached: exit 125 naming the reference and the cache', async () => {
    const cacheDir = await emptyCache();
    const result = await chrootvmImage(['--pull', 'never', '--image', `${host}/fixture/two:v1`], cacheDir);
    assert.equal(result.status, 125, result.stderr);
    assert.equal(result.stderr, `chrootvm: --image ${host}/fixture/two:v1: ${host}/fixture/two:v1 was never pulled (nothing in ${join(cacheDir, 'registry')}), and --pull never forbids pulling it\n`);
  });

  test('mkvirtinitrd --image REFERENCE packs the pulled image (--list shows its files)', async () => {
    requireDemoRootfs();
    const cacheDir = await emptyCache();
    const listed = spawnSync(join(ROOT, 'bin/mkvirtinitrd'), ['--image', `${host}/fixture/two:v1`, '--list', demoKernel()!.moddir], {
      encoding: 'utf8',
      env: { ...process.env, XDG_CACHE_HOME: join(cacheDir, '..') },
    });
    assert.equal(listed.status, 0, listed.stderr);
    const files = listed.stdout.split('\n').filter((line) => line.endsWith('the system')).map((line) => line.split(/\s+/)[0]);
    for (const node of TWO_LAYERS_TREE) assert.ok(files.includes(`/${node.path}`), `${node.path} in\n${listed.stdout}`);
  });

  test('chrootvm boots a pulled image', { skip: skipWithoutQemu, timeout: VM_TEST_TIMEOUT_MS }, async () => {
    const demo = requireDemoRootfs();
    const busybox = await readFile(join(demo, 'bin/busybox'));
    const base: FixtureEntry[] = [
      { name: './', type: 'directory' },
      { name: 'bin/', type: 'directory' },
      { name: 'bin/busybox', content: busybox, mode: 0o755 },
      { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
      { name: 'bin/cat', type: 'symlink', linkname: 'busybox' },
      ...['dev', 'proc', 'sys', 'run', 'tmp'].map((dir): FixtureEntry => ({ name: `${dir}/`, type: 'directory' })),
      { name: 'etc/', type: 'directory' },
      { name: 'etc/motd', content: 'pulled from a registry\n' },
    ];
    await push(await layoutOf('bootable', await ociLayout([{ entries: base, codec: 'gzip' }])), `${host}/fixture/bootable:1`);
    const cacheDir = await emptyCache();
    const result = await chrootvm(['--image', `${host}/fixture/bootable:1`, '--kernel-from', demo, 'cat', '/etc/motd'], { env: { XDG_CACHE_HOME: join(cacheDir, '..') } });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'pulled from a registry\n');
  });

  test('with the registry stopped: a pulled image is used again without a request; --pull always names the URL it cannot reach', async () => {
    const cacheDir = await emptyCache();
    const first = await open(`${host}/fixture/two:v1`, cacheDir);
    await registries.open!.stop();
    const logged: string[] = [];
    const again = await open(`${host}/fixture/two:v1`, cacheDir, { log: (text) => logged.push(text) });
    assert.deepEqual({ ...again, cached: true }, { ...first, cached: true });
    assert.equal(again.cached, true);
    assert.deepEqual(logged.filter((text) => text.startsWith('GET ')), []);
    const never = await open(`${host}/fixture/two:v1`, cacheDir, { pull: 'never' });
    assert.equal(never.rootfs, first.rootfs);
    const result = await chrootvmImage(['--pull=always', '--image', `${host}/fixture/two:v1`], cacheDir);
    assert.equal(result.status, 125, result.stderr);
    assert.equal(result.stderr, `chrootvm: --image ${host}/fixture/two:v1: cannot reach https://${host}/v2/fixture/two/manifests/v1: ECONNREFUSED\n`);
  });
});

describe('a registry behind Basic auth (htpasswd)', () => {
  let host = '';

  before(async () => {
    const htpasswd = join(work, 'htpasswd');
    await writeHtpasswd(htpasswd, USER, PASSWORD);
    registries.basic = await startRegistry(work, join(work, 'storage-basic'), `  htpasswd:\n    realm: virtinitrd-test\n    path: ${htpasswd}`);
    host = registries.basic.host;
    await push(await layoutOf('two', images.two), `${host}/private/two:v1`, { credentials: `${USER}:${PASSWORD}` });
  });

  test('credentials from $REGISTRY_AUTH_FILE: the image is pulled', async () => {
    const cacheDir = await emptyCache();
    const result = await chrootvmImage(['--image', `${host}/private/two:v1`], cacheDir, { REGISTRY_AUTH_FILE: await authFile(USER, PASSWORD) });
    // Past the image: the kernel given is what fails.
    assert.equal(result.status, 125, result.stderr);
    assert.doesNotMatch(result.stderr, /--image/);
    assert.deepEqual(await snapshot(join(cacheDir, 'rootfs', images.two.manifestDigest.replace(':', '-'))), TWO_LAYERS_TREE);
  });

  test('without credentials, or with a wrong password: exit 125 naming the host and the credentials used', async () => {
    const none = await chrootvmImage(['--image', `${host}/private/two:v1`], await emptyCache());
    assert.equal(none.status, 125, none.stderr);
    assert.equal(none.stderr, `chrootvm: --image ${host}/private/two:v1: ${host} refused access to ${host}/private/two:v1 (UNAUTHORIZED: authentication required), asked without credentials (none in the auth files)\n`);
    const file = await authFile(USER, 'wrong');
    const wrong = await chrootvmImage(['--image', `${host}/private/two:v1`], await emptyCache(), { REGISTRY_AUTH_FILE: file });
    assert.equal(wrong.status, 125, wrong.stderr);
    assert.equal(wrong.stderr, `chrootvm: --image ${host}/private/two:v1: ${host} refused access to ${host}/private/two:v1 (UNAUTHORIZED: authentication required), asked with the credentials of ${USER} from ${file}\n`);
  });
});

describe('a registry behind bearer tokens', () => {
  let host = '';

  before(async () => {
    const signing = await makeSigningKey(work);
    const bundle = join(work, 'token-bundle.pem');
    await writeFile(bundle, signing.certificate);
    const service = 'virtinitrd-test-registry';
    const issuer = 'virtinitrd-test-issuer';
    tokens = await startTokenServer(signing, { issuer, service, user: USER, password: PASSWORD });
    registries.token = await startRegistry(work, join(work, 'storage-token'), `  token:\n    realm: ${tokens.realm}\n    service: ${service}\n    issuer: ${issuer}\n    rootcertbundle: ${bundle}`);
    host = registries.token.host;
    const layout = await layoutOf('two', images.two);
    await push(layout, `${host}/public/two:v1`, { credentials: `${USER}:${PASSWORD}` });
    await push(layout, `${host}/private/two:v1`, { credentials: `${USER}:${PASSWORD}` });
  });

  test('anonymous: a token for pull of the repository, from the realm the registry names', async () => {
    tokens!.requests.length = 0;
    const image = await open(`${host}/public/two:v1`, await emptyCache());
    assert.deepEqual(await snapshot(image.rootfs), TWO_LAYERS_TREE);
    assert.deepEqual(tokens!.requests, [{ user: undefined, scopes: ['repository:public/two:pull'] }]);
  });

  test('with credentials from the auth file: the token server gets them', async () => {
    tokens!.requests.length = 0;
    const image = await open(`${host}/private/two:v1`, await emptyCache(), { authFiles: [await authFile(USER, PASSWORD)] });
    assert.deepEqual(await snapshot(image.rootfs), TWO_LAYERS_TREE);
    assert.deepEqual(tokens!.requests, [{ user: USER, scopes: ['repository:private/two:pull'] }]);
  });

  test('refused: by the registry (a token without access), and by the token server (a wrong password)', async () => {
    await assert.rejects(open(`${host}/private/two:v1`, await emptyCache()), {
      message: `${host} refused access to ${host}/private/two:v1 (UNAUTHORIZED: authentication required), asked without credentials (none in the auth files)`,
    });
    const file = await authFile(USER, 'wrong');
    await assert.rejects(open(`${host}/private/two:v1`, await emptyCache(), { authFiles: [file] }), {
      message: `the token server ${tokens!.realm} refused access to ${host}/private/two:v1 (HTTP 401 {"details":"wrong user or password"}), asked with the credentials of ${USER} from ${file}`,
    });
  });
});

test('nothing is left behind in the caches', async () => {
  for (const cache of existsSync(join(work, 'caches')) ? await readdir(join(work, 'caches')) : []) {
    assert.deepEqual((await cacheContents(join(work, 'caches', cache, 'virtinitrd'))).filter((path) => path.includes('.tmp-')), [], cache);
  }
});
