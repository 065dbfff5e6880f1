/**
 * The request sequence of a pull against a registry made here with node:http, which serves an
 * image from the fixtures and records every request: authentication flows, redirects to another
 * origin, the errors a registry can give. The real registry's behaviour is tested in test/vm/registry.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PLATFORM } from '../../../../../../scripts/lib/image/platform.ts';
import { pullImage, type PullOptions } from '../../../../../../scripts/lib/image/registry/pull.ts';
import { parseReference } from '../../../../../../scripts/lib/image/registry/reference.ts';
import { resolveImage } from '../../../../../../scripts/lib/image/resolve-image.ts';
import { ociLayout, snapshot, TWO_LAYERS, TWO_LAYERS_TREE, type Image } from '../fixtures.ts';

interface Seen {
  path: string;
  authorization?: string;
}

type Handler = (request: http.IncomingMessage, response: http.ServerResponse, seen: Seen[]) => boolean;

interface Server {
  host: string;
  seen: Seen[];
  close(): Promise<void>;
}

async function serve(handler: Handler): Promise<Server> {
  const seen: Seen[] = [];
  const server = http.createServer((request, response) => {
    seen.push({ path: request.url ?? '', ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}) });
    if (!handler(request, response, seen)) response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'NOT_FOUND', message: 'not here' }] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

const image: Image = await ociLayout([{ entries: TWO_LAYERS[0]!, codec: 'gzip' }, { entries: TWO_LAYERS[1]!, codec: 'zstd' }]);
const blob = (digest: string) => image.files.get(`blobs/sha256/${digest.slice('sha256:'.length)}`)!;
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';

/** Serves the fixture image as repository `app`, tag `v1`; blobs through `blobBase` when given (a redirect). */
function registryOf(image: Image, blobBase?: () => string): Handler {
  return (request, response) => {
    const path = request.url ?? '';
    if (path === '/v2/app/manifests/v1' || path === `/v2/app/manifests/${image.manifestDigest}`) {
      response.writeHead(200, { 'content-type': MANIFEST_TYPE, 'docker-content-digest': image.manifestDigest }).end(blob(image.manifestDigest));
      return true;
    }
    const match = /^\/v2\/app\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path);
    if (match && image.files.has(`blobs/sha256/${match[1]!.slice(7)}`)) {
      if (blobBase) response.writeHead(307, { location: `${blobBase()}/storage/${match[1]}` }).end();
      else response.writeHead(200).end(blob(match[1]!));
      return true;
    }
    return false;
  };
}

async function withCache(body: (cacheDir: string) => Promise<void>): Promise<void> {
  const cacheDir = await mkdtemp(join(tmpdir(), 'virtinitrd-pull-'));
  try {
    await body(cacheDir);
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
}

const options = (cacheDir: string, rest: Partial<PullOptions> = {}): PullOptions => ({ cacheDir, policy: 'missing', tlsVerify: true, platform: DEFAULT_PLATFORM, authFiles: [], ...rest });

test('bearer flow: 401 with a challenge, a token from the realm, the request again with it; blobs redirected elsewhere get no Authorization', async () => {
  let storage: Server | undefined;
  const tokens = await serve((request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'T0K3N' }));
    return request.url!.startsWith('/token?');
  });
  storage = await serve((request, response) => {
    const match = /^\/storage\/(sha256:[0-9a-f]{64})$/.exec(request.url ?? '');
    if (match) response.writeHead(200).end(blob(match[1]!));
    return Boolean(match);
  });
  const serveImage = registryOf(image, () => `http://${storage!.host}`);
  const registry = await serve((request, response) => {
    if (request.headers.authorization !== 'Bearer T0K3N') {
      response.writeHead(401, { 'www-authenticate': `Bearer realm="http://${tokens.host}/token",service="reg",scope="repository:app:pull"`, 'content-type': 'application/json' })
        .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return true;
    }
    return serveImage(request, response, []);
  });
  try {
    await withCache(async (cacheDir) => {
      const logged: string[] = [];
      const layout = await pullImage(parseReference(`${registry.host}/app:v1`), options(cacheDir, { log: (text) => logged.push(text) }));
      assert.deepEqual(await snapshot((await resolveImage(layout, { cacheDir })).rootfs), TWO_LAYERS_TREE);
      const bearer = 'Bearer T0K3N';
      assert.deepEqual(registry.seen, [
        { path: '/v2/app/manifests/v1' },
        { path: '/v2/app/manifests/v1', authorization: bearer },
        ...[image.configDigest, ...image.layerDigests].map((digest) => ({ path: `/v2/app/blobs/${digest}`, authorization: bearer })),
      ]);
      assert.deepEqual(tokens.seen, [{ path: '/token?service=reg&scope=repository%3Aapp%3Apull' }]);
      assert.deepEqual(storage!.seen, [image.configDigest, ...image.layerDigests].map((digest) => ({ path: `/storage/${digest}` })));
      // The debug log says what was fetched, and the plain HTTP fallback.
      assert.ok(logged.includes(`GET https://${registry.host}/v2/app/manifests/v1`), logged.join('\n'));
      assert.ok(logged.includes(`https://${registry.host} speaks no TLS: using http://${registry.host}`), logged.join('\n'));
      // Pulled before: not a single request more.
      const count = registry.seen.length;
      assert.equal(await pullImage(parseReference(`${registry.host}/app:v1`), options(cacheDir)), layout);
      assert.equal(registry.seen.length, count);
      // --pull always asks for the manifest again (a new token first), and downloads no blob it has.
      await pullImage(parseReference(`${registry.host}/app:v1`), options(cacheDir, { policy: 'always' }));
      assert.deepEqual(registry.seen.slice(count), [{ path: '/v2/app/manifests/v1' }, { path: '/v2/app/manifests/v1', authorization: bearer }]);
    });
  } finally {
    await Promise.all([registry.close(), tokens.close(), storage.close()]);
  }
});

test('Basic flow: the credentials are sent only after the registry asks for them', async () => {
  const basic = `Basic ${Buffer.from('u:p').toString('base64')}`;
  const serveImage = registryOf(image);
  const registry = await serve((request, response) => {
    if (request.headers.authorization !== basic) {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
      return true;
    }
    return serveImage(request, response, []);
  });
  try {
    await withCache(async (cacheDir) => {
      const file = join(cacheDir, 'auth', 'auth.json');
      await mkdir(join(cacheDir, 'auth'));
      await writeFile(file, JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('u:p').toString('base64') } } }));
      await pullImage(parseReference(`${registry.host}/app@${image.manifestDigest}`), options(cacheDir, { authFiles: [file] }));
      assert.deepEqual(registry.seen.slice(0, 2), [{ path: `/v2/app/manifests/${image.manifestDigest}` }, { path: `/v2/app/manifests/${image.manifestDigest}`, authorization: basic }]);
      assert.ok(registry.seen.slice(1).every((seen) => seen.authorization === basic));
    });
  } finally {
    await registry.close();
  }
});

test('what a registry can get wrong: each error names the image and the cause, and leaves no temporary file', async () => {
  const cases: { what: string; handler: Handler; reference?: string; message: string | RegExp }[] = [
    {
      what: 'an unsupported manifest type',
      handler: (_request, response) => (response.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' }).end('{}'), true),
      message: /^HOST\/app:v1: the registry sent a manifest of media type "application\/vnd\.docker\.distribution\.manifest\.v1\+prettyjws", which is not supported \(only application\/vnd\.oci\.image\.index\.v1\+json, /,
    },
    {
      what: 'a manifest that is not the digest asked for',
      reference: `app@sha256:${'0'.repeat(64)}`,
      handler: (request, response) => (response.writeHead(200, { 'content-type': MANIFEST_TYPE }).end(blob(image.manifestDigest)), request.url!.includes('/manifests/')),
      message: `manifest sha256:${'0'.repeat(64)} (http://HOST/v2/app/manifests/sha256:${'0'.repeat(64)}) has digest ${image.manifestDigest}: the blob is corrupted or was changed`,
    },
    {
      what: 'a truncated layer',
      handler: (request, response) => {
        if (request.url!.endsWith(image.layerDigests[1]!)) {
          response.writeHead(200).end(blob(image.layerDigests[1]!).subarray(0, 10));
          return true;
        }
        return registryOf(image)(request, response, []);
      },
      message: new RegExp(`^layer ${image.layerDigests[1]} \\(http://HOST/v2/app/blobs/${image.layerDigests[1]}\\) has digest sha256:[0-9a-f]{64}: the blob is corrupted or was changed$`),
    },
    {
      what: 'a layer that is not a tar',
      handler: (request, response) => {
        if (!request.url!.includes('/manifests/')) return false;
        const manifest = JSON.parse(blob(image.manifestDigest).toString()) as { layers: { mediaType: string }[] };
        manifest.layers[1]!.mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted';
        response.writeHead(200, { 'content-type': MANIFEST_TYPE }).end(JSON.stringify(manifest));
        return true;
      },
      message: /^HOST\/app:v1: layer 2\/2 sha256:[0-9a-f]{64}: layer media type "application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip\+encrypted" is not a tar layer \(known: /,
    },
    {
      what: 'a server error',
      handler: (_request, response) => (response.writeHead(500).end('boom'), true),
      message: 'HOST/app:v1: manifest v1: http://HOST/v2/app/manifests/v1 answered HTTP 500 boom',
    },
    {
      what: 'endless redirects',
      handler: (request, response) => (response.writeHead(302, { location: request.url! }).end(), true),
      message: 'http://HOST/v2/app/manifests/v1: more than 8 redirects',
    },
    {
      what: 'a bearer challenge without a realm',
      handler: (_request, response) => (response.writeHead(401, { 'www-authenticate': 'Bearer service="x"' }).end(), true),
      message: 'HOST asks for a bearer token but names no realm to get it from',
    },
  ];
  for (const { what, handler, reference, message } of cases) {
    const registry = await serve(handler);
    try {
      await withCache(async (cacheDir) => {
        const expected = typeof message === 'string' ? message.replaceAll('HOST', registry.host) : new RegExp(message.source.replaceAll('HOST', registry.host.replaceAll('.', '\\.')));
        await assert.rejects(pullImage(parseReference(`${registry.host}/${reference ?? 'app:v1'}`), options(cacheDir)), (cause: Error) => {
          if (typeof expected === 'string') assert.equal(cause.message, expected, what);
          else assert.match(cause.message, expected, what);
          return true;
        });
        const left = (await readdir(cacheDir, { recursive: true })).map(String);
        assert.deepEqual(left.filter((path) => path.includes('.tmp-') || path.includes('images/') || path.includes('references/')), [], what);
      });
    } finally {
      await registry.close();
    }
  }
});
