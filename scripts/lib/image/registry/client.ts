/**
 * One repository of one registry over the OCI distribution API: which scheme it speaks, how it
 * wants us to authenticate (answered on the first 401: Basic with the user's credentials, or a
 * bearer token from the realm its `WWW-Authenticate` names), and the registry's error bodies
 * turned into messages that name the image.
 */
import type { Credentials } from './auth-file.ts';
import { get, readBody, UnreachableError, type HttpResponse } from './http.ts';
import { formatReference, isLoopback, type ImageReference } from './reference.ts';
import { parseWwwAuthenticate, type Challenge } from './www-authenticate.ts';

export interface ClientOptions {
  credentials?: Credentials;
  /** false: any certificate, and plain HTTP when the registry speaks no TLS. */
  tlsVerify: boolean;
  log?: (text: string) => void;
}

/** The registry refused us: wrong or missing credentials, or no access to the repository. */
export class AuthRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthRefusedError';
  }
}

/** The registry has no such repository, tag or digest. */
export class NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** `MANIFEST_UNKNOWN: manifest unknown; …` from a distribution error body, else the status line. */
export function describeErrorBody(status: number, text: string): string {
  try {
    const errors = (JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] }).errors;
    if (Array.isArray(errors) && errors.length > 0) return errors.map((error) => `${String(error.code)}: ${String(error.message)}`).join('; ');
  } catch {
    // Not a distribution error body: the status says it.
  }
  return `HTTP ${status}${text.trim() ? ` ${text.trim().slice(0, 200)}` : ''}`;
}

function basicAuthorization({ username, password }: Credentials): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

// What a server that speaks plain HTTP makes of a TLS ClientHello, as OpenSSL reports it.
const NOT_TLS = new Set(['EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG']);

export class RegistryClient {
  readonly reference: ImageReference;
  readonly options: ClientOptions;
  /** Plain HTTP is allowed only on this machine or with --tls-verify=false. */
  readonly mayUseHttp: boolean;
  #base: URL | undefined;
  #authorization: string | undefined;

  constructor(reference: ImageReference, options: ClientOptions) {
    this.reference = reference;
    this.options = options;
    this.mayUseHttp = isLoopback(reference.apiHost) || !options.tlsVerify;
  }

  get #name(): string {
    return formatReference(this.reference);
  }

  /** https://HOST/v2/REPOSITORY/, or http:// when the registry speaks no TLS and may use plain HTTP. */
  async #request(path: string, headers: Record<string, string>): Promise<HttpResponse> {
    const send = (base: URL) => this.#get(new URL(path, base), { ...headers, ...(this.#authorization ? { authorization: this.#authorization } : {}) });
    if (this.#base) return send(this.#base);
    const base = new URL(`https://${this.reference.apiHost}/v2/${this.reference.repository}/`);
    try {
      const response = await send(base);
      this.#base = base;
      return response;
    } catch (cause) {
      if (!(cause instanceof UnreachableError) || !this.mayUseHttp || !NOT_TLS.has(cause.code ?? '')) throw cause;
      const plain = new URL(`http://${this.reference.apiHost}/v2/${this.reference.repository}/`);
      this.options.log?.(`${base.origin} speaks no TLS: using ${plain.origin}`);
      const response = await send(plain);
      this.#base = plain;
      return response;
    }
  }

  #get(url: URL, headers: Record<string, string>): Promise<HttpResponse> {
    return get(url, { headers, tlsVerify: this.options.tlsVerify, ...(this.options.log ? { log: this.options.log } : {}) });
  }

  #credentialsText(): string {
    const credentials = this.options.credentials;
    return credentials ? `with the credentials of ${credentials.username} from ${credentials.file}` : 'without credentials (none in the auth files)';
  }

  #refused(status: number, text: string, where = this.reference.apiHost): AuthRefusedError {
    return new AuthRefusedError(`${where} refused access to ${this.#name} (${describeErrorBody(status, text)}), asked ${this.#credentialsText()}`);
  }

  /** Sets the Authorization header for the challenge of a 401; false when none can be made. */
  async #answer(challenges: Challenge[]): Promise<boolean> {
    const credentials = this.options.credentials;
    const bearer = challenges.find((challenge) => challenge.scheme === 'bearer');
    if (bearer) {
      this.#authorization = `Bearer ${await this.#token(bearer)}`;
      return true;
    }
    if (credentials && challenges.some((challenge) => challenge.scheme === 'basic')) {
      this.#authorization = basicAuthorization(credentials);
      return true;
    }
    return false;
  }

  /** A bearer token from the challenge's realm, for its scope (pull of our repository when it names none). */
  async #token({ params }: Challenge): Promise<string> {
    if (!params.realm) throw new Error(`${this.reference.apiHost} asks for a bearer token but names no realm to get it from`);
    const realm = new URL(params.realm);
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && (isLoopback(realm.host) || !this.options.tlsVerify))) {
      throw new Error(`${this.reference.apiHost} names the token realm ${realm.href}, which is not https (allowed on this machine or with --tls-verify=false only)`);
    }
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', params.scope ?? `repository:${this.reference.repository}:pull`);
    const credentials = this.options.credentials;
    const response = await this.#get(realm, credentials ? { authorization: basicAuthorization(credentials) } : {});
    const text = (await readBody(response)).toString('utf8');
    if (response.status === 401 || response.status === 403) throw this.#refused(response.status, text, `the token server ${realm.origin}${realm.pathname}`);
    if (response.status !== 200) throw new Error(`the token server ${realm.href} answered ${describeErrorBody(response.status, text)}`);
    let token: unknown;
    try {
      const json = JSON.parse(text) as { token?: unknown; access_token?: unknown };
      token = json.token ?? json.access_token;
    } catch {
      // Said below.
    }
    if (typeof token !== 'string' || token === '') throw new Error(`the token server ${realm.href} answered without a "token" or "access_token"`);
    return token;
  }

  /**
   * GET `path` (relative to /v2/REPOSITORY/), authenticating on the first 401. Resolves with a 200
   * response whose body is unread; anything else is an error naming `what`.
   */
  async fetch(path: string, what: string, headers: Record<string, string> = {}): Promise<HttpResponse> {
    let response = await this.#request(path, headers);
    if (response.status === 401) {
      const text = (await readBody(response)).toString('utf8');
      const challenges = parseWwwAuthenticate(String(response.headers['www-authenticate'] ?? ''));
      if (!(await this.#answer(challenges))) throw this.#refused(401, text);
      response = await this.#request(path, headers);
    }
    if (response.status === 200) return response;
    const text = await readBody(response).then((body) => body.toString('utf8'), () => '');
    const described = describeErrorBody(response.status, text);
    if (response.status === 401 || response.status === 403) throw this.#refused(response.status, text);
    if (response.status === 404) throw new NotFoundError(`${this.#name}: ${what} not found in ${this.reference.apiHost} (${described})`);
    throw new Error(`${this.#name}: ${what}: ${response.url.href} answered ${described}`);
  }
}
