/**
 * A Node single executable application from a runtime binary and a SEA blob, the way Node finds
 * one on Linux: the blob is the payload of an ELF note named NODE_SEA_BLOB, found through the
 * PT_NOTE program headers of the running binary, and the SEA fuse string in the binary ends in 1.
 *
 * postject does the same through LIEF, which adds a segment and realigns the file: +346 KB of
 * padding in every initramfs. Here the file does not grow: the notes go into the zero padding that
 * follows a loadable segment, the segment is extended over them, and the existing PT_NOTE header
 * is pointed at them (the file's own notes, build id and ABI tag, are copied along).
 */
import { ELF64_HEADER_SIZE, encodeNote, isElf64le } from './notes.ts';
import { elfLayout, type ElfLayout, type Segment } from './reader.ts';

export const SEA_NOTE_NAME = 'NODE_SEA_BLOB';
/** Node reads the blob only when this string in its binary is followed by ":1" instead of ":0". */
export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const PT_LOAD = 1;
const PT_NOTE = 4;
const SHT_NOBITS = 8;
const NOTE_ALIGN = 4;

const alignUp = (value: number, align: number) => Math.ceil(value / align) * align;

/** File ranges that sections and the section header table hold (a stripped file may have none). */
function sectionRanges(layout: ElfLayout): Array<[start: number, end: number]> {
  const ranges = layout.sections.filter((section) => section.type !== SHT_NOBITS && section.size > 0).map((section): [number, number] => [section.offset, section.offset + section.size]);
  return layout.sectionTable ? [...ranges, layout.sectionTable] : ranges;
}

const overlaps = (a: readonly [number, number], b: readonly [number, number]) => a[0] < b[1] && b[0] < a[1];

/**
 * Where `size` bytes of notes can go: right after a loadable segment that has no .bss (so its file
 * and memory sizes can grow together), in zeros no section and no other segment uses, in the file
 * and in memory.
 */
function findRoom(elf: Buffer, layout: ElfLayout, size: number): { load: Segment; at: number } | undefined {
  const loads = layout.segments.filter((segment) => segment.type === PT_LOAD);
  const sections = sectionRanges(layout);
  for (const load of loads.filter((header) => header.filesz === header.memsz)) {
    const at = alignUp(load.offset + load.filesz, NOTE_ALIGN);
    const inFile: [number, number] = [load.offset + load.filesz, at + size];
    const inMemory: [number, number] = [load.vaddr + load.memsz, load.vaddr + (at + size - load.offset)];
    const others = loads.filter((other) => other !== load);
    if (inFile[1] > elf.length) continue;
    if (others.some((other) => overlaps(inFile, [other.offset, other.offset + other.filesz]))) continue;
    if (others.some((other) => overlaps(inMemory, [other.vaddr, other.vaddr + other.memsz]))) continue;
    if (sections.some((section) => overlaps(inFile, section))) continue;
    if (elf.subarray(inFile[0], inFile[1]).some((byte) => byte !== 0)) continue;
    return { load, at };
  }
  return undefined;
}

/**
 * Turns the Node runtime in `elf` into a single executable application running `blob` (what
 * `node --experimental-sea-config` wrote), in place. `name` is the file, for error messages.
 */
export function injectSeaBlob(elf: Buffer, blob: Buffer, name: string): Buffer {
  if (!isElf64le(elf.subarray(0, ELF64_HEADER_SIZE))) throw new Error(`${name} is not a 64-bit little-endian ELF file`);
  const fuseAt = elf.indexOf(`${SEA_FUSE}:`, 0, 'latin1');
  if (fuseAt < 0) throw new Error(`${name} has no SEA fuse (${SEA_FUSE}): not a Node runtime that can run a single executable application`);
  if (elf.indexOf(`${SEA_FUSE}:`, fuseAt + 1, 'latin1') >= 0) throw new Error(`${name} holds the SEA fuse string more than once: which one Node reads is unknown`);
  const fuseState = fuseAt + SEA_FUSE.length + 1;
  if (elf[fuseState] !== 0x30) throw new Error(`${name} already is a single executable application (its SEA fuse is set)`);

  const layout = elfLayout(elf, name);
  const note = layout.segments.find((segment) => segment.type === PT_NOTE && segment.align <= NOTE_ALIGN);
  if (!note) throw new Error(`${name} has no 4-aligned PT_NOTE program header to point at the blob`);
  const notes = Buffer.concat([elf.subarray(note.offset, note.offset + note.filesz), encodeNote(SEA_NOTE_NAME, 0, blob)]);
  const room = findRoom(elf, layout, notes.length);
  if (!room) throw new Error(`${name} has no ${notes.length}-byte run of padding after a loadable segment to hold the blob`);

  notes.copy(elf, room.at);
  const loadSize = BigInt(room.at + notes.length - room.load.offset);
  elf.writeBigUInt64LE(loadSize, room.load.at + 32);
  elf.writeBigUInt64LE(loadSize, room.load.at + 40);
  const noteAddress = BigInt(room.load.vaddr + (room.at - room.load.offset));
  elf.writeBigUInt64LE(BigInt(room.at), note.at + 8);
  elf.writeBigUInt64LE(noteAddress, note.at + 16);
  elf.writeBigUInt64LE(noteAddress, note.at + 24);
  elf.writeBigUInt64LE(BigInt(notes.length), note.at + 32);
  elf.writeBigUInt64LE(BigInt(notes.length), note.at + 40);
  elf[fuseState] = 0x31;
  return elf;
}
