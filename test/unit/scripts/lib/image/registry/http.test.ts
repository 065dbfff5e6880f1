import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get, readBody, UnreachableError } from '../../../../../../scripts/lib/image/registry/http.ts';

async function listen(handler: http.RequestListener): Promise<{ origin: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

test('redirects are followed; Authorization goes along on the same origin only', async () => {
  const seen: string[] = [];
  const other = await listen((request, response) => {
    seen.push(`other ${request.url} ${request.headers.authorization ?? '-'}`);
    response.end('payload');
  });
  const registry = await listen((request, response) => {
    seen.push(`registry ${request.url} ${request.headers.authorization ?? '-'}`);
    if (request.url === '/first') response.writeHead(301, { location: '/second' }).end();
    else response.writeHead(307, { location: `${other.origin}/blob?signed=1` }).end();
  });
  try {
    const response = await get(new URL(`${registry.origin}/first`), { headers: { Authorization: 'Bearer t' }, tlsVerify: true });
    assert.equal(response.status, 200);
    assert.equal(response.url.href, `${other.origin}/blob?signed=1`);
    assert.equal((await readBody(response)).toString(), 'payload');
    assert.deepEqual(seen, ['registry /first Bearer t', 'registry /second Bearer t', 'other /blob?signed=1 -']);
  } finally {
    await Promise.all([registry.close(), other.close()]);
  }
});

test('a refused connection names the URL and the errno; a body longer than allowed is refused', async () => {
  const server = await listen((_request, response) => response.end('x'.repeat(100)));
  const origin = server.origin;
  try {
    await assert.rejects(readBody(await get(new URL(`${origin}/big`), { tlsVerify: true }), 10), { message: `${origin}/big: the answer is longer than 10 bytes` });
  } finally {
    await server.close();
  }
  await assert.rejects(get(new URL(`${origin}/v2/`), { tlsVerify: true }), (cause: unknown) => {
    assert.ok(cause instanceof UnreachableError);
    assert.equal(cause.code, 'ECONNREFUSED');
    assert.equal(cause.message, `cannot reach ${origin}/v2/: ECONNREFUSED`);
    return true;
  });
});

test('HTTPS: a certificate that does not verify is refused, naming --tls-verify=false, which accepts it', async () => {
  // A self-signed certificate, as a registry on a test machine has (the openssl CLI makes it).
  const directory = mkdtempSync(join(tmpdir(), 'virtinitrd-tls-'));
  let key: Buffer;
  let cert: Buffer;
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(directory, 'key.pem'), '-out', join(directory, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
    [key, cert] = [readFileSync(join(directory, 'key.pem')), readFileSync(join(directory, 'cert.pem'))];
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
  const server = https.createServer({ key, cert }, (_request, response) => response.end('over TLS'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}/v2/`);
  try {
    await assert.rejects(get(url, { tlsVerify: true }), {
      message: `cannot reach ${url.href}: DEPTH_ZERO_SELF_SIGNED_CERT: its certificate does not verify (--tls-verify=false accepts any)`,
    });
    assert.equal((await readBody(await get(url, { tlsVerify: false }))).toString(), 'over TLS');
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
