/**
 * What `--image TEXT` names: a local file or directory, or an image in a registry
 * (`[docker://]REGISTRY/NAME[:TAG|@DIGEST]`), normalized the way docker and podman do it: a first
 * component without a `.` or `:` (and not `localhost`) is not a registry, so the image is on
 * docker.io, and a one-component name there is in `library/`.
 */
import { parseDigest } from '../digest.ts';

export interface ImageReference {
  /** The registry as users and auth files name it: `docker.io`, `127.0.0.1:5000`, `quay.io`. */
  registry: string;
  /** host[:port] the distribution API is served from (docker.io's is registry-1.docker.io). */
  apiHost: string;
  /** `library/busybox`. */
  repository: string;
  /** Exactly one of tag and digest; the tag defaults to `latest`. */
  tag?: string;
  digest?: string;
}

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';
// docker's own spellings of the Hub, which auth files and users still use.
const DOCKER_HUB_ALIASES = ['index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'];
const TRANSPORT = 'docker://';

// The distribution reference grammar (github.com/distribution/reference).
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$/;
const MAX_NAME_LENGTH = 255;

/**
 * An existing path, or text starting with `/` or `.`, is a local image; anything else names an
 * image in a registry. `exists` is the file system's answer (injected so the rule is testable).
 */
export function isLocalImage(text: string, exists: (path: string) => boolean): boolean {
  if (text.startsWith(TRANSPORT)) return false;
  return text.startsWith('/') || text.startsWith('.') || exists(text);
}

function looksLikeRegistry(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

export function parseReference(text: string): ImageReference {
  const bare = text.startsWith(TRANSPORT) ? text.slice(TRANSPORT.length) : text;
  const refuse = (why: string): never => {
    throw new Error(`"${text}" is not an image reference [docker://]REGISTRY/NAME[:TAG|@DIGEST]: ${why}`);
  };
  if (bare === '') refuse('it is empty');
  const at = bare.indexOf('@');
  const digest = at >= 0 ? bare.slice(at + 1) : undefined;
  let rest = at >= 0 ? bare.slice(0, at) : bare;
  if (digest !== undefined) {
    try {
      parseDigest(digest, 'the digest');
    } catch (cause) {
      refuse((cause as Error).message);
    }
  }
  // A tag follows the last `:` after the last `/`; a `:` before it is the registry's port.
  const colon = rest.lastIndexOf(':');
  let tag: string | undefined;
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) refuse(`tag "${tag}" is not letters, digits, _ . - (at most 128, not starting with . or -)`);
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  let registry = slash >= 0 && looksLikeRegistry(first) ? first : DOCKER_HUB;
  let repository = registry === first ? rest.slice(slash + 1) : rest;
  if (registry !== DOCKER_HUB && !HOST.test(registry)) refuse(`registry "${registry}" is not HOST[:PORT]`);
  if (DOCKER_HUB_ALIASES.includes(registry.toLowerCase())) registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (repository === '' || repository.split('/').some((component) => !COMPONENT.test(component))) {
    refuse(`name "${repository}" must be lowercase letters and digits, separated by / . _ __ or -`);
  }
  if (`${registry}/${repository}`.length > MAX_NAME_LENGTH) refuse(`the name is longer than ${MAX_NAME_LENGTH} characters`);
  const apiHost = registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
  // A digest pins the content: a tag beside it says nothing more (podman drops it too).
  return digest !== undefined ? { registry, apiHost, repository, digest } : { registry, apiHost, repository, tag: tag ?? 'latest' };
}

/** `docker.io/library/busybox:latest`, `127.0.0.1:5000/app@sha256:…`: the one spelling of an image. */
export function formatReference({ registry, repository, tag, digest }: ImageReference): string {
  return `${registry}/${repository}${digest !== undefined ? `@${digest}` : `:${tag}`}`;
}

/** The host part of `host[:port]`, brackets of an IPv6 literal removed. */
export function hostName(apiHost: string): string {
  const match = /^\[([^\]]+)\](?::\d+)?$/.exec(apiHost);
  return match ? (match[1] as string) : apiHost.replace(/:\d+$/, '');
}

/** 127.0.0.0/8, ::1 and localhost: a registry on this machine, which may speak plain HTTP. */
export function isLoopback(apiHost: string): boolean {
  const host = hostName(apiHost).toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
