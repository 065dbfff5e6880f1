import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { pipeThrough } from '../../../../packer/pipe-through.ts';
import { encodeNote } from '../../packer/elf/encode-note.ts';
import { extractVmlinux, KEPT_VMLINUXES, VMLINUX_NAMES_MEMO } from '../../../../scripts/lib/vmlinux.ts';
import { findPayload, hasPvhEntry, pvhProblem, type Payload, type PayloadCodec } from '../../../../scripts/lib/vmlinux-payload.ts';
import { demoKernel, noDemoKernel } from '../../../demo.ts';

const DEMO_KERNEL = demoKernel()?.image ?? '';
const noDemo = noDemoKernel;

const MAGIC: Record<PayloadCodec, number[]> = {
  xz: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
  gzip: [0x1f, 0x8b, 0x08],
  zstd: [0x28, 0xb5, 0x2f, 0xfd],
  lz4: [0x02, 0x21, 0x4c, 0x18],
  lzma: [0x5d, 0x00, 0x00],
  bzip2: [0x42, 0x5a, 0x68],
  lzo: [0x89, 0x4c, 0x5a, 0x4f],
};

/** A bzImage-shaped file: a setup header (protocol 2.15) whose payload fields point at `payload`. */
function bzImage(payload: Uint8Array, setupSects = 1, payloadOffset = 0x40): Buffer {
  const protectedMode = ((setupSects || 4) + 1) * 512;
  const image = Buffer.alloc(protectedMode + payloadOffset + payload.length + 16);
  image[0x1f1] = setupSects;
  image.writeUInt16LE(0xaa55, 0x1fe);
  image.write('HdrS', 0x202, 'latin1');
  image.writeUInt16LE(0x20f, 0x206);
  image.writeUInt32LE(payloadOffset, 0x248);
  image.writeUInt32LE(payload.length, 0x24c);
  image.set(payload, protectedMode + payloadOffset);
  return image;
}

interface Note { name: string; type: number; desc: number[] }

/** An ELF64 executable with one PT_NOTE segment holding `notes` (none: no PT_NOTE at all). */
function elf(notes: Note[] | undefined, { machine = 62, noteAlign = 4 }: { machine?: number; noteAlign?: 4 | 8 } = {}): Buffer {
  const body = Buffer.concat((notes ?? []).map(({ name, type, desc }) => encodeNote(name, type, Uint8Array.from(desc), noteAlign)));
  const header = Buffer.alloc(64 + 56);
  header.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  header.writeUInt16LE(2, 16); // ET_EXEC
  header.writeUInt16LE(machine, 18);
  header.writeUInt32LE(1, 20);
  header.writeBigUInt64LE(64n, 32); // e_phoff
  header.writeUInt16LE(64, 52);
  header.writeUInt16LE(56, 54);
  header.writeUInt16LE(notes ? 1 : 0, 56);
  header.writeUInt32LE(4, 64); // PT_NOTE
  header.writeBigUInt64LE(120n, 64 + 8); // p_offset
  header.writeBigUInt64LE(BigInt(body.length), 64 + 32); // p_filesz
  header.writeBigUInt64LE(BigInt(body.length), 64 + 40); // p_memsz
  header.writeBigUInt64LE(BigInt(noteAlign), 64 + 48);
  return Buffer.concat([header, body]);
}

const PVH: Note = { name: 'Xen', type: 18, desc: [0x50, 0x08, 0x00, 0x01, 0, 0, 0, 0] };
// Odd name and descriptor lengths, so finding the PVH note after them depends on the padding.
const OTHERS: Note[] = [
  { name: 'Linux', type: 6, desc: [0x36, 0x2e, 0x31, 0x00, 0x00] },
  { name: 'Xen', type: 6, desc: [...Buffer.from('linux\0')] },
];

test('findPayload: the demo kernel is xz at the offset the setup header gives, which is the first xz magic', { skip: noDemo }, async () => {
  const image = await readFile(DEMO_KERNEL);
  const first = image.indexOf(Buffer.from(MAGIC.xz));
  const payload = findPayload(image);
  assert.deepEqual(payload, { codec: 'xz', offset: first, length: image.readUInt32LE(0x24c), source: 'header' });
  assert.equal(payload.offset, (image[0x1f1]! + 1) * 512 + image.readUInt32LE(0x248));
});

const HEADERS: Array<[string, Buffer, Payload]> = [
  ...Object.entries(MAGIC).map(([codec, magic]): [string, Buffer, Payload] => [
    `${codec} payload`, bzImage(Buffer.from([...magic, 1, 2, 3])),
    { codec: codec as PayloadCodec, offset: 1024 + 0x40, length: magic.length + 3, source: 'header' },
  ]),
  // setup_sects 0 stands for 4: protected-mode code at 5 * 512.
  ['setup_sects 0', bzImage(Buffer.from([...MAGIC.zstd, 0, 0, 0, 0]), 0, 0x10),
    { codec: 'zstd', offset: 2560 + 0x10, length: 8, source: 'header' }],
  // The header wins over an earlier magic (here bzip2's "BZh" in the setup code).
  ['a magic before the payload', (() => {
    const image = bzImage(Buffer.from([...MAGIC.gzip, 0]));
    image.set(MAGIC.bzip2, 0x300);
    return image;
  })(), { codec: 'gzip', offset: 1088, length: 4, source: 'header' }],
];

for (const [name, image, expected] of HEADERS) {
  test(`findPayload from the setup header: ${name}`, () => {
    assert.deepEqual(findPayload(image), expected);
  });
}

test('findPayload without a setup header scans for the first magic', () => {
  const image = Buffer.alloc(4096, 0x90);
  image.set(MAGIC.lz4, 700);
  image.set(MAGIC.xz, 900);
  assert.deepEqual(findPayload(image), { codec: 'lz4', offset: 700, length: 4096 - 700, source: 'scan' });
  // Protocol 2.07 has no payload fields: scanned as well.
  const old = bzImage(Buffer.from(MAGIC.xz));
  old.writeUInt16LE(0x207, 0x206);
  assert.deepEqual(findPayload(old), { codec: 'xz', offset: 1088, length: old.length - 1088, source: 'scan' });
});

const BAD: Array<[string, Buffer, RegExp]> = [
  ['garbage', Buffer.alloc(8192, 0x90), /^no boot protocol 2\.08 setup header and no compression magic in the image$/],
  ['empty', Buffer.alloc(0), /^no boot protocol 2\.08 setup header/],
  ['a header pointing at no magic', bzImage(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1])),
    /^the payload at 1088 starts with 7f 45 4c 46 02 01, no known compression magic$/],
  ['a header pointing past the end', (() => {
    const image = bzImage(Buffer.from(MAGIC.xz));
    image.writeUInt32LE(1 << 20, 0x24c);
    return image;
  })(), /^the setup header puts the payload at 1088 \(\+1048576 bytes\), past the end of the image \(1110 bytes\)$/],
];

for (const [name, image, message] of BAD) {
  test(`findPayload on ${name} throws`, () => {
    assert.throws(() => findPayload(image), { message });
  });
}

const PVH_CASES: Array<[string, Buffer, boolean]> = [
  ['the PVH note alone', elf([PVH]), true],
  ['the PVH note after notes that need padding', elf([...OTHERS, PVH]), true],
  ['8-aligned notes', elf([...OTHERS, PVH], { noteAlign: 8 }), true],
  ['other notes only', elf(OTHERS), false],
  ['type 18 from another owner', elf([{ ...PVH, name: 'GNU' }]), false],
  ['owner Xen, type 17', elf([{ ...PVH, type: 17 }]), false],
  ['no PT_NOTE segment', elf(undefined), false],
  ['not an ELF', Buffer.from(MAGIC.xz), false],
  ['32-bit ELF', (() => {
    const image = elf([PVH]);
    image[4] = 1;
    return image;
  })(), false],
];

for (const [name, image, expected] of PVH_CASES) {
  test(`hasPvhEntry: ${name}`, () => {
    assert.equal(hasPvhEntry(image), expected);
  });
}

const PROBLEMS: Array<[string, Buffer, string | undefined]> = [
  ['a PVH kernel', elf([...OTHERS, PVH]), undefined],
  ['no note', elf(OTHERS), 'no PVH entry (no XEN_ELFNOTE_PHYS32_ENTRY note; CONFIG_PVH is off)'],
  ['arm64', elf([PVH], { machine: 183 }), 'an ELF for machine 183, not x86-64 (62)'],
  ['not an ELF', Buffer.from('#!/bin/sh\n'), 'not an ELF64 little-endian file (starts with 23 21 2f 62 69 6e)'],
];

for (const [name, image, expected] of PROBLEMS) {
  test(`pvhProblem: ${name}`, () => {
    assert.equal(pvhProblem(image), expected);
  });
}

const sizeTrailer = (size: number) => {
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32LE(size);
  return trailer;
};

// Each payload as the kernel build makes it: the compressed stream, then the size (gzip: its own trailer).
const COMPRESSORS: Array<[PayloadCodec, (data: Buffer) => Promise<Buffer>]> = [
  ['xz', async (data) => Buffer.concat([await pipeThrough(['xz', '--check=crc32', '-c'], data), sizeTrailer(data.length)])],
  ['gzip', async (data) => zlib.gzipSync(data)],
  ['zstd', async (data) => Buffer.concat([zlib.zstdCompressSync(data), sizeTrailer(data.length)])],
  ['lz4', async (data) => Buffer.concat([await pipeThrough(['lz4', '-l', '-c'], data), sizeTrailer(data.length)])],
];

async function withCache(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vmlinux-test-'));
  try {
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const sha32 = (data: Buffer) => createHash('sha256').update(data).digest('hex').slice(0, 32);

for (const [codec, compress] of COMPRESSORS) {
  test(`extractVmlinux: a ${codec} payload gives back the ELF byte for byte`, () => withCache(async (dir) => {
    const vmlinux = elf([...OTHERS, PVH]);
    const image = bzImage(await compress(vmlinux));
    const kernel = join(dir, 'bzImage');
    await writeFile(kernel, image);
    const cache = join(dir, 'cache');
    const result = await extractVmlinux(kernel, cache);
    const expectedPath = join(cache, `vmlinux-${sha32(image)}`);
    assert.equal(result.path, expectedPath);
    assert.match(result.reason, new RegExp(`^extracted the ${codec} payload of ${kernel} to ${expectedPath} in \\d+\\.\\d s$`));
    assert.deepEqual(await readFile(expectedPath), vmlinux);
    assert.deepEqual((await readdir(cache)).sort(), [`vmlinux-${sha32(image)}`, VMLINUX_NAMES_MEMO]);
  }));
}

test('extractVmlinux: a hit marks the vmlinux used; an extraction keeps the KEPT_VMLINUXES most recently used', () => withCache(async (dir) => {
  const cache = join(dir, 'cache');
  await mkdir(cache);
  const old = (index: number) => `vmlinux-${sha32(Buffer.from([index]))}`;
  for (let index = 0; index < KEPT_VMLINUXES; index++) {
    await writeFile(join(cache, old(index)), '');
    await utimes(join(cache, old(index)), 1000 + index, 1000 + index);
  }
  await writeFile(join(cache, `${old(99)}.no-pvh`), 'a refusal\n');
  const image = bzImage(zlib.gzipSync(elf([...OTHERS, PVH])));
  const kernel = join(dir, 'bzImage');
  await writeFile(kernel, image);
  const result = await extractVmlinux(kernel, cache);
  assert.match(result.reason, new RegExp(`; removed the least recently used ${join(cache, old(0))}$`));
  const kept = [`vmlinux-${sha32(image)}`, ...[...Array(KEPT_VMLINUXES).keys()].slice(1).map(old), `${old(99)}.no-pvh`, VMLINUX_NAMES_MEMO];
  assert.deepEqual((await readdir(cache)).sort(), kept.sort());
  await utimes(result.path!, 500, 500);
  assert.deepEqual(await extractVmlinux(kernel, cache), { path: result.path, reason: `${result.path} (cached)` });
  assert.ok((await stat(result.path!)).mtimeMs > Date.now() - 60_000, 'a hit leaves the mtime in the past');
}));

test('extractVmlinux: a kernel without PVH is refused once and remembered', () => withCache(async (dir) => {
  const image = bzImage(zlib.gzipSync(elf(OTHERS)));
  const kernel = join(dir, 'bzImage');
  await writeFile(kernel, image);
  const reason = `${kernel}: decompressed gzip payload: no PVH entry (no XEN_ELFNOTE_PHYS32_ENTRY note; CONFIG_PVH is off); booting the bzImage`;
  assert.deepEqual(await extractVmlinux(kernel, dir), { reason });
  assert.deepEqual(await extractVmlinux(kernel, dir), { reason: `${reason} (cached)` });
  assert.deepEqual((await readdir(dir)).sort(), ['bzImage', `vmlinux-${sha32(image)}.no-pvh`, VMLINUX_NAMES_MEMO]);
}));

test('extractVmlinux: a bzImage is hashed again only once it is another file (inode, size or mtime)', () => withCache(async (dir) => {
  const image = bzImage(zlib.gzipSync(elf([...OTHERS, PVH])));
  const kernel = join(dir, 'bzImage');
  // Whole seconds: a time utimes can set back exactly.
  const mtime = 1_700_000_000;
  await writeFile(kernel, image);
  await utimes(kernel, mtime, mtime);
  const cache = join(dir, 'cache');
  const first = await extractVmlinux(kernel, cache);
  assert.equal(first.path, join(cache, `vmlinux-${sha32(image)}`), first.reason);
  // Other bytes (past the payload) behind the same inode, size and mtime: the remembered name stands, unread.
  const changed = Buffer.from(image);
  changed[changed.length - 1] = 1;
  await writeFile(kernel, changed);
  await utimes(kernel, mtime, mtime);
  assert.deepEqual(await extractVmlinux(kernel, cache), { path: first.path, reason: `${first.path} (cached)` });
  // A new mtime: hashed again, a vmlinux of its own.
  await utimes(kernel, mtime + 1, mtime + 1);
  const second = await extractVmlinux(kernel, cache);
  assert.equal(second.path, join(cache, `vmlinux-${sha32(changed)}`), second.reason);
  const memo = JSON.parse(await readFile(join(cache, VMLINUX_NAMES_MEMO), 'utf8'));
  assert.deepEqual(Object.keys(memo), [kernel]);
  assert.equal(memo[kernel].name, `vmlinux-${sha32(changed)}`);
}));

test('extractVmlinux: a remembered name whose vmlinux was pruned is extracted again', () => withCache(async (dir) => {
  const image = bzImage(zlib.gzipSync(elf([...OTHERS, PVH])));
  const kernel = join(dir, 'bzImage');
  await writeFile(kernel, image);
  const cache = join(dir, 'cache');
  const first = await extractVmlinux(kernel, cache);
  await rm(first.path!);
  const again = await extractVmlinux(kernel, cache);
  assert.equal(again.path, first.path);
  assert.match(again.reason, /^extracted the gzip payload of /);
}));

test('extractVmlinux: the memo forgets a bzImage that is gone once another is remembered', () => withCache(async (dir) => {
  const cache = join(dir, 'cache');
  const kernels = [join(dir, 'gone/bzImage'), join(dir, 'kept/bzImage'), join(dir, 'new/bzImage')];
  const images = [OTHERS, [PVH], [...OTHERS, PVH]].map((notes) => bzImage(zlib.gzipSync(elf(notes))));
  for (const [index, kernel] of kernels.entries()) {
    await mkdir(join(kernel, '..'));
    await writeFile(kernel, images[index]!);
  }
  await extractVmlinux(kernels[0]!, cache);
  await extractVmlinux(kernels[1]!, cache);
  await rm(join(kernels[0]!, '..'), { recursive: true });
  await extractVmlinux(kernels[2]!, cache);
  const memo = JSON.parse(await readFile(join(cache, VMLINUX_NAMES_MEMO), 'utf8'));
  assert.deepEqual(Object.keys(memo).sort(), kernels.slice(1).sort());
}));

const REFUSED: Array<[string, () => Buffer, (kernel: string) => string]> = [
  ['an unsupported codec', () => bzImage(Buffer.from([...MAGIC.lzo, 0, 0, 0, 0])),
    (kernel) => `${kernel}: lzo-compressed kernels are not extracted; booting the bzImage`],
  ['a size field that disagrees', () => bzImage(Buffer.concat([zlib.zstdCompressSync(elf([PVH])), sizeTrailer(7)])),
    (kernel) => `${kernel}: the zstd payload decompressed to ${elf([PVH]).length} bytes, the image says 7`],
  ['a corrupt stream', () => bzImage(Buffer.from([...MAGIC.xz, 1, 2, 3, 4, 5, 6, 7, 8])),
    (kernel) => `${kernel}: no vmlinux extracted: xz -dc --single-stream exited with status 1: xz: (stdin): Unexpected end of input`],
  ['garbage', () => Buffer.alloc(600, 0x90),
    (kernel) => `${kernel}: no vmlinux extracted: no boot protocol 2.08 setup header and no compression magic in the image`],
];

for (const [name, image, reason] of REFUSED) {
  test(`extractVmlinux on ${name}: a reason, no path, nothing cached`, () => withCache(async (dir) => {
    const kernel = join(dir, 'bzImage');
    await writeFile(kernel, image());
    const cache = join(dir, 'cache');
    assert.deepEqual(await extractVmlinux(kernel, cache), { reason: reason(kernel) });
    assert.deepEqual(existsSync(cache) ? await readdir(cache) : [], []);
  }));
}

test('extractVmlinux on a missing file: a reason, no throw', async () => {
  assert.deepEqual(await extractVmlinux('/nonexistent/vmlinuz', '/nonexistent/cache'), {
    reason: "/nonexistent/vmlinuz: no vmlinux extracted: ENOENT: no such file or directory, stat '/nonexistent/vmlinuz'",
  });
});

test('extractVmlinux on the demo kernel: a PVH vmlinux, then the cached file reused, not rewritten', { skip: noDemo }, () => withCache(async (dir) => {
  const first = await extractVmlinux(DEMO_KERNEL, dir);
  const expectedPath = join(dir, `vmlinux-${sha32(await readFile(DEMO_KERNEL))}`);
  assert.equal(first.path, expectedPath, first.reason);
  const vmlinux = await readFile(expectedPath);
  assert.equal(hasPvhEntry(vmlinux), true);
  assert.equal(pvhProblem(vmlinux), undefined);
  const before = await stat(expectedPath);
  const second = await extractVmlinux(DEMO_KERNEL, dir);
  assert.deepEqual(second, { path: expectedPath, reason: `${expectedPath} (cached)` });
  // The same file (a hit only marks it used).
  assert.equal((await stat(expectedPath)).ino, before.ino);
  assert.deepEqual(await readFile(expectedPath), vmlinux);
}));
