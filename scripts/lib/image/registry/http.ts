/**
 * GET over node:http/node:https, following redirects. Not the global fetch: --tls-verify=false
 * needs `rejectUnauthorized: false` and the system's CAs need `ca`, which fetch takes only through
 * undici's dispatcher (not importable from Node itself); and a connection error here keeps its
 * errno (ECONNREFUSED) for the message instead of fetch's "fetch failed".
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/**
 * node:http, node:https and node:tls, loaded on the first request: loading them costs every
 * chrootvm run ~45 ms before qemu starts (Node 26), and most runs pull nothing.
 */
const network = async () => {
  const [http, https, tls] = await Promise.all([import('node:http'), import('node:https'), import('node:tls')]);
  return { http: http.default, https: https.default, tls: tls.default };
};
type Network = Awaited<ReturnType<typeof network>>;

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Where the response came from, after redirects. */
  url: URL;
  body: IncomingMessage;
}

export interface GetOptions {
  headers?: Record<string, string>;
  /** false: accept any certificate (--tls-verify=false). */
  tlsVerify: boolean;
  log?: (text: string) => void;
}

const MAX_REDIRECTS = 8;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
// A registry that accepts the connection and then says nothing is as good as unreachable.
const IDLE_TIMEOUT_MS = 60_000;

// OpenSSL's and Node's codes for a certificate that does not verify (self-signed, unknown CA, wrong name, expired).
const CERTIFICATE_PROBLEM = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;

/** The registry could not be talked to at all (no answer, refused, TLS failed). */
export class UnreachableError extends Error {
  readonly code: string | undefined;

  constructor(url: URL, cause: NodeJS.ErrnoException) {
    // Node's own text for a certificate error suggests a Node option; ours are the system's CAs already.
    const detail = CERTIFICATE_PROBLEM.test(cause.code ?? '')
      ? ': its certificate does not verify (--tls-verify=false accepts any)'
      : cause.code && cause.message && !cause.message.includes(cause.code) ? ` (${cause.message})` : '';
    super(`cannot reach ${url.href}: ${cause.code ?? cause.message}${detail}`);
    this.name = 'UnreachableError';
    this.code = cause.code;
  }
}

let trusted: string[] | undefined;

/**
 * Node's bundled CAs and the system's (/etc/ssl/certs): a registry whose CA the administrator
 * installed is trusted, as podman trusts it. Read once, on the first HTTPS request (~70 ms).
 */
function trustedCertificates({ tls }: Network): string[] {
  trusted ??= [...new Set([...tls.getCACertificates('default'), ...tls.getCACertificates('system')])];
  return trusted;
}

async function getOnce(url: URL, headers: Record<string, string>, tlsVerify: boolean): Promise<IncomingMessage> {
  const loaded = await network();
  const { http, https } = loaded;
  return new Promise((resolve, reject) => {
    const options = { headers, timeout: IDLE_TIMEOUT_MS };
    const request = url.protocol === 'https:'
      ? https.get(url, { ...options, ...(tlsVerify ? { ca: trustedCertificates(loaded) } : { rejectUnauthorized: false }) })
      : http.get(url, options);
    request.once('response', resolve);
    request.once('timeout', () => request.destroy(Object.assign(new Error(`no answer for ${IDLE_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
    request.once('error', (cause: NodeJS.ErrnoException) => reject(new UnreachableError(url, cause)));
  });
}

/** Reads a (small) response body whole: error bodies, tokens, manifests. */
export async function readBody(response: HttpResponse, limit = 4 * 2 ** 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of response.body) {
    bytes += (chunk as Buffer).length;
    if (bytes > limit) {
      response.body.destroy();
      throw new Error(`${response.url.href}: the answer is longer than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * GET `url`, following redirects (blob downloads go to storage URLs). Authorization is sent only
 * to the origin it was meant for: a presigned storage URL must not receive the registry's token.
 */
export async function get(url: URL, options: GetOptions): Promise<HttpResponse> {
  let current = url;
  let headers = options.headers ?? {};
  for (let redirects = 0; ; redirects += 1) {
    options.log?.(`GET ${current.href}`);
    const body = await getOnce(current, headers, options.tlsVerify);
    const status = body.statusCode ?? 0;
    const location = body.headers.location;
    if (!REDIRECTS.has(status) || location === undefined) return { status, headers: body.headers, url: current, body };
    body.resume();
    if (redirects === MAX_REDIRECTS) throw new Error(`${url.href}: more than ${MAX_REDIRECTS} redirects`);
    const next = new URL(location, current);
    if (next.origin !== current.origin) {
      const { authorization: _dropped, ...rest } = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
      headers = rest;
    }
    current = next;
  }
}
