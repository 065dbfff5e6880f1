/**
 * The compressed kernel inside a bzImage: where it is, what compressed it, how to decompress it, and
 * whether the result boots through PVH. Loaded by vmlinux.ts only when a kernel is extracted, so
 * that a run whose vmlinux is cached does not load zlib.
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { pipeThrough } from '../../packer/pipe-through.ts';
import { elfNotes, isElf64le } from '../../packer/elf/notes.ts';
import { hasSetupHeader } from './kernel-image.ts';

export type PayloadCodec = 'xz' | 'gzip' | 'zstd' | 'lz4' | 'lzma' | 'bzip2' | 'lzo';

export interface Payload {
  codec: PayloadCodec;
  /** File offset of the compressed stream. */
  offset: number;
  /** Bytes from `offset` that belong to the payload: from the setup header, or the rest of the file after a scan. */
  length: number;
  /** 'header': the setup header located it, so its last 4 bytes are the uncompressed size. */
  source: 'header' | 'scan';
}

// Magics as the kernel's lib/decompress.c knows them. gzip's third byte (8, deflate, the only method
// gzip defines) keeps the two-byte magic from matching random bytes in a scan.
const MAGICS: readonly { codec: PayloadCodec; bytes: readonly number[] }[] = [
  { codec: 'xz', bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { codec: 'gzip', bytes: [0x1f, 0x8b, 0x08] },
  { codec: 'zstd', bytes: [0x28, 0xb5, 0x2f, 0xfd] },
  { codec: 'lz4', bytes: [0x02, 0x21, 0x4c, 0x18] },
  { codec: 'lzma', bytes: [0x5d, 0x00, 0x00] },
  { codec: 'bzip2', bytes: [0x42, 0x5a, 0x68] },
  { codec: 'lzo', bytes: [0x89, 0x4c, 0x5a, 0x4f] },
];

// Setup header fields (Documentation/arch/x86/boot.rst).
const SETUP_SECTS = 0x1f1;
const PROTOCOL_VERSION = 0x206;
const PAYLOAD_OFFSET = 0x248;
const PAYLOAD_LENGTH = 0x24c;
/** payload_offset/payload_length exist from boot protocol 2.08 on. */
const PAYLOAD_PROTOCOL = 0x208;
const SECTOR = 512;

const hex = (bytes: Uint8Array): string => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');

function codecAt(bytes: Buffer, offset: number): PayloadCodec | undefined {
  return MAGICS.find((m) => m.bytes.every((b, i) => bytes[offset + i] === b))?.codec;
}

function hasPayloadHeader(bytes: Buffer): boolean {
  return hasSetupHeader(bytes) && bytes.readUInt16LE(PROTOCOL_VERSION) >= PAYLOAD_PROTOCOL;
}

/** Where a bzImage's compressed kernel is and what compressed it; throws when it cannot tell. */
export function findPayload(bzImage: Buffer): Payload {
  if (hasPayloadHeader(bzImage)) {
    // setup_sects 0 means 4, for images older than the field.
    const protectedMode = ((bzImage[SETUP_SECTS] || 4) + 1) * SECTOR;
    const offset = protectedMode + bzImage.readUInt32LE(PAYLOAD_OFFSET);
    const length = bzImage.readUInt32LE(PAYLOAD_LENGTH);
    if (offset + length > bzImage.length) {
      throw new Error(`the setup header puts the payload at ${offset} (+${length} bytes), past the end of the image (${bzImage.length} bytes)`);
    }
    const codec = codecAt(bzImage, offset);
    if (!codec) throw new Error(`the payload at ${offset} starts with ${hex(bzImage.subarray(offset, offset + 6))}, no known compression magic`);
    return { codec, offset, length, source: 'header' };
  }
  for (let offset = 0; offset < bzImage.length; offset++) {
    const codec = codecAt(bzImage, offset);
    if (codec) return { codec, offset, length: bzImage.length - offset, source: 'scan' };
  }
  throw new Error('no boot protocol 2.08 setup header and no compression magic in the image');
}

/** XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit physical entry point a PVH loader (qemu's -kernel) jumps to. */
const XEN_ELFNOTE_PHYS32_ENTRY = 18;
const EM_X86_64 = 62;

/** Why `elf` is not a kernel qemu can boot through PVH, or undefined when it is. */
export function pvhProblem(elf: Buffer): string | undefined {
  if (!isElf64le(elf)) return `not an ELF64 little-endian file (starts with ${hex(elf.subarray(0, 6))})`;
  const machine = elf.readUInt16LE(18);
  if (machine !== EM_X86_64) return `an ELF for machine ${machine}, not x86-64 (${EM_X86_64})`;
  if (!hasPvhEntry(elf)) return 'no PVH entry (no XEN_ELFNOTE_PHYS32_ENTRY note; CONFIG_PVH is off)';
  return undefined;
}

/** Whether an ELF64 little-endian file has the PVH entry note in a PT_NOTE segment, where qemu looks for it. */
export function hasPvhEntry(elf: Buffer): boolean {
  return elfNotes(elf).some((note) => note.name === 'Xen' && note.type === XEN_ELFNOTE_PHYS32_ENTRY);
}

const zstdDecompress = promisify(zlib.zstdDecompress);
const gunzip = promisify(zlib.gunzip);

// Codecs without an entry here leave the kernel to boot as a bzImage.
export const DECOMPRESS: Partial<Record<PayloadCodec, (data: Buffer) => Promise<Buffer>>> = {
  // --single-stream: stop at the end of the xz stream, whatever follows it.
  xz: (data) => pipeThrough(['xz', '-dc', '--single-stream'], data, 'install the Debian package xz-utils'),
  gzip: (data) => gunzip(data),
  // The kernel's zstd -22 --ultra uses a window beyond zstd's default decoding limit (2^27).
  zstd: (data) => zstdDecompress(data, { params: { [zlib.constants.ZSTD_d_windowLogMax]: 31 } }),
  lz4: (data) => pipeThrough(['lz4', '-dc'], data, 'install the Debian package lz4'),
};

/**
 * The kernel build appends the uncompressed size (4 bytes, little-endian) to every payload but
 * gzip's, whose own trailer already ends with it; either way the payload's last 4 bytes are the size.
 */
export function streamOf(image: Buffer, payload: Payload): { stream: Buffer; size?: number } {
  const whole = image.subarray(payload.offset, payload.offset + payload.length);
  if (payload.source === 'scan' || whole.length < 4) return { stream: whole };
  const size = whole.readUInt32LE(whole.length - 4);
  return { stream: payload.codec === 'gzip' ? whole : whole.subarray(0, whole.length - 4), size };
}
