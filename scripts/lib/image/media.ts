/**
 * Layer codecs: from an OCI/docker media type, or from the first bytes of a file when nothing
 * names them (a plain rootfs tar, docker-archive layers). Names lie; magic bytes do not.
 */
export type LayerCodec = 'none' | 'gzip' | 'zstd';

const LAYER_MEDIA_TYPES: Readonly<Record<string, LayerCodec>> = {
  'application/vnd.oci.image.layer.v1.tar': 'none',
  'application/vnd.oci.image.layer.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd': 'zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar': 'none',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': 'zstd',
  'application/vnd.docker.image.rootfs.diff.tar': 'none',
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'gzip',
  'application/vnd.docker.image.rootfs.diff.tar.zstd': 'zstd',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'gzip',
};

export function layerCodec(mediaType: string, where: string): LayerCodec {
  const codec = LAYER_MEDIA_TYPES[mediaType];
  if (codec === undefined) {
    throw new Error(`${where}: layer media type "${mediaType}" is not a tar layer (known: ${Object.keys(LAYER_MEDIA_TYPES).join(', ')})`);
  }
  return codec;
}

export type SniffedFormat = 'tar' | 'gzip' | 'zstd' | 'xz' | 'bzip2' | 'lz4' | 'unknown';

const MAGIC: readonly { format: SniffedFormat; bytes: readonly number[] }[] = [
  { format: 'gzip', bytes: [0x1f, 0x8b] },
  { format: 'zstd', bytes: [0x28, 0xb5, 0x2f, 0xfd] },
  { format: 'xz', bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { format: 'bzip2', bytes: [0x42, 0x5a, 0x68] },
  { format: 'lz4', bytes: [0x04, 0x22, 0x4d, 0x18] },
];

/** A tar header block: "ustar" at 257, or (pre-POSIX tar) a header checksum that adds up. */
function isTarHeader(block: Uint8Array): boolean {
  if (block.length < 512) return false;
  if (Buffer.from(block.subarray(257, 262)).toString('latin1') === 'ustar') return true;
  const field = Buffer.from(block.subarray(148, 156)).toString('latin1').replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i += 1) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
  return sum === parseInt(field, 8);
}

/** The format of a file from its first 512 bytes (fewer if the file is shorter). */
export function sniffFormat(head: Uint8Array): SniffedFormat {
  for (const { format, bytes } of MAGIC) {
    if (head.length >= bytes.length && bytes.every((byte, i) => head[i] === byte)) return format;
  }
  return isTarHeader(head) ? 'tar' : 'unknown';
}

/** The codec to undo for a file whose contents should be a tar. */
export function tarCodec(head: Uint8Array, where: string): LayerCodec {
  const format = sniffFormat(head);
  switch (format) {
    case 'tar':
      return 'none';
    case 'gzip':
    case 'zstd':
      return format;
    case 'unknown':
      throw new Error(`${where} is not a tar archive (nor gzip- or zstd-compressed tar)`);
    default:
      throw new Error(`${where} is ${format}-compressed, which is not read here: decompress it first (or recompress with gzip or zstd)`);
  }
}
