/**
 * ELF notes, found the way loaders find them: through PT_NOTE program headers (section headers may
 * be stripped). Pure functions over the pieces of a file, so a caller can read only the headers and
 * the note segments of a 100 MB binary instead of the whole file.
 */

export const ELF64_HEADER_SIZE = 64;
/** One ELF64 program header table entry. */
export const PHDR_SIZE = 56;
const PT_NOTE = 4;

export interface NoteSegment {
  offset: number;
  size: number;
  /** Notes are 4-aligned except in segments that declare 8 (e.g. .note.gnu.property). */
  align: 4 | 8;
}

export interface ElfNote {
  name: string;
  type: number;
}

export function isElf64le(header: Buffer): boolean {
  return header.length >= ELF64_HEADER_SIZE && header.readUInt32BE(0) === 0x7f454c46 && header[4] === 2 && header[5] === 1;
}

/** Where the program header table is, from the ELF header. */
export function programHeaderTable(header: Buffer): { offset: number; size: number } {
  return { offset: Number(header.readBigUInt64LE(32)), size: header.readUInt16LE(56) * PHDR_SIZE };
}

/** The PT_NOTE segments listed in a program header table. */
export function noteSegments(programHeaders: Buffer): NoteSegment[] {
  const segments: NoteSegment[] = [];
  for (let at = 0; at + PHDR_SIZE <= programHeaders.length; at += PHDR_SIZE) {
    if (programHeaders.readUInt32LE(at) !== PT_NOTE) continue;
    segments.push({
      offset: Number(programHeaders.readBigUInt64LE(at + 8)),
      size: Number(programHeaders.readBigUInt64LE(at + 32)),
      align: Number(programHeaders.readBigUInt64LE(at + 48)) === 8 ? 8 : 4,
    });
  }
  return segments;
}

/** The notes in one segment's bytes; a truncated last note is dropped. */
export function parseNotes(segment: Buffer, align: 4 | 8): ElfNote[] {
  const aligned = (offset: number) => Math.ceil(offset / align) * align;
  const notes: ElfNote[] = [];
  for (let at = 0; at + 12 <= segment.length; ) {
    const nameSize = segment.readUInt32LE(at);
    const descSize = segment.readUInt32LE(at + 4);
    if (at + 12 + nameSize > segment.length) break;
    notes.push({ name: segment.toString('latin1', at + 12, at + 12 + nameSize).replace(/\0+$/, ''), type: segment.readUInt32LE(at + 8) });
    at = aligned(aligned(at + 12 + nameSize) + descSize);
  }
  return notes;
}

/** Every note of an ELF64 file held in memory. */
export function elfNotes(elf: Buffer): ElfNote[] {
  if (!isElf64le(elf)) return [];
  const table = programHeaderTable(elf);
  return noteSegments(elf.subarray(table.offset, table.offset + table.size)).flatMap((segment) =>
    parseNotes(elf.subarray(segment.offset, segment.offset + segment.size), segment.align),
  );
}
