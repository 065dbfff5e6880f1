/**
 * Registry credentials from the files podman and docker write (`podman login`, `docker login`),
 * looked up in podman's order; the first file with an entry for the registry wins. An entry is
 * `auths[KEY].auth`, base64 of `user:password`; KEY is a registry, a registry/namespace (the most
 * specific one matching the image wins), or docker's legacy URL form (`https://index.docker.io/v1/`).
 * Credential helpers (`credsStore`, `credHelpers`) are not run.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ImageReference } from './reference.ts';

export interface Credentials {
  username: string;
  password: string;
  /** The auth file it came from, for messages. */
  file: string;
}

/** Where podman looks, in its order; $REGISTRY_AUTH_FILE first when it is set. */
export function authFilePaths(env: NodeJS.ProcessEnv = process.env, home: string = env.HOME || homedir()): string[] {
  return [
    ...(env.REGISTRY_AUTH_FILE ? [env.REGISTRY_AUTH_FILE] : []),
    ...(env.XDG_RUNTIME_DIR ? [join(env.XDG_RUNTIME_DIR, 'containers/auth.json')] : []),
    join(home, '.config/containers/auth.json'),
    join(home, '.docker/config.json'),
  ];
}

/** An auth file key as `host[/namespace…]`: docker's legacy `https://host/v1/` keys name the host only. */
function normalizeKey(key: string): string {
  const legacy = /^https?:\/\/([^/]+)/.exec(key);
  const normalized = legacy ? (legacy[1] as string) : key.replace(/\/+$/, '');
  return normalized === 'index.docker.io' || normalized.startsWith('index.docker.io/') ? normalized.replace('index.docker.io', 'docker.io') : normalized;
}

/** `host/a/b/c`, `host/a/b`, `host/a`, `host`: the keys that may hold an image's credentials, most specific first. */
export function candidateKeys({ registry, repository }: ImageReference): string[] {
  const components = repository.split('/');
  return [...components.keys()].map((i) => [registry, ...components.slice(0, components.length - i)].join('/')).concat(registry);
}

function decodeAuth(auth: unknown, where: string): { username: string; password: string } {
  const text = typeof auth === 'string' ? Buffer.from(auth, 'base64').toString('utf8') : '';
  const colon = text.indexOf(':');
  if (colon <= 0) throw new Error(`${where}: "auth" is not base64 of USER:PASSWORD`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The credentials one parsed auth file holds for `reference`, if any. */
export function credentialsIn(json: unknown, reference: ImageReference, file: string): Credentials | undefined {
  const auths = (json as { auths?: unknown } | null)?.auths;
  if (typeof auths !== 'object' || auths === null) return undefined;
  const entries = new Map(Object.entries(auths as Record<string, unknown>).map(([key, entry]) => [normalizeKey(key), { key, entry }]));
  for (const candidate of candidateKeys(reference)) {
    const found = entries.get(candidate);
    const auth = (found?.entry as { auth?: unknown } | undefined)?.auth;
    if (found && auth !== undefined && auth !== '') return { ...decodeAuth(auth, `${file}: auths["${found.key}"]`), file };
  }
  return undefined;
}

/** The credentials for `reference` from the first auth file that has some; undefined: anonymous. */
export async function findCredentials(reference: ImageReference, paths: readonly string[] = authFilePaths()): Promise<Credentials | undefined> {
  for (const file of paths) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new Error(`cannot read the auth file ${file}: ${(cause as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new Error(`the auth file ${file} is not valid JSON: ${(cause as Error).message}`);
    }
    const found = credentialsIn(json, reference, file);
    if (found) return found;
  }
  return undefined;
}
