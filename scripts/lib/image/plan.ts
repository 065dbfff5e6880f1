/**
 * What an image path is and how to get its layers: the kind, the digest its tree is cached
 * under, and the ordered layer files with the digests they must have. Reading the small
 * documents and checking their digests happens here; no layer is read yet.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { memberName, scanArchive, stageMembers, type ArchiveScan } from './archive.ts';
import { checkDigest, digestOf, parseDigest, type Digest } from './digest.ts';
import type { Budget } from './limits.ts';
import { makeDirectory } from '../make-directory.ts';
import { NO_PROCESS, parseDockerManifest, parseImageConfig, parseImageDocument, selectDockerImage, MEDIA_TYPES, type ImageProcess } from './manifest.ts';
import { layerCodec, tarCodec, type LayerCodec } from './media.ts';
import { formatPlatform, platformMatches, selectDescriptor, type Descriptor, type Platform } from './platform.ts';
import { readHead } from './tar-read.ts';

export type ImageKind = 'oci-layout' | 'oci-archive' | 'docker-archive' | 'rootfs-tar';

export interface LayerSource {
  /** The file to read (a layout's blob, a copy out of an archive, or the rootfs tar itself). */
  file: string;
  /** The blob as the user knows it, for messages: a path, or `ARCHIVE: MEMBER`. */
  where: string;
  /** Undefined: tell from the file's first bytes. */
  codec?: LayerCodec;
  /** Digest (and size) of the file's bytes as stored. */
  digest?: string;
  size?: number;
  /** Digest of the uncompressed tar (docker's diff_id). */
  diffId?: string;
}

export interface ImagePlan {
  kind: ImageKind;
  /** The cache key: the manifest's digest, docker's image id, or the rootfs tar's sha256. */
  digest: Digest;
  /** How the image's config says to run its process (a rootfs tar says nothing). */
  process: ImageProcess;
  /** Makes the layers readable as files, in order; `staging` is an empty directory to copy to. */
  layers(staging: string, budget: Budget): Promise<LayerSource[]>;
}

// An index nested deeper than this is a loop or a mistake.
const MAX_INDEX_DEPTH = 8;
const DOCUMENT_MAX_BYTES = 4 * 2 ** 20;

/** Where an OCI layout's files come from: a directory, or the first pass over an archive. */
interface LayoutFiles {
  read(name: string): Promise<Buffer>;
  where(name: string): string;
}

function directoryFiles(directory: string): LayoutFiles {
  return {
    where: (name) => join(directory, name),
    async read(name) {
      const path = join(directory, name);
      const info = await stat(path).catch(() => undefined);
      if (!info?.isFile()) throw new Error(`OCI layout ${directory} has no ${name}`);
      if (info.size > DOCUMENT_MAX_BYTES) throw new Error(`${path} is ${info.size} bytes, too big for an image document`);
      return readFile(path);
    },
  };
}

function archiveFiles(archive: string, scan: ArchiveScan): LayoutFiles {
  return {
    where: (name) => `${archive}: ${name}`,
    async read(name) {
      const bytes = scan.files.get(name);
      if (bytes) return bytes;
      throw new Error(scan.members.has(name) ? `${archive}: ${name} is too big for an image document` : `${archive} has no member ${name}`);
    },
  };
}

function blobName(digest: string, where: string): string {
  const { algorithm, hex } = parseDigest(digest, where);
  return `blobs/${algorithm}/${hex}`;
}

async function readBlob(files: LayoutFiles, descriptor: Descriptor, what: string): Promise<Buffer> {
  const name = blobName(descriptor.digest, what);
  const bytes = await files.read(name);
  const { algorithm } = parseDigest(descriptor.digest, what);
  checkDigest(what, descriptor.digest, digestOf(bytes, algorithm), files.where(name), { expected: descriptor.size, actual: bytes.length });
  return bytes;
}

/** A config's own platform against the wanted one; configs seldom spell the variant, so it is not compared. */
function checkPlatform(offered: Platform | undefined, wanted: Platform, where: string): void {
  if (offered && !platformMatches(offered, { os: wanted.os, architecture: wanted.architecture })) {
    throw new Error(`${where} is an image for ${formatPlatform(offered)}, not ${formatPlatform(wanted)} (choose another with the platform option)`);
  }
}

/** index.json → (nested indexes) → the manifest for `platform`, its config and layers, all verified. */
export async function resolveOciManifest(files: LayoutFiles, platform: Platform): Promise<{ digest: string; layers: Descriptor[]; process: ImageProcess }> {
  const layout = await files.read('oci-layout');
  const version = (JSON.parse(layout.toString('utf8')) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  if (typeof version !== 'string') throw new Error(`${files.where('oci-layout')} has no imageLayoutVersion`);
  const index = parseImageDocument(await files.read('index.json'), files.where('index.json'), MEDIA_TYPES.ociIndex);
  if (index.kind !== 'index') throw new Error(`${files.where('index.json')} is not an image index`);
  let descriptor = selectDescriptor(index.manifests, platform, files.where('index.json'));
  for (let depth = 0; depth < MAX_INDEX_DEPTH; depth += 1) {
    const document = parseImageDocument(await readBlob(files, descriptor, 'manifest'), files.where(blobName(descriptor.digest, 'manifest')), descriptor.mediaType);
    if (document.kind === 'index') {
      descriptor = selectDescriptor(document.manifests, platform, `image index ${descriptor.digest}`);
      continue;
    }
    const config = parseImageConfig(await readBlob(files, document.config, 'config'), files.where(blobName(document.config.digest, 'config')));
    checkPlatform(config.platform, platform, `manifest ${descriptor.digest}`);
    return { digest: descriptor.digest, layers: document.layers, process: config.process };
  }
  throw new Error(`${files.where('index.json')}: image indexes nested more than ${MAX_INDEX_DEPTH} deep`);
}

function ociLayers(layers: readonly Descriptor[], files: LayoutFiles): (Omit<LayerSource, 'file'> & { name: string })[] {
  return layers.map((layer) => {
    const name = blobName(layer.digest, 'layer');
    return { name, where: files.where(name), codec: layerCodec(layer.mediaType, `layer ${layer.digest}`), digest: layer.digest, size: layer.size };
  });
}

/** Copies the named archive members to `staging` and returns where each went. */
async function stage(archive: string, codec: LayerCodec, names: readonly string[], staging: string, budget: Budget): Promise<string[]> {
  await makeDirectory(staging, 0o700);
  const unique = [...new Set(names)];
  const wanted = new Map(unique.map((name, i) => [name, join(staging, `member-${i}`)]));
  await stageMembers(archive, codec, wanted, budget);
  return names.map((name) => wanted.get(name) as string);
}

async function ociLayoutPlan(directory: string, platform: Platform): Promise<ImagePlan> {
  const files = directoryFiles(directory);
  const manifest = await resolveOciManifest(files, platform);
  const layers = ociLayers(manifest.layers, files);
  return {
    kind: 'oci-layout',
    digest: parseDigest(manifest.digest, 'manifest'),
    process: manifest.process,
    layers: async () => layers.map(({ name, ...layer }) => ({ ...layer, file: join(directory, name) })),
  };
}

async function ociArchivePlan(archive: string, codec: LayerCodec, scan: ArchiveScan, platform: Platform): Promise<ImagePlan> {
  const files = archiveFiles(archive, scan);
  const manifest = await resolveOciManifest(files, platform);
  const layers = ociLayers(manifest.layers, files);
  return {
    kind: 'oci-archive',
    digest: parseDigest(manifest.digest, 'manifest'),
    process: manifest.process,
    async layers(staging, budget) {
      const staged = await stage(archive, codec, layers.map((layer) => layer.name), staging, budget);
      return layers.map(({ name: _name, ...layer }, i) => ({ ...layer, file: staged[i] as string }));
    },
  };
}

/** A digest spelled in a member name (`blobs/sha256/HEX`, `HEX.json`), which the member must have. */
export function digestInName(name: string): string | undefined {
  const match = /(?:^|\/)(?:blobs\/sha256\/)?([0-9a-f]{64})(?:\.json)?$/.exec(name);
  return match ? `sha256:${match[1]}` : undefined;
}

function dockerArchivePlan(archive: string, codec: LayerCodec, scan: ArchiveScan, platform: Platform): ImagePlan {
  const where = `${archive}: manifest.json`;
  const image = selectDockerImage(parseDockerManifest(scan.files.get('manifest.json') as Buffer, where), where);
  const configName = memberName(image.config);
  const configBytes = scan.files.get(configName);
  if (!configBytes) throw new Error(`${archive} has no member ${configName} (the image config named in manifest.json), or it is too big`);
  // docker's image id is the config's digest, and the config lists every layer's diff_id: it pins the tree.
  const id = digestOf(configBytes);
  const named = digestInName(configName);
  if (named) checkDigest('config', named, id, `${archive}: ${configName}`);
  const config = parseImageConfig(configBytes, `${archive}: ${configName}`);
  checkPlatform(config.platform, platform, `${archive}: image ${id}`);
  if (config.diffIds.length !== image.layers.length) {
    throw new Error(`${archive}: manifest.json lists ${image.layers.length} layers but config ${configName} has ${config.diffIds.length} diff_ids`);
  }
  const names = image.layers.map(memberName);
  return {
    kind: 'docker-archive',
    digest: parseDigest(id, configName),
    process: config.process,
    async layers(staging, budget) {
      const staged = await stage(archive, codec, names, staging, budget);
      return names.map((name, i) => {
        // `ID/layer.tar` is named by a legacy id, not a digest: only the diff_id checks it.
        const digest = /(^|\/)blobs\/sha256\/[0-9a-f]{64}$/.test(name) ? digestInName(name) : undefined;
        return { file: staged[i] as string, where: `${archive}: ${name}`, diffId: config.diffIds[i] as string, ...(digest ? { digest } : {}) };
      });
    },
  };
}

function rootfsTarPlan(path: string, codec: LayerCodec, scan: ArchiveScan): ImagePlan {
  return {
    kind: 'rootfs-tar',
    digest: parseDigest(scan.sha256, path),
    process: NO_PROCESS,
    // The same digest again: the file must not change between the scan and the extraction.
    layers: async () => [{ file: path, where: path, codec, digest: scan.sha256 }],
  };
}

function isDockerManifest(bytes: Buffer | undefined): boolean {
  if (!bytes) return false;
  try {
    parseDockerManifest(bytes, 'manifest.json');
    return true;
  } catch {
    return false;
  }
}

/** Tells what `path` is (by content, not name) and reads enough of it to know its digest. */
export async function planImage(path: string, platform: Platform): Promise<ImagePlan> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new Error(`image ${path} does not exist`);
  if (info.isDirectory()) {
    if (!existsSync(join(path, 'oci-layout'))) throw new Error(`image ${path} is a directory but not an OCI image layout (it has no oci-layout file)`);
    return ociLayoutPlan(path, platform);
  }
  const codec = tarCodec(await readHead(path), `image ${path}`);
  const scan = await scanArchive(path, codec);
  if (scan.files.has('oci-layout') && scan.members.has('index.json')) return ociArchivePlan(path, codec, scan, platform);
  if (isDockerManifest(scan.files.get('manifest.json'))) return dockerArchivePlan(path, codec, scan, platform);
  return rootfsTarPlan(path, codec, scan);
}
