/**
 * The JSON documents of an image, parsed and checked for the fields this code relies on: OCI
 * image indexes and manifests (and docker's schema 2 equivalents, which skopeo and older
 * registries leave in OCI layouts), image configs, and `docker save`'s manifest.json.
 */
import { parseDigest } from './digest.ts';
import type { Descriptor, Platform } from './platform.ts';

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

const INDEX_TYPES: readonly string[] = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList];
const MANIFEST_TYPES: readonly string[] = [MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest];
const CONFIG_TYPES: readonly string[] = [MEDIA_TYPES.ociConfig, MEDIA_TYPES.dockerConfig];

type Json = Record<string, unknown>;

function parseJson(bytes: Uint8Array, where: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new Error(`${where} is not valid JSON: ${(cause as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where} is not a JSON object`);
  return value as Json;
}

function string(value: unknown, where: string): string {
  if (typeof value !== 'string') throw new Error(`${where} is missing or not a string`);
  return value;
}

function parsePlatformField(value: unknown, where: string): Platform | undefined {
  if (value === undefined) return undefined;
  const platform = value as Json;
  const os = string(platform.os, `${where}.os`);
  const architecture = string(platform.architecture, `${where}.architecture`);
  return typeof platform.variant === 'string' ? { os, architecture, variant: platform.variant } : { os, architecture };
}

export function parseDescriptor(value: unknown, where: string): Descriptor {
  if (typeof value !== 'object' || value === null) throw new Error(`${where} is not a descriptor object`);
  const json = value as Json;
  const digest = string(json.digest, `${where}.digest`);
  parseDigest(digest, `${where}.digest`);
  if (!Number.isSafeInteger(json.size) || (json.size as number) < 0) throw new Error(`${where}.size is not a byte count`);
  const platform = parsePlatformField(json.platform, `${where}.platform`);
  const annotations = typeof json.annotations === 'object' && json.annotations !== null ? json.annotations as Record<string, string> : undefined;
  return {
    mediaType: string(json.mediaType, `${where}.mediaType`),
    digest,
    size: json.size as number,
    ...(platform ? { platform } : {}),
    ...(annotations ? { annotations } : {}),
  };
}

export type ImageDocument =
  | { kind: 'index'; manifests: Descriptor[] }
  | { kind: 'manifest'; config: Descriptor; layers: Descriptor[] };

/**
 * An index or a manifest, told apart by its own mediaType, else by the descriptor's that pointed
 * here (OCI makes the field optional), else by its shape. Index entries that are neither images
 * nor indexes (signatures, attestations of other types) are dropped.
 */
export function parseImageDocument(bytes: Uint8Array, where: string, describedAs?: string): ImageDocument {
  const json = parseJson(bytes, where);
  if (json.schemaVersion !== 2) throw new Error(`${where}: schemaVersion ${String(json.schemaVersion)} is not 2`);
  const mediaType = typeof json.mediaType === 'string' ? json.mediaType : describedAs;
  let isIndex: boolean;
  if (mediaType === undefined) isIndex = Array.isArray(json.manifests) && !('layers' in json);
  else if (INDEX_TYPES.includes(mediaType)) isIndex = true;
  else if (MANIFEST_TYPES.includes(mediaType)) isIndex = false;
  else throw new Error(`${where}: media type "${mediaType}" is neither an image index nor an image manifest`);
  if (isIndex) {
    if (!Array.isArray(json.manifests)) throw new Error(`${where}: an image index without "manifests"`);
    const manifests = json.manifests
      .map((entry, i) => parseDescriptor(entry, `${where} manifests[${i}]`))
      .filter((descriptor) => INDEX_TYPES.includes(descriptor.mediaType) || MANIFEST_TYPES.includes(descriptor.mediaType));
    return { kind: 'index', manifests };
  }
  const config = parseDescriptor(json.config, `${where} config`);
  if (!CONFIG_TYPES.includes(config.mediaType)) {
    throw new Error(`${where}: config media type "${config.mediaType}" is not a container image config (an artifact, not an image)`);
  }
  if (!Array.isArray(json.layers)) throw new Error(`${where}: an image manifest without "layers"`);
  return { kind: 'manifest', config, layers: json.layers.map((entry, i) => parseDescriptor(entry, `${where} layers[${i}]`)) };
}

/**
 * How the image wants its process run (the config's `config` object, as OCI and docker spell it).
 * Absent and null fields are empty: an image need not say anything.
 */
export interface ImageProcess {
  entrypoint: string[];
  cmd: string[];
  /** `NAME=value` entries. */
  env: string[];
  /** Empty: not set. */
  workingDir: string;
  /** `user`, `uid`, `user:group` or `uid:gid`; empty: not set. */
  user: string;
  /** `PORT/PROTOCOL`, sorted. */
  exposedPorts: string[];
}

export const NO_PROCESS: ImageProcess = { entrypoint: [], cmd: [], env: [], workingDir: '', user: '', exposedPorts: [] };

export interface ImageConfig {
  platform?: Platform;
  /** Digests of the uncompressed layer tars, in order. */
  diffIds: string[];
  process: ImageProcess;
}

function strings(value: unknown, where: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw new Error(`${where} is not a list of strings`);
  return value;
}

function optionalString(value: unknown, where: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new Error(`${where} is not a string`);
  return value;
}

function parseProcess(value: unknown, where: string): ImageProcess {
  if (value === undefined || value === null) return NO_PROCESS;
  if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`${where} is not a JSON object`);
  const config = value as Json;
  const ports = config.ExposedPorts;
  if (ports !== undefined && ports !== null && (typeof ports !== 'object' || Array.isArray(ports))) throw new Error(`${where}.ExposedPorts is not a JSON object`);
  return {
    entrypoint: strings(config.Entrypoint, `${where}.Entrypoint`),
    cmd: strings(config.Cmd, `${where}.Cmd`),
    env: strings(config.Env, `${where}.Env`),
    workingDir: optionalString(config.WorkingDir, `${where}.WorkingDir`),
    user: optionalString(config.User, `${where}.User`),
    exposedPorts: Object.keys(ports ?? {}).sort(),
  };
}

export function parseImageConfig(bytes: Uint8Array, where: string): ImageConfig {
  const json = parseJson(bytes, where);
  const rootfs = json.rootfs as Json | undefined;
  const diffIds = Array.isArray(rootfs?.diff_ids) ? rootfs.diff_ids.map((id, i) => {
    parseDigest(id, `${where} rootfs.diff_ids[${i}]`);
    return id as string;
  }) : [];
  const process = parseProcess(json.config, `${where} config`);
  if (typeof json.os !== 'string' || typeof json.architecture !== 'string') return { diffIds, process };
  const platform: Platform = { os: json.os, architecture: json.architecture };
  if (typeof json.variant === 'string') platform.variant = json.variant;
  return { platform, diffIds, process };
}

export interface DockerImage {
  /** Member names inside the archive. */
  config: string;
  layers: string[];
  tags: string[];
}

/** `docker save`/`podman save`'s manifest.json: one entry per saved image. */
export function parseDockerManifest(bytes: Uint8Array, where: string): DockerImage[] {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new Error(`${where} is not valid JSON: ${(cause as Error).message}`);
  }
  if (!Array.isArray(value)) throw new Error(`${where} is not a JSON array of images`);
  return value.map((entry: Json, i) => {
    const at = `${where} [${i}]`;
    if (!Array.isArray(entry?.Layers)) throw new Error(`${at}.Layers is missing or not an array`);
    return {
      config: string(entry.Config, `${at}.Config`),
      layers: entry.Layers.map((layer, j) => string(layer, `${at}.Layers[${j}]`)),
      tags: Array.isArray(entry.RepoTags) ? entry.RepoTags.filter((tag): tag is string => typeof tag === 'string') : [],
    };
  });
}

export function selectDockerImage(images: readonly DockerImage[], where: string): DockerImage {
  if (images.length === 1) return images[0] as DockerImage;
  if (images.length === 0) throw new Error(`${where} lists no images`);
  const names = images.map((image) => image.tags.join(' ') || image.config);
  throw new Error(`${where} holds ${images.length} images (${names.join(', ')}); save one image per archive`);
}
