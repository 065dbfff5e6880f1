// Compression of the finished cpio in the formats the kernel's initramfs unpacker reads. Levels are
// chosen for an archive of ~90 MB (mostly the node binary) that is built once and unpacked by every
// boot: the kernel's decompression speed does not depend on the level, so the level only trades build
// time for size. Measured on a 32 MB slice of node on 2 cores: gzip -9 takes twice as long as -6 for
// 0.5% less; zstd -19 takes 27x as long as -9 for 10% less; lz4 -9 (HC) is 21% smaller than -1 for
// under a second more.

import { promisify } from 'node:util'
import zlib from 'node:zlib'
import { pipeThrough } from './pipe-through.ts'

export const codecs = ['none', 'gzip', 'zstd', 'lz4', 'xz'] as const
export type Codec = (typeof codecs)[number]

const gzip = promisify(zlib.gzip)
const zstdCompress = promisify(zlib.zstdCompress)

interface Tool {
  argv: readonly string[]
  debianPackage: string
}

const tools = {
  // -l: the kernel reads only the legacy frame (02 21 4C 18), not the lz4 frame format.
  lz4: { argv: ['lz4', '-l', '-9', '-c'], debianPackage: 'lz4' },
  // The kernel's xz decoder checks crc32 or nothing (no crc64/sha256). -T1 pins the single-threaded
  // block layout so the bytes do not change with the xz version's default thread count.
  xz: { argv: ['xz', '--check=crc32', '-T1', '-c'], debianPackage: 'xz-utils' },
} as const satisfies Record<string, Tool>

/** Compresses a cpio archive with the given codec; the same input always gives the same bytes. */
export async function compress(data: Buffer, codec: Codec): Promise<Buffer> {
  switch (codec) {
    case 'none':
      return data
    case 'gzip':
      // zlib writes a gzip header with mtime 0 and no file name, so the output is reproducible.
      return gzip(data, { level: 6 })
    case 'zstd':
      return zstdCompress(data, {
        params: {
          [zlib.constants.ZSTD_c_compressionLevel]: 9,
          [zlib.constants.ZSTD_c_checksumFlag]: 1,
        },
      })
    case 'lz4':
    case 'xz': {
      const tool = tools[codec]
      return pipeThrough(tool.argv, data, `install the Debian package ${tool.debianPackage}`)
    }
  }
}

// Magic numbers as the kernel's lib/decompress.c recognises them, plus the two cpio magics the kernel
// unpacks uncompressed (newc, and newc with checksums).
const magics: readonly { codec: Codec; bytes: readonly number[] }[] = [
  { codec: 'gzip', bytes: [0x1f, 0x8b] },
  { codec: 'zstd', bytes: [0x28, 0xb5, 0x2f, 0xfd] },
  { codec: 'lz4', bytes: [0x02, 0x21, 0x4c, 0x18] },
  { codec: 'xz', bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { codec: 'none', bytes: [...Buffer.from('070701')] },
  { codec: 'none', bytes: [...Buffer.from('070702')] },
]

/** Names the codec of an initramfs from its first bytes; throws on anything the kernel would not unpack. */
export function detectCodec(head: Uint8Array): Codec {
  const found = magics.find(({ bytes }) => bytes.every((byte, i) => head[i] === byte))
  if (found !== undefined) return found.codec
  if ([0x04, 0x22, 0x4d, 0x18].every((byte, i) => head[i] === byte)) {
    throw new Error('lz4 frame format (04 22 4D 18): the kernel reads only the legacy frame (lz4 -l)')
  }
  const shown = [...head.subarray(0, 6)].map((byte) => byte.toString(16).padStart(2, '0')).join(' ')
  throw new Error(`unrecognised initramfs magic: ${shown === '' ? 'empty input' : shown}`)
}
