/**
 * Image fixtures made by the tests themselves with tar-stream: layer tars, OCI layouts (plain and
 * multi-platform), OCI archives, docker archives; and a snapshot of a tree to compare exactly.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import zlib from 'node:zlib';
import tar from 'tar-stream';

export const MTIME = new Date('2021-02-03T04:05:06Z');
export const MTIME_SECONDS = MTIME.getTime() / 1000;

export interface FixtureEntry {
  name: string;
  type?: tar.Headers['type'];
  mode?: number;
  content?: string | Buffer;
  linkname?: string;
  uid?: number;
  gid?: number;
  devmajor?: number;
  devminor?: number;
}

const DEFAULT_MODES: Partial<Record<NonNullable<tar.Headers['type']>, number>> = { directory: 0o755, symlink: 0o777 };

export async function tarOf(entries: readonly FixtureEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of pack) chunks.push(chunk);
  })();
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const header: tar.Headers = {
      name: entry.name,
      type,
      mode: entry.mode ?? DEFAULT_MODES[type] ?? 0o644,
      mtime: MTIME,
      uid: entry.uid ?? 0,
      gid: entry.gid ?? 0,
      ...(entry.linkname !== undefined ? { linkname: entry.linkname } : {}),
      ...(entry.devmajor !== undefined ? { devmajor: entry.devmajor, devminor: entry.devminor ?? 0 } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      pack.entry(header, type === 'file' ? Buffer.from(entry.content ?? '') : undefined, (error) => (error ? reject(error) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export type Codec = 'none' | 'gzip' | 'zstd';

export function compress(bytes: Buffer, codec: Codec): Buffer {
  if (codec === 'gzip') return zlib.gzipSync(bytes);
  if (codec === 'zstd') return zlib.zstdCompressSync(bytes);
  return bytes;
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function hexOf(digest: string): string {
  return digest.slice('sha256:'.length);
}

const OCI_LAYER_TYPES: Record<Codec, string> = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

export interface Layer {
  entries: FixtureEntry[];
  codec: Codec;
}

/** Files of an image, by path relative to the layout or archive root. */
export type Files = Map<string, Buffer>;

export interface Image {
  files: Files;
  manifestDigest: string;
  configDigest: string;
  layerDigests: string[];
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function addBlob(files: Files, bytes: Buffer): { digest: string; size: number } {
  const digest = sha256(bytes);
  files.set(`blobs/sha256/${hexOf(digest)}`, bytes);
  return { digest, size: bytes.length };
}

/** The `config` object of an image config: Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts… */
export type ContainerConfig = Record<string, unknown>;

async function addImage(files: Files, layers: readonly Layer[], architecture: string, container?: ContainerConfig): Promise<Omit<Image, 'files'>> {
  const layerDescriptors = [];
  const diffIds = [];
  for (const layer of layers) {
    const plain = await tarOf(layer.entries);
    diffIds.push(sha256(plain));
    layerDescriptors.push({ mediaType: OCI_LAYER_TYPES[layer.codec], ...addBlob(files, compress(plain, layer.codec)) });
  }
  const config = addBlob(files, json({ architecture, os: 'linux', ...(container ? { config: container } : {}), rootfs: { type: 'layers', diff_ids: diffIds } }));
  const manifest = addBlob(files, json({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: layerDescriptors,
  }));
  return { manifestDigest: manifest.digest, configDigest: config.digest, layerDigests: layerDescriptors.map((layer) => layer.digest) };
}

/**
 * An OCI layout. With `otherPlatform`, index.json points at an image index that holds an arm64
 * image (those layers) before the amd64 one: only platform selection picks the right one.
 * `container` is the amd64 image's config (Entrypoint, Cmd…).
 */
export async function ociLayout(layers: readonly Layer[], otherPlatform?: readonly Layer[], container?: ContainerConfig): Promise<Image> {
  const files: Files = new Map([['oci-layout', json({ imageLayoutVersion: '1.0.0' })]]);
  const image = await addImage(files, layers, 'amd64', container);
  const manifestSize = (files.get(`blobs/sha256/${hexOf(image.manifestDigest)}`) as Buffer).length;
  const amd64 = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.manifestDigest, size: manifestSize };
  if (!otherPlatform) {
    files.set('index.json', json({ schemaVersion: 2, manifests: [{ ...amd64, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }));
    return { files, ...image };
  }
  const other = await addImage(files, otherPlatform, 'arm64');
  const otherSize = (files.get(`blobs/sha256/${hexOf(other.manifestDigest)}`) as Buffer).length;
  const nested = addBlob(files, json({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: other.manifestDigest, size: otherSize, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { ...amd64, platform: { os: 'linux', architecture: 'amd64' } },
    ],
  }));
  files.set('index.json', json({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...nested }] }));
  return { files, ...image };
}

/** `docker save` output (legacy layout): ID/layer.tar uncompressed, HEX.json config, manifest.json. */
export async function dockerArchiveFiles(layers: readonly Layer[]): Promise<Image> {
  const files: Files = new Map();
  const layerPaths: string[] = [];
  const diffIds: string[] = [];
  for (const [i, layer] of layers.entries()) {
    const plain = await tarOf(layer.entries);
    diffIds.push(sha256(plain));
    // Legacy layer ids are not content digests.
    const id = createHash('sha256').update(`layer-${i}`).digest('hex');
    files.set(`${id}/VERSION`, Buffer.from('1.0'));
    files.set(`${id}/json`, json({ id }));
    files.set(`${id}/layer.tar`, plain);
    layerPaths.push(`${id}/layer.tar`);
  }
  const config = json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } });
  const configDigest = sha256(config);
  files.set(`${hexOf(configDigest)}.json`, config);
  files.set('manifest.json', json([{ Config: `${hexOf(configDigest)}.json`, RepoTags: ['fixture:latest'], Layers: layerPaths }]));
  return { files, manifestDigest: configDigest, configDigest, layerDigests: diffIds };
}

/** A tar of `files` (member order: as given, which is the insertion order of the map). */
export function archiveOf(files: Files): Promise<Buffer> {
  return tarOf([...files].map(([name, content]) => ({ name, content })));
}

export async function writeFiles(directory: string, files: Files): Promise<void> {
  for (const [name, content] of files) {
    await mkdir(dirname(join(directory, name)), { recursive: true });
    await writeFile(join(directory, name), content);
  }
}

export interface TreeNode {
  path: string;
  type: 'directory' | 'file' | 'symlink' | 'other';
  mode?: number;
  content?: string;
  target?: string;
  links?: number;
}

/** Every path below `root`, sorted, with what the tests compare. */
export async function snapshot(root: string, relative = ''): Promise<TreeNode[]> {
  const nodes: TreeNode[] = [];
  for (const name of (await readdir(join(root, relative))).sort()) {
    const path = relative ? `${relative}/${name}` : name;
    const info = await lstat(join(root, path));
    const mode = info.mode & 0o7777;
    if (info.isDirectory()) {
      nodes.push({ path, type: 'directory', mode }, ...(await snapshot(root, path)));
    } else if (info.isSymbolicLink()) {
      nodes.push({ path, type: 'symlink', target: await readlink(join(root, path)) });
    } else if (info.isFile()) {
      nodes.push({ path, type: 'file', mode, content: (await readFile(join(root, path))).toString('utf8'), links: info.nlink });
    } else {
      nodes.push({ path, type: 'other', mode });
    }
  }
  return nodes;
}

/** Modification times of every path below `root` that is not `MTIME`. */
export async function wrongMtimes(root: string, relative = ''): Promise<string[]> {
  const wrong: string[] = [];
  for (const name of await readdir(join(root, relative))) {
    const path = relative ? `${relative}/${name}` : name;
    const info = await lstat(join(root, path));
    if (info.mtimeMs / 1000 !== MTIME_SECONDS) wrong.push(path);
    if (info.isDirectory()) wrong.push(...(await wrongMtimes(root, path)));
  }
  return wrong;
}

/**
 * Two layers that exercise the overlay rules: the second deletes a file (etc/.wh.remove-me) and a
 * directory (var/.wh.cache), replaces a symlink (bin), makes opt/app opaque, turns a directory
 * into a file (data), a file into a directory (lib) and a directory into a symlink (sbin).
 */
export const TWO_LAYERS: readonly FixtureEntry[][] = [
  [
    { name: './', type: 'directory' },
    { name: 'etc/', type: 'directory' },
    { name: 'etc/hostname', content: 'base\n' },
    { name: 'etc/remove-me', content: 'gone\n', mode: 0o600 },
    { name: 'usr/', type: 'directory' },
    { name: 'usr/bin/', type: 'directory' },
    { name: 'usr/bin/tool', content: 'tool\n', mode: 0o4755 },
    { name: 'usr/bin/tool-link', type: 'link', linkname: 'usr/bin/tool' },
    { name: 'usr/local/', type: 'directory' },
    { name: 'usr/local/bin/', type: 'directory' },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
    { name: 'var/', type: 'directory' },
    { name: 'var/cache/', type: 'directory', mode: 0o700 },
    { name: 'var/cache/old/', type: 'directory' },
    { name: 'var/cache/old/a', content: 'a' },
    { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
    { name: 'opt/', type: 'directory' },
    { name: 'opt/app/', type: 'directory' },
    { name: 'opt/app/lower.txt', content: 'lower' },
    { name: 'opt/app/sub/', type: 'directory' },
    { name: 'opt/app/sub/deep.txt', content: 'deep' },
    { name: 'data/', type: 'directory' },
    { name: 'data/inner', content: 'inner' },
    { name: 'lib', content: 'was a file' },
    { name: 'sbin/', type: 'directory' },
    { name: 'sbin/old', content: 'old' },
    { name: 'readonly/', type: 'directory', mode: 0o555 },
    { name: 'readonly/file', content: 'ro', mode: 0o444 },
  ],
  [
    { name: 'etc/', type: 'directory' },
    { name: 'etc/.wh.remove-me' },
    { name: 'etc/hostname', content: 'upper\n', mode: 0o640 },
    { name: 'var/', type: 'directory' },
    { name: 'var/.wh.cache' },
    { name: 'bin', type: 'symlink', linkname: 'usr/local/bin' },
    { name: 'opt/app/', type: 'directory', mode: 0o750 },
    { name: 'opt/app/upper.txt', content: 'upper' },
    { name: 'opt/app/.wh..wh..opq' },
    { name: 'opt/app/sub/', type: 'directory' },
    { name: 'opt/app/sub/new.txt', content: 'new' },
    { name: 'data', content: 'now a file' },
    { name: 'lib/', type: 'directory' },
    { name: 'lib/x', content: 'x' },
    { name: 'sbin', type: 'symlink', linkname: 'usr/bin' },
    { name: 'usr/local/bin/extra', content: 'extra', mode: 0o755 },
  ],
];

/** TWO_LAYERS stacked: the tree every image form of them must extract to. */
export const TWO_LAYERS_TREE: readonly TreeNode[] = [
  { path: 'bin', type: 'symlink', target: 'usr/local/bin' },
  { path: 'data', type: 'file', mode: 0o644, content: 'now a file', links: 1 },
  { path: 'etc', type: 'directory', mode: 0o755 },
  { path: 'etc/hostname', type: 'file', mode: 0o640, content: 'upper\n', links: 1 },
  { path: 'lib', type: 'directory', mode: 0o755 },
  { path: 'lib/x', type: 'file', mode: 0o644, content: 'x', links: 1 },
  { path: 'opt', type: 'directory', mode: 0o755 },
  { path: 'opt/app', type: 'directory', mode: 0o750 },
  { path: 'opt/app/sub', type: 'directory', mode: 0o755 },
  { path: 'opt/app/sub/new.txt', type: 'file', mode: 0o644, content: 'new', links: 1 },
  { path: 'opt/app/upper.txt', type: 'file', mode: 0o644, content: 'upper', links: 1 },
  { path: 'readonly', type: 'directory', mode: 0o555 },
  { path: 'readonly/file', type: 'file', mode: 0o444, content: 'ro', links: 1 },
  { path: 'sbin', type: 'symlink', target: 'usr/bin' },
  { path: 'tmp', type: 'directory', mode: 0o1777 },
  { path: 'usr', type: 'directory', mode: 0o755 },
  { path: 'usr/bin', type: 'directory', mode: 0o755 },
  { path: 'usr/bin/tool', type: 'file', mode: 0o4755, content: 'tool\n', links: 2 },
  { path: 'usr/bin/tool-link', type: 'file', mode: 0o4755, content: 'tool\n', links: 2 },
  { path: 'usr/local', type: 'directory', mode: 0o755 },
  { path: 'usr/local/bin', type: 'directory', mode: 0o755 },
  { path: 'usr/local/bin/extra', type: 'file', mode: 0o755, content: 'extra', links: 1 },
  { path: 'var', type: 'directory', mode: 0o755 },
];

/** The same tree as one flat layer (a rootfs tar), with absolute names as some tools write them. */
export const FLAT_TREE: readonly FixtureEntry[] = [
  { name: './', type: 'directory' },
  ...TWO_LAYERS_TREE.map((node): FixtureEntry => {
    const name = node.path === 'usr/bin/tool' ? `/${node.path}` : node.path;
    if (node.type === 'symlink') return { name, type: 'symlink', linkname: node.target as string };
    if (node.path === 'usr/bin/tool-link') return { name, type: 'link', linkname: '/usr/bin/tool' };
    if (node.type === 'directory') return { name: `${name}/`, type: 'directory', mode: node.mode as number };
    return { name, content: node.content as string, mode: node.mode as number };
  }),
];
