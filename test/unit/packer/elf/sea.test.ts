import { test } from 'node:test';
import assert from 'node:assert/strict';
import { elfNotes, encodeNote } from '../../../../packer/elf/notes.ts';
import { injectSeaBlob, SEA_FUSE, SEA_NOTE_NAME } from '../../../../packer/elf/sea.ts';

const PT_LOAD = 1;
const PT_NOTE = 4;
const BASE = 0x400000;
const FUSE_AT = 0x180;
const NOTE_AT = 0x100;
const OLD_NOTE = encodeNote('GNU', 1, Buffer.from([1, 2, 3, 4]));

type Segment = { type: number; offset: number; vaddr: number; filesz: number; memsz: number; align: number };

/**
 * A small ELF64 with the layout of Node's binary where it matters: a note inside the first
 * loadable segment, the fuse in it too, and zero padding up to the next loadable segment at 0x1000.
 */
function syntheticElf(firstLoad: Partial<Segment> = {}): Buffer {
  const segments: Segment[] = [
    { type: PT_LOAD, offset: 0, vaddr: BASE, filesz: 0x200, memsz: 0x200, align: 0x1000, ...firstLoad },
    { type: PT_NOTE, offset: NOTE_AT, vaddr: BASE + NOTE_AT, filesz: OLD_NOTE.length, memsz: OLD_NOTE.length, align: 4 },
    { type: PT_LOAD, offset: 0x1000, vaddr: BASE + 0x1000, filesz: 0x100, memsz: 0x100, align: 0x1000 },
  ];
  const elf = Buffer.alloc(0x1100);
  elf.writeUInt32BE(0x7f454c46, 0);
  elf[4] = 2; // ELFCLASS64
  elf[5] = 1; // little-endian
  elf.writeBigUInt64LE(64n, 32); // e_phoff
  elf.writeUInt16LE(56, 54); // e_phentsize
  elf.writeUInt16LE(segments.length, 56); // e_phnum
  segments.forEach((segment, index) => {
    const at = 64 + index * 56;
    elf.writeUInt32LE(segment.type, at);
    for (const [field, value] of [[8, segment.offset], [16, segment.vaddr], [24, segment.vaddr], [32, segment.filesz], [40, segment.memsz], [48, segment.align]] as const) {
      elf.writeBigUInt64LE(BigInt(value), at + field);
    }
  });
  OLD_NOTE.copy(elf, NOTE_AT);
  elf.write(`${SEA_FUSE}:0`, FUSE_AT, 'latin1');
  elf.fill(0xcc, 0x1000);
  return elf;
}

const segment = (elf: Buffer, index: number) => {
  const at = 64 + index * 56;
  return { offset: Number(elf.readBigUInt64LE(at + 8)), vaddr: Number(elf.readBigUInt64LE(at + 16)), filesz: Number(elf.readBigUInt64LE(at + 32)), memsz: Number(elf.readBigUInt64LE(at + 40)) };
};

test('injectSeaBlob puts the notes after the first segment, extends it, points PT_NOTE at them, sets the fuse', () => {
  const blob = Buffer.from('the blob');
  const before = syntheticElf();
  const after = injectSeaBlob(Buffer.from(before), blob, 'node');
  const notes = Buffer.concat([OLD_NOTE, encodeNote(SEA_NOTE_NAME, 0, blob)]);
  assert.equal(after.length, before.length);
  assert.deepEqual(segment(after, 0), { offset: 0, vaddr: BASE, filesz: 0x200 + notes.length, memsz: 0x200 + notes.length });
  assert.deepEqual(segment(after, 1), { offset: 0x200, vaddr: BASE + 0x200, filesz: notes.length, memsz: notes.length });
  assert.deepEqual(segment(after, 2), segment(before, 2));
  assert.deepEqual(after.subarray(0x200, 0x200 + notes.length), notes);
  assert.equal(after.toString('latin1', FUSE_AT, FUSE_AT + SEA_FUSE.length + 2), `${SEA_FUSE}:1`);
  // Nothing else changed: the program headers' sizes and offsets, the notes, the fuse's last byte.
  const changed = [...after.keys()].filter((index) => after[index] !== before[index]);
  const expectedRanges = [[64 + 8, 64 + 48], [64 + 56 + 8, 64 + 56 + 48], [0x200, 0x200 + notes.length]];
  const outside = changed.filter((index) => index !== FUSE_AT + SEA_FUSE.length + 1 && !expectedRanges.some(([from, to]) => index >= from! && index < to!));
  assert.deepEqual(outside, []);
  // What the packer's SEA check reads.
  assert.deepEqual(elfNotes(after).map((note) => note.name), ['GNU', SEA_NOTE_NAME]);
});

test('injectSeaBlob skips a segment followed by .bss and refuses what it cannot do', () => {
  const blob = Buffer.from('the blob');
  assert.throws(() => injectSeaBlob(syntheticElf({ memsz: 0x400 }), blob, 'node'), {
    message: 'node has no 56-byte run of padding after a loadable segment to hold the blob',
  });
  const dirty = syntheticElf();
  dirty[0x230] = 1;
  assert.throws(() => injectSeaBlob(dirty, blob, 'node'), { message: /^node has no 56-byte run of padding/ });
  const once = injectSeaBlob(syntheticElf(), blob, 'node');
  assert.throws(() => injectSeaBlob(once, blob, 'node'), { message: 'node already is a single executable application (its SEA fuse is set)' });
  const noFuse = syntheticElf().fill(0, FUSE_AT, FUSE_AT + 8);
  assert.throws(() => injectSeaBlob(noFuse, blob, 'node'), { message: /^node has no SEA fuse \(NODE_SEA_FUSE_\w+\): not a Node runtime/ });
  assert.throws(() => injectSeaBlob(Buffer.from('#!/bin/sh\n'.padEnd(64)), blob, 'script'), { message: 'script is not a 64-bit little-endian ELF file' });
});
