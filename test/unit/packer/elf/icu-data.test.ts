import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dropIcuData } from '../../../../packer/elf/icu-data.ts';

/**
 * A small executable laid out as `node --build-sea` leaves Node's runtime: headers and the dynamic
 * symbols in the first page, the read-only data (.rodata, the ICU data inside it) in one PT_LOAD, and
 * the program header table moved to a segment of its own at the end, with room after it.
 *
 *   file 0x0000  ELF header; .dynsym at 0x200, .dynstr at 0x300       vaddr 0x400000
 *   file 0x1000  .rodata: 0x11 bytes, the ICU data (0xaa) at 0x1800   vaddr 0x401000 .. 0x406000
 *                through 0x4800
 *   file 0x6000  program header table (4 entries), .tail at 0x6400    vaddr 0x406000
 *   file 0x7000  section header table (5 entries)
 */
const BASE = 0x400000;
const ICU = { offset: 0x1800, size: 0x3000 };

function sampleElf(options: { symbol?: string; icuSize?: number; tableFollowedBy?: number } = {}): Buffer {
  const elf = Buffer.alloc(0x7000 + 5 * 64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(elf);
  elf.writeUInt16LE(2, 16); // ET_EXEC
  elf.writeUInt16LE(62, 18); // EM_X86_64
  elf.writeBigUInt64LE(0x6000n, 32); // e_phoff
  elf.writeBigUInt64LE(0x7000n, 40); // e_shoff
  elf.writeUInt16LE(56, 54);
  elf.writeUInt16LE(4, 56); // e_phnum
  elf.writeUInt16LE(64, 58);
  elf.writeUInt16LE(5, 60); // e_shnum

  const program = (i: number, type: number, offset: number, size: number) => {
    const at = 0x6000 + i * 56;
    elf.writeUInt32LE(type, at);
    elf.writeUInt32LE(4, at + 4); // PF_R
    [offset, BASE + offset, BASE + offset, size, size, 0x1000].forEach((value, k) => elf.writeBigUInt64LE(BigInt(value), at + 8 + k * 8));
  };
  program(0, 6, 0x6000, 4 * 56); // PT_PHDR
  program(1, 1, 0, 0x1000);
  program(2, 1, 0x1000, 0x5000);
  program(3, 1, 0x6000, 0x1000);
  if (options.tableFollowedBy) elf[0x6000 + 4 * 56] = options.tableFollowedBy;

  const section = (i: number, type: number, offset: number, size: number, link = 0) => {
    const at = 0x7000 + i * 64;
    elf.writeUInt32LE(type, at + 4);
    elf.writeBigUInt64LE(BigInt(offset), at + 24);
    elf.writeBigUInt64LE(BigInt(size), at + 32);
    elf.writeUInt32LE(link, at + 40);
  };
  section(1, 11, 0x200, 2 * 24, 2); // .dynsym, its names in section 2
  section(2, 3, 0x300, 0x40); // .dynstr
  section(3, 1, 0x1000, 0x5000); // .rodata
  section(4, 1, 0x6400, 0x10); // .tail

  elf.write(`\0${options.symbol ?? 'icudt78_dat'}\0`, 0x300, 'latin1');
  elf.writeUInt32LE(1, 0x200 + 24); // st_name
  elf.writeBigUInt64LE(BigInt(BASE + ICU.offset), 0x200 + 24 + 8);
  elf.writeBigUInt64LE(BigInt(options.icuSize ?? ICU.size), 0x200 + 24 + 16);

  elf.fill(0x11, 0x1000, 0x6000);
  elf.fill(0xaa, ICU.offset, ICU.offset + (options.icuSize ?? ICU.size));
  elf.fill(0x22, 0x6400, 0x6410);
  return elf;
}

const programHeaders = (elf: Buffer) =>
  Array.from({ length: elf.readUInt16LE(56) }, (_, i) => {
    const at = Number(elf.readBigUInt64LE(32)) + i * 56;
    const [offset, vaddr, , filesz, memsz] = [0, 1, 2, 3, 4].map((k) => Number(elf.readBigUInt64LE(at + 8 + k * 8)));
    return { type: elf.readUInt32LE(at), offset, vaddr, filesz, memsz };
  });
const sectionExtents = (elf: Buffer) =>
  Array.from({ length: 5 }, (_, i) => {
    const at = Number(elf.readBigUInt64LE(40)) + i * 64;
    return [Number(elf.readBigUInt64LE(at + 24)), Number(elf.readBigUInt64LE(at + 32))];
  });

test('dropIcuData: the data pages leave the file, the segment is split around them, the rest moves up', () => {
  const original = sampleElf();
  const { bytes, symbol, removedBytes } = dropIcuData(original, 'sample');
  // The data spans 0x1800..0x4800: its whole pages 0x2000..0x4000 go, the header's page stays.
  assert.equal(symbol, 'icudt78_dat');
  assert.equal(removedBytes, 0x2000);
  assert.equal(bytes.length, original.length - 0x2000);
  assert.deepEqual(programHeaders(bytes), [
    { type: 6, offset: 0x4000, vaddr: 0x406000, filesz: 5 * 56, memsz: 5 * 56 },
    { type: 1, offset: 0, vaddr: 0x400000, filesz: 0x1000, memsz: 0x1000 },
    { type: 1, offset: 0x1000, vaddr: 0x401000, filesz: 0x1000, memsz: 0x1000 },
    { type: 1, offset: 0x2000, vaddr: 0x404000, filesz: 0x2000, memsz: 0x2000 },
    { type: 1, offset: 0x4000, vaddr: 0x406000, filesz: 0x1000, memsz: 0x1000 },
  ]);
  assert.equal(Number(bytes.readBigUInt64LE(40)), 0x5000, 'e_shoff');
  // .rodata ends at the gap; .tail, after it, moved up with the file.
  assert.deepEqual(sectionExtents(bytes), [[0, 0], [0x200, 48], [0x300, 0x40], [0x1000, 0x1000], [0x4400, 0x10]]);
  // Every byte still mapped is where its address says, and none of the data is left.
  assert.ok(bytes.subarray(0x1000, 0x1800).equals(original.subarray(0x1000, 0x1800)));
  assert.ok(bytes.subarray(0x1800, 0x2800).every((byte) => byte === 0), 'the kept ends of the ICU data are zero');
  assert.ok(bytes.subarray(0x2800, 0x4000).equals(original.subarray(0x4800, 0x6000)));
  assert.ok(bytes.subarray(0x4400, 0x4410).equals(original.subarray(0x6400, 0x6410)));
});

test('dropIcuData: the same input gives the same bytes', () => {
  assert.ok(dropIcuData(sampleElf(), 'sample').bytes.equals(dropIcuData(sampleElf(), 'sample').bytes));
});

const failures: Array<{ name: string; elf: () => Buffer; message: RegExp }> = [
  { name: 'no ICU data symbol', elf: () => sampleElf({ symbol: 'icudt_data' }), message: /^sample: no icudtNN_dat symbol: this runtime has no ICU data built in$/ },
  { name: 'ICU data smaller than a page', elf: () => sampleElf({ icuSize: 0x400 }), message: /^sample: icudt78_dat is only 1024 bytes: nothing to drop$/ },
  { name: 'no room for a program header', elf: () => sampleElf({ tableFollowedBy: 0x7f }), message: /^sample: no room after the program header table \(offset 24576\) for one more entry$/ },
  { name: 'not ELF', elf: () => Buffer.from('#!/bin/sh\n'), message: /^sample: not an ELF64 little-endian file$/ },
  { name: 'the data dropped already', elf: () => dropIcuData(sampleElf(), 'sample').bytes, message: /^sample: icudt78_dat is not inside one PT_LOAD segment \(dropped already\?\)$/ },
];
for (const { name, elf, message } of failures) {
  test(`dropIcuData: ${name} is an error that says so`, () => {
    assert.throws(() => dropIcuData(elf(), 'sample'), { message });
  });
}
