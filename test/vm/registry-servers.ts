/**
 * Real registries for the pull tests: Debian's docker-registry (distribution 2.8) on a free
 * 127.0.0.1 port with its storage in the test's directory, images pushed into it by skopeo, and a
 * token server (node:http) that signs the JWTs the registry's `auth: token` accepts: RS256, the
 * signing certificate in the header's `x5c`, that self-signed certificate the registry's
 * rootcertbundle (made with the openssl CLI).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface Registry {
  /** `127.0.0.1:PORT`. */
  host: string;
  /** The registry's filesystem storage (docker/registry/v2/…). */
  storage: string;
  stop(): Promise<void>;
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Answers once `url` answers at all (any status), or fails when `child` ends first. */
async function waitUntilServing(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry ended with ${child.exitCode}: ${stderr()}`);
    const answered = await new Promise<boolean>((resolve) => {
      http.get(url, (response) => (response.resume(), resolve(true))).on('error', () => resolve(false));
    });
    if (answered) return;
    if (Date.now() > deadline) throw new Error(`docker-registry did not answer on ${url} within 20 s: ${stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * docker-registry serving `storage` on a free port; `auth` is the YAML of its `auth:` section
 * (indented by four), none for an open registry.
 */
export async function startRegistry(directory: string, storage: string, auth?: string): Promise<Registry> {
  const port = await freePort();
  const config = join(directory, `registry-${port}.yml`);
  await writeFile(config, [
    'version: 0.1',
    'log:',
    '  level: warn',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    'http:',
    `  addr: 127.0.0.1:${port}`,
    ...(auth ? ['auth:', auth] : []),
    '',
  ].join('\n'));
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const registry = { host: `127.0.0.1:${port}`, storage, stop: () => stopProcess(child) };
  try {
    await waitUntilServing(`http://127.0.0.1:${port}/v2/`, child, () => stderr);
  } catch (cause) {
    await registry.stop();
    throw cause;
  }
  return registry;
}

/**
 * skopeo copy of an OCI layout to `reference` (`--all`: every platform of an index), digests
 * kept: skopeo would gzip an uncompressed layer for a registry, so the fixtures' layers pushed
 * here are compressed already.
 */
export async function push(layout: string, reference: string, options: { credentials?: string; all?: boolean } = {}): Promise<void> {
  await run('skopeo', [
    'copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false',
    ...(options.credentials ? ['--dest-creds', options.credentials] : []),
    ...(options.all ? ['--all'] : []),
    `oci:${layout}`, `docker://${reference}`,
  ]);
}

/** A bcrypt htpasswd file (the registry takes no other hash). */
export async function writeHtpasswd(path: string, user: string, password: string): Promise<void> {
  const { stdout } = await run('htpasswd', ['-Bbn', user, password]);
  await writeFile(path, stdout);
}

export interface SigningKey {
  key: KeyObject;
  /** The self-signed certificate, PEM: the registry's rootcertbundle. */
  certificate: string;
  /** Base64 DER, for the JWT header's x5c. */
  x5c: string;
}

export async function makeSigningKey(directory: string): Promise<SigningKey> {
  const keyFile = join(directory, 'token-key.pem');
  const certificateFile = join(directory, 'token-cert.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certificateFile, '-days', '2', '-subj', '/CN=virtinitrd test token issuer']);
  const certificate = await readFile(certificateFile, 'utf8');
  return { key: createPrivateKey(await readFile(keyFile)), certificate, x5c: new X509Certificate(certificate).raw.toString('base64') };
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

export interface TokenRequest {
  /** The user of the Basic credentials sent, or undefined. */
  user: string | undefined;
  scopes: string[];
}

export interface TokenServer {
  realm: string;
  requests: TokenRequest[];
  stop(): Promise<void>;
}

/**
 * Grants what is asked to `user` with `password`; anonymous requests get pull on `public/…` only;
 * wrong credentials get 401. Tokens are JWTs as distribution's token spec has them.
 */
export async function startTokenServer(signing: SigningKey, options: { issuer: string; service: string; user: string; password: string }): Promise<TokenServer> {
  const requests: TokenRequest[] = [];
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://token');
    const basic = /^Basic (.+)$/.exec(request.headers.authorization ?? '');
    const [user, password] = basic ? Buffer.from(basic[1]!, 'base64').toString().split(/:(.*)/s) : [undefined, undefined];
    const scopes = url.searchParams.getAll('scope');
    requests.push({ user, scopes });
    if (user !== undefined && (user !== options.user || password !== options.password)) {
      response.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ details: 'wrong user or password' }));
      return;
    }
    const access = scopes.map((scope) => {
      const [type, name, actions] = [scope.slice(0, scope.indexOf(':')), scope.slice(scope.indexOf(':') + 1, scope.lastIndexOf(':')), scope.slice(scope.lastIndexOf(':') + 1)];
      const granted = user !== undefined ? actions.split(',') : name.startsWith('public/') ? actions.split(',').filter((action) => action === 'pull') : [];
      return { type, name, actions: granted };
    });
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: options.issuer, sub: user ?? '', aud: url.searchParams.get('service'), exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const unsigned = `${base64url({ typ: 'JWT', alg: 'RS256', x5c: [signing.x5c] })}.${base64url(claims)}`;
    const token = `${unsigned}.${sign('sha256', Buffer.from(unsigned), signing.key).toString('base64url')}`;
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    requests,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
