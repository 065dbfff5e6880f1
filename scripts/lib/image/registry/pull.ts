/**
 * A registry image as a local OCI layout: the manifest the reference names (through image indexes,
 * to the entry for the wanted platform), its config and layers, each checked against its digest
 * and stored once (store.ts). With the `missing` policy an image pulled before is used without a
 * single request; `always` asks the registry again what the reference names now (and still
 * downloads only the blobs it lacks); `never` uses only the cache.
 */
import { markUsed } from '../../cache-lru.ts';
import { checkDigest, digestOf, parseDigest } from '../digest.ts';
import { MEDIA_TYPES, parseImageDocument, type ImageDocument } from '../manifest.ts';
import { layerCodec } from '../media.ts';
import { selectDescriptor, type Descriptor, type Platform } from '../platform.ts';
import { findCredentials } from './auth-file.ts';
import { RegistryClient } from './client.ts';
import { readBody } from './http.ts';
import { formatReference, type ImageReference } from './reference.ts';
import type { PullPolicy } from './pull-options.ts';
import { KEPT_IMAGES, RegistryStore } from './store.ts';

export interface LayerProgress {
  reference: string;
  /** 1-based. */
  layer: number;
  layers: number;
  digest: string;
  bytes: number;
  size: number;
}

export interface PullOptions {
  cacheDir: string;
  policy: PullPolicy;
  tlsVerify: boolean;
  platform: Platform;
  /** Auth files to read, in order (default: podman's list, auth-file.ts). */
  authFiles?: readonly string[];
  /** What is fetched and why (--debug). */
  log?: (text: string) => void;
  /** Called as a layer's bytes arrive. */
  progress?: (progress: LayerProgress) => void;
}

const MANIFEST_TYPES = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerList, MEDIA_TYPES.dockerManifest];
// Registries that predate media types answer with these for any manifest: the document says what it is.
const UNTYPED = ['application/json', 'text/plain', 'application/octet-stream'];
const MAX_INDEX_DEPTH = 8;

interface Fetched {
  descriptor: Descriptor;
  document: ImageDocument;
  bytes: Buffer;
}

/**
 * The manifest or index at `target` (a tag or a digest), checked: by the digest it was asked by,
 * or by the one the registry says (Docker-Content-Digest) when asked by tag.
 */
async function fetchManifest(client: RegistryClient, target: string, expected: { digest: string; size?: number } | undefined, name: string): Promise<Fetched> {
  const response = await client.fetch(`manifests/${target}`, `manifest ${target}`, { accept: MANIFEST_TYPES.join(', ') });
  const where = response.url.href;
  const contentType = String(response.headers['content-type'] ?? '').split(';')[0]!.trim();
  const bytes = await readBody(response);
  if (contentType && !MANIFEST_TYPES.includes(contentType as (typeof MANIFEST_TYPES)[number]) && !UNTYPED.includes(contentType)) {
    throw new Error(`${name}: the registry sent a manifest of media type "${contentType}", which is not supported (only ${MANIFEST_TYPES.join(', ')})`);
  }
  const announced = response.headers['docker-content-digest'];
  const digest = expected?.digest ?? (typeof announced === 'string' ? announced : digestOf(bytes));
  checkDigest('manifest', digest, digestOf(bytes, parseDigest(digest, where).algorithm), where, expected?.size !== undefined ? { expected: expected.size, actual: bytes.length } : undefined);
  const document = parseImageDocument(bytes, where, contentType && !UNTYPED.includes(contentType) ? contentType : undefined);
  const mediaType = contentType && !UNTYPED.includes(contentType) ? contentType : document.kind === 'index' ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest;
  return { descriptor: { mediaType, digest, size: bytes.length }, document, bytes };
}

/** The image manifest for `platform`, through as many indexes as the reference leads to. */
async function resolveManifest(client: RegistryClient, reference: ImageReference, platform: Platform, name: string): Promise<Fetched & { document: { kind: 'manifest' } }> {
  const digest = reference.digest;
  let fetched = await fetchManifest(client, digest ?? (reference.tag as string), digest ? { digest } : undefined, name);
  for (let depth = 0; depth < MAX_INDEX_DEPTH; depth += 1) {
    const { document } = fetched;
    if (document.kind === 'manifest') return fetched as Fetched & { document: typeof document };
    const chosen = selectDescriptor(document.manifests, platform, `${name} (image index ${fetched.descriptor.digest})`);
    client.options.log?.(`${name}: index ${fetched.descriptor.digest} → ${chosen.digest} (${chosen.platform ? `${chosen.platform.os}/${chosen.platform.architecture}` : 'no platform named'})`);
    fetched = await fetchManifest(client, chosen.digest, chosen, name);
  }
  throw new Error(`${name}: image indexes nested more than ${MAX_INDEX_DEPTH} deep`);
}

export async function pullImage(reference: ImageReference, options: PullOptions): Promise<string> {
  const name = formatReference(reference);
  const log = options.log ?? (() => undefined);
  const store = new RegistryStore(options.cacheDir);
  if (options.policy !== 'always') {
    const cached = await store.cachedImage(name);
    if (cached) {
      log(`${name}: pulled before, using ${cached} (--pull ${options.policy}: no request made)`);
      return cached;
    }
  }
  if (options.policy === 'never') throw new Error(`${name} was never pulled (nothing in ${store.root}), and --pull never forbids pulling it`);
  const credentials = await findCredentials(reference, options.authFiles);
  log(`${name}: pulling from ${reference.apiHost}, ${credentials ? `as ${credentials.username} (credentials from ${credentials.file})` : 'anonymously'}`);
  const client = new RegistryClient(reference, { tlsVerify: options.tlsVerify, log, ...(credentials ? { credentials } : {}) });
  const manifest = await resolveManifest(client, reference, options.platform, name);
  const { config, layers } = manifest.document;
  // A layer that is no tar (an encrypted one, an artifact's file) fails here, before anything is downloaded.
  for (const [i, layer] of layers.entries()) layerCodec(layer.mediaType, `${name}: layer ${i + 1}/${layers.length} ${layer.digest}`);
  const blobs: { descriptor: Descriptor; kind: 'config' | 'layer'; layer?: number }[] = [
    { descriptor: config, kind: 'config' },
    ...layers.map((descriptor, i) => ({ descriptor, kind: 'layer' as const, layer: i + 1 })),
  ];
  for (const { descriptor, kind, layer } of blobs) {
    const what = layer === undefined ? kind : `layer ${layer}/${layers.length}`;
    if (store.hasBlob(descriptor.digest)) {
      log(`${name}: ${what} ${descriptor.digest}: already in the cache`);
      await markUsed(store.blobPath(descriptor.digest));
      continue;
    }
    const response = await client.fetch(`blobs/${descriptor.digest}`, `${what} ${descriptor.digest}`);
    const progress = options.progress;
    const onBytes = progress && layer !== undefined
      ? (bytes: number) => progress({ reference: name, layer, layers: layers.length, digest: descriptor.digest, bytes, size: descriptor.size })
      : undefined;
    await store.putBlob(descriptor, response.body, kind, response.url.href, onBytes);
  }
  await store.putDocument(manifest.descriptor, manifest.bytes, 'manifest', name);
  const image = await store.writeImage(manifest.descriptor);
  await store.recordReference(name, manifest.descriptor.digest);
  for (const removed of await store.prune()) log(`removed ${removed} (the cache keeps the ${KEPT_IMAGES} most recently used pulled images and their blobs)`);
  log(`${name}: pulled ${manifest.descriptor.digest} into ${image}`);
  return image;
}
