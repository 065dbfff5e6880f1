import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { elfNotes, noteSegments, parseNotes } from '../../../../packer/elf/notes.ts';
import { encodeNote } from './encode-note.ts';

/** One note laid out as glibc reads it: header, name padded to `align`, descriptor padded to `align`. */
function note(name: string, type: number, descLength: number, align: 4 | 8): Buffer {
  const pad = (n: number) => Math.ceil(n / align) * align;
  const nameBytes = Buffer.from(`${name}\0`, 'latin1');
  const descAt = pad(12 + nameBytes.length);
  const bytes = Buffer.alloc(pad(descAt + descLength), 0xee);
  bytes.writeUInt32LE(nameBytes.length, 0);
  bytes.writeUInt32LE(descLength, 4);
  bytes.writeUInt32LE(type, 8);
  bytes.set(nameBytes, 12);
  return bytes;
}

test('encodeNote: header, name and payload, each padded to the alignment', () => {
  const header = [4, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0];
  assert.deepEqual(encodeNote('GNU', 3, Buffer.from('abcde')), Buffer.from([...header, ...Buffer.from('GNU\0'), ...Buffer.from('abcde'), 0, 0, 0]));
  // 8: the payload starts at 16 (12 + 4 is already aligned), the note ends at 24.
  assert.deepEqual(encodeNote('GNU', 3, Buffer.from('abcde'), 8), Buffer.from([...header, ...Buffer.from('GNU\0'), ...Buffer.from('abcde'), 0, 0, 0]));
  assert.deepEqual(encodeNote('Linux', 6, Buffer.from('x'), 8), Buffer.from([6, 0, 0, 0, 1, 0, 0, 0, 6, 0, 0, 0, ...Buffer.from('Linux\0'), 0, 0, 0, 0, 0, 0, ...Buffer.from('x'), 0, 0, 0, 0, 0, 0, 0]));
  assert.deepEqual(parseNotes(encodeNote('Linux', 6, Buffer.from('x'), 8), 8), [{ name: 'Linux', type: 6 }]);
});

for (const align of [4, 8] as const) {
  test(`parseNotes walks ${align}-aligned notes with odd name and descriptor sizes`, () => {
    const segment = Buffer.concat([note('Linux', 6, 5, align), note('GNU', 3, 20, align), note('Xen', 18, 8, align)]);
    assert.deepEqual(parseNotes(segment, align), [
      { name: 'Linux', type: 6 },
      { name: 'GNU', type: 3 },
      { name: 'Xen', type: 18 },
    ]);
  });
}

test('parseNotes drops a note cut short', () => {
  const whole = note('GNU', 1, 16, 4);
  assert.deepEqual(parseNotes(whole.subarray(0, 14), 4), []);
  // Padding too short for another header is not a note.
  assert.deepEqual(parseNotes(Buffer.concat([whole, Buffer.alloc(8)]), 4), [{ name: 'GNU', type: 1 }]);
});

test('noteSegments reads PT_NOTE entries only, with their alignment', () => {
  const table = Buffer.alloc(3 * 56);
  const entry = (index: number, type: number, offset: number, size: number, align: number) => {
    table.writeUInt32LE(type, index * 56);
    table.writeBigUInt64LE(BigInt(offset), index * 56 + 8);
    table.writeBigUInt64LE(BigInt(size), index * 56 + 32);
    table.writeBigUInt64LE(BigInt(align), index * 56 + 48);
  };
  entry(0, 1, 0, 4096, 4096); // PT_LOAD
  entry(1, 4, 0x2c4, 0x44, 4);
  entry(2, 4, 0x318, 0x30, 8);
  assert.deepEqual(noteSegments(table), [
    { offset: 0x2c4, size: 0x44, align: 4 },
    { offset: 0x318, size: 0x30, align: 8 },
  ]);
});

test('elfNotes on real binaries: what readelf -n lists', () => {
  const readelfOwners = (path: string) =>
    [...execFileSync('readelf', ['-n', '-W', path], { encoding: 'utf8' }).matchAll(/^\s+(\S+)\s+0x[0-9a-f]+\s/gm)].map((m) => m[1]);
  const ls = elfNotes(readFileSync('/bin/ls')).map((n) => n.name);
  assert.deepEqual(ls, readelfOwners('/bin/ls'));
  assert.ok(ls.includes('GNU'));
  assert.deepEqual(elfNotes(Buffer.from('not an elf')), []);
});
