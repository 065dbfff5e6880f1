/**
 * The uncompressed kernel (vmlinux) inside a bzImage, for booting through PVH: qemu's -kernel takes an
 * ELF vmlinux with a XEN_ELFNOTE_PHYS32_ENTRY note and jumps straight to its 64-bit entry, so the
 * guest skips the bzImage's own decompressor — under TCG that decompression is most of the boot.
 * Decompressing once on the host and caching the result by the bzImage's hash pays it once per kernel.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { makeDirectory } from './make-directory.ts';
import { pipeThrough } from '../../packer/compress.ts';
import { elfNotes, isElf64le } from '../../packer/elf/notes.ts';
import { writeFileAtomic } from './atomic-write.ts';
import { markUsed, pruneLeastRecentlyUsed } from './cache-lru.ts';
import { identityOf, sameIdentity, type FileIdentity } from './file-identity.ts';
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
const DECOMPRESS: Partial<Record<PayloadCodec, (data: Buffer) => Promise<Buffer>>> = {
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
function streamOf(image: Buffer, payload: Payload): { stream: Buffer; size?: number } {
  const whole = image.subarray(payload.offset, payload.offset + payload.length);
  if (payload.source === 'scan' || whole.length < 4) return { stream: whole };
  const size = whole.readUInt32LE(whole.length - 4);
  return { stream: payload.codec === 'gzip' ? whole : whole.subarray(0, whole.length - 4), size };
}

export interface VmlinuxResult {
  /** The cached vmlinux to pass to qemu's -kernel; absent when the bzImage has to be booted as it is. */
  path?: string;
  /** What happened, for --debug. */
  reason: string;
}

const HASH_HEX_LENGTH = 32;
/**
 * How many extracted kernels the cache keeps, the most recently used: each is tens of MB (66 MB for
 * Debian's 6.1), and every kernel build a developer boots makes a new one.
 */
export const KEPT_VMLINUXES = 8;
const VMLINUX_NAME = /^vmlinux-[0-9a-f]{32}$/;

/**
 * In the cache: the name each bzImage's content gave, trusted while it is the same file
 * (file-identity.ts). Reading and hashing Debian's 8 MB bzImage is ~50 ms of every run otherwise.
 */
export const VMLINUX_NAMES_MEMO = 'vmlinuxes.json';

type KnownNames = Record<string, FileIdentity & { name: string }>;

async function readKnownNames(cacheDir: string): Promise<KnownNames> {
  try {
    return JSON.parse(await readFile(join(cacheDir, VMLINUX_NAMES_MEMO), 'utf8')) as KnownNames;
  } catch {
    return {};
  }
}

/** The cache name of the bzImage at `kernelPath`: remembered, else its content hashed (the bytes come along then). */
async function cacheName(kernelPath: string, known: KnownNames): Promise<{ name: string; identity: FileIdentity; image?: Buffer }> {
  // Taken before the bytes are read: a file replaced meanwhile no longer matches next time.
  const identity = identityOf(await stat(kernelPath));
  const remembered = known[resolve(kernelPath)];
  if (remembered && sameIdentity(remembered, identity) && VMLINUX_NAME.test(remembered.name)) return { name: remembered.name, identity };
  const image = await readFile(kernelPath);
  return { name: `vmlinux-${createHash('sha256').update(image).digest('hex').slice(0, HASH_HEX_LENGTH)}`, identity, image };
}

/** Records the name `kernelPath` hashed to; names whose vmlinux and refusal the cache no longer holds are dropped. */
async function rememberName(cacheDir: string, known: KnownNames, kernelPath: string, identity: FileIdentity, name: string): Promise<void> {
  const held = (entry: string) => existsSync(join(cacheDir, entry)) || existsSync(join(cacheDir, `${entry}.no-pvh`));
  const names = Object.fromEntries(Object.entries(known).filter(([, remembered]) => held(remembered.name)));
  names[resolve(kernelPath)] = { ...identity, name };
  // A memo that cannot be written costs the next run one hash, nothing more.
  await writeFileAtomic(join(cacheDir, VMLINUX_NAMES_MEMO), Buffer.from(JSON.stringify(names))).catch(() => undefined);
}

/**
 * The vmlinux inside the bzImage at `kernelPath`, decompressed into `cacheDir` once per bzImage
 * content. Never throws: whatever stops the extraction is the reason, and the bzImage still boots.
 */
export async function extractVmlinux(kernelPath: string, cacheDir: string): Promise<VmlinuxResult> {
  try {
    const known = await readKnownNames(cacheDir);
    const { name, identity, image: hashed } = await cacheName(kernelPath, known);
    // Only a name just hashed is news; and only once the cache holds its vmlinux or refusal.
    const remember = () => (hashed ? rememberName(cacheDir, known, kernelPath, identity, name) : Promise.resolve());
    const path = join(cacheDir, name);
    // A kernel without PVH support is remembered too, so it is not decompressed on every boot.
    const refusal = join(cacheDir, `${name}.no-pvh`);
    if (existsSync(path)) {
      await markUsed(path);
      await remember();
      return { path, reason: `${path} (cached)` };
    }
    if (existsSync(refusal)) {
      await remember();
      return { reason: `${(await readFile(refusal, 'utf8')).trim()} (cached)` };
    }

    const image = hashed ?? (await readFile(kernelPath));
    const payload = findPayload(image);
    const decompress = DECOMPRESS[payload.codec];
    if (!decompress) return { reason: `${kernelPath}: ${payload.codec}-compressed kernels are not extracted; booting the bzImage` };
    const started = Date.now();
    const { stream, size } = streamOf(image, payload);
    const vmlinux = await decompress(stream);
    if (size !== undefined && vmlinux.length % 2 ** 32 !== size) {
      return { reason: `${kernelPath}: the ${payload.codec} payload decompressed to ${vmlinux.length} bytes, the image says ${size}` };
    }
    await makeDirectory(cacheDir, 0o700);
    const problem = pvhProblem(vmlinux);
    if (problem) {
      const reason = `${kernelPath}: decompressed ${payload.codec} payload: ${problem}; booting the bzImage`;
      await writeFileAtomic(refusal, Buffer.from(`${reason}\n`));
      await remember();
      return { reason };
    }
    await writeFileAtomic(path, vmlinux);
    await remember();
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const stale = await pruneLeastRecentlyUsed(cacheDir, VMLINUX_NAME, KEPT_VMLINUXES);
    const pruned = stale.length === 0 ? '' : `; removed the least recently used ${stale.join(', ')}`;
    return { path, reason: `extracted the ${payload.codec} payload of ${kernelPath} to ${path} in ${seconds} s${pruned}` };
  } catch (cause) {
    return { reason: `${kernelPath}: no vmlinux extracted: ${(cause as Error).message}` };
  }
}
