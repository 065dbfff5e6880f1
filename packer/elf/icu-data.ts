/**
 * Takes the ICU data out of a Node runtime's ELF file. Node's official builds link all of ICU's data
 * (locales, time zones, collation, charset converters) into the binary as one symbol, `icudtNN_dat`:
 * 33 MB of a 117 MB runtime. The guest kernel unpacks every byte of the initramfs before /init
 * starts, and under TCG those bytes cost ~0.2 s per boot; the init uses none of that data (it never
 * formats for a locale, compares by locale or converts charsets).
 *
 * The program header that maps the data is split in two around it and the file closes over the gap:
 * those addresses stay unmapped. The data's first bytes stay mapped but zeroed, so ICU reads a header
 * with no magic number, rejects the data without reading further, and looks for a data file instead,
 * which the initramfs does not have: what needs the data throws "Icu error" (Intl, toLocaleString,
 * localeCompare), while what ICU carries in its code keeps working (case mapping, normalization,
 * Unicode properties in regular expressions, IDNA in URLs).
 */
import { isElf64le, PHDR_SIZE, programHeaderTable } from './notes.ts';

const PAGE = 0x1000;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const PT_LOAD = 1;
const PT_PHDR = 6;
const SHT_DYNSYM = 11;
const SHT_NOBITS = 8;
/** ICU's data header (its size, the magic number, the data format's info) fits in these bytes. */
const ICU_HEADER_BYTES = 64;
const ICU_SYMBOL = /^icudt\d+_dat$/;

interface ProgramHeader {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  paddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

interface SectionHeader {
  at: number;
  type: number;
  offset: number;
  size: number;
  link: number;
}

export interface IcuDataCut {
  /** The runtime without its ICU data. */
  bytes: Buffer;
  /** The data's symbol, e.g. `icudt78_dat`. */
  symbol: string;
  /** How much shorter the file is. */
  removedBytes: number;
}

const u64 = (bytes: Buffer, at: number) => Number(bytes.readBigUInt64LE(at));
const pageDown = (value: number) => value - (value % PAGE);
const pageUp = (value: number) => pageDown(value + PAGE - 1);

function readProgramHeader(bytes: Buffer, at: number): ProgramHeader {
  return {
    type: bytes.readUInt32LE(at),
    flags: bytes.readUInt32LE(at + 4),
    offset: u64(bytes, at + 8),
    vaddr: u64(bytes, at + 16),
    paddr: u64(bytes, at + 24),
    filesz: u64(bytes, at + 32),
    memsz: u64(bytes, at + 40),
    align: u64(bytes, at + 48),
  };
}

function writeProgramHeader(bytes: Buffer, at: number, header: ProgramHeader): void {
  bytes.writeUInt32LE(header.type, at);
  bytes.writeUInt32LE(header.flags, at + 4);
  [header.offset, header.vaddr, header.paddr, header.filesz, header.memsz, header.align].forEach((value, i) => bytes.writeBigUInt64LE(BigInt(value), at + 8 + i * 8));
}

function sectionHeaders(bytes: Buffer): SectionHeader[] {
  const shoff = u64(bytes, 40);
  const count = bytes.readUInt16LE(60);
  return Array.from({ length: count }, (_, i) => {
    const at = shoff + i * SHDR_SIZE;
    return { at, type: bytes.readUInt32LE(at + 4), offset: u64(bytes, at + 24), size: u64(bytes, at + 32), link: bytes.readUInt32LE(at + 40) };
  });
}

/** The ICU data symbol's name, address and size, from the dynamic symbol table (Node exports it). */
function findIcuSymbol(bytes: Buffer, sections: SectionHeader[], name: string): { symbol: string; vaddr: number; size: number } {
  const dynsym = sections.find((section) => section.type === SHT_DYNSYM);
  const strings = dynsym && sections[dynsym.link];
  if (!dynsym || !strings) throw new Error(`${name}: no dynamic symbol table, so no ICU data symbol to find`);
  for (let at = dynsym.offset; at + SYM_SIZE <= dynsym.offset + dynsym.size; at += SYM_SIZE) {
    const nameStart = strings.offset + bytes.readUInt32LE(at);
    const symbol = bytes.toString('latin1', nameStart, bytes.indexOf(0, nameStart));
    if (ICU_SYMBOL.test(symbol)) return { symbol, vaddr: u64(bytes, at + 8), size: u64(bytes, at + 16) };
  }
  throw new Error(`${name}: no icudtNN_dat symbol: this runtime has no ICU data built in`);
}

/** `elf` without the ICU data built into it; `name` labels errors. */
export function dropIcuData(elf: Buffer, name: string): IcuDataCut {
  if (!isElf64le(elf)) throw new Error(`${name}: not an ELF64 little-endian file`);
  const table = programHeaderTable(elf);
  const count = table.size / PHDR_SIZE;
  const headers = Array.from({ length: count }, (_, i) => readProgramHeader(elf, table.offset + i * PHDR_SIZE));
  const sections = sectionHeaders(elf);
  const icu = findIcuSymbol(elf, sections, name);

  const split = headers.findIndex((h) => h.type === PT_LOAD && h.vaddr <= icu.vaddr && icu.vaddr + icu.size <= h.vaddr + h.filesz);
  const load = headers[split];
  if (!load) throw new Error(`${name}: ${icu.symbol} is not inside one PT_LOAD segment (dropped already?)`);
  const gapStart = pageUp(icu.vaddr + ICU_HEADER_BYTES);
  const gapEnd = pageDown(icu.vaddr + icu.size);
  if (gapEnd <= gapStart) throw new Error(`${name}: ${icu.symbol} is only ${icu.size} bytes: nothing to drop`);
  const removed = gapEnd - gapStart;
  const fileOffset = (vaddr: number) => load.offset + (vaddr - load.vaddr);
  const cutFrom = fileOffset(gapStart);
  const cutTo = fileOffset(gapEnd);
  const shifted = (offset: number) => (offset >= cutTo ? offset - removed : offset);

  const rewritten: ProgramHeader[] = headers.flatMap((h, i) => {
    if (i === split) {
      return [
        { ...h, filesz: gapStart - h.vaddr, memsz: gapStart - h.vaddr },
        { ...h, offset: cutFrom, vaddr: gapEnd, paddr: h.paddr + (gapEnd - h.vaddr), filesz: h.vaddr + h.filesz - gapEnd, memsz: h.vaddr + h.memsz - gapEnd },
      ];
    }
    if (h.filesz > 0 && h.offset < cutTo && h.offset + h.filesz > cutFrom) throw new Error(`${name}: program header ${i} (type ${h.type}) overlaps ${icu.symbol}`);
    return [{ ...h, offset: shifted(h.offset) }];
  });
  const tableSize = rewritten.length * PHDR_SIZE;
  for (const h of rewritten) if (h.type === PT_PHDR) h.filesz = h.memsz = tableSize;

  // One more program header: the table must have zeroed room after it inside the segment that maps it.
  const tableLoad = headers.find((h) => h.type === PT_LOAD && h.offset <= table.offset && table.offset + tableSize <= h.offset + h.filesz);
  const room = elf.subarray(table.offset + table.size, table.offset + tableSize);
  if (!tableLoad || room.length !== PHDR_SIZE || room.some((byte) => byte !== 0)) {
    throw new Error(`${name}: no room after the program header table (offset ${table.offset}) for one more entry`);
  }
  for (const [what, offset] of [['program header table', table.offset], ['section header table', u64(elf, 40)]] as const) {
    if (offset >= cutFrom && offset < cutTo) throw new Error(`${name}: the ${what} lies inside ${icu.symbol}`);
  }

  const bytes = Buffer.concat([elf.subarray(0, cutFrom), elf.subarray(cutTo)]);
  // What is left of the data on its first and last pages: zero, so that no ICU header is found.
  bytes.fill(0, fileOffset(icu.vaddr), cutFrom);
  bytes.fill(0, cutFrom, fileOffset(icu.vaddr + icu.size) - removed);

  const phoff = shifted(table.offset);
  rewritten.forEach((h, i) => writeProgramHeader(bytes, phoff + i * PHDR_SIZE, h));
  bytes.writeBigUInt64LE(BigInt(phoff), 32);
  bytes.writeUInt16LE(rewritten.length, 56);

  const shoff = shifted(u64(elf, 40));
  for (const [i, section] of sections.entries()) {
    const at = shifted(section.at);
    const holdsBytes = section.type !== SHT_NOBITS && section.size > 0;
    if (section.offset >= cutTo) bytes.writeBigUInt64LE(BigInt(section.offset - removed), at + 24);
    else if (section.offset >= cutFrom) {
      if (holdsBytes) throw new Error(`${name}: section ${i} lies inside ${icu.symbol}`);
      bytes.writeBigUInt64LE(BigInt(cutFrom), at + 24);
    }
    // The section that held the data (.rodata) now ends where the gap starts; what followed the gap
    // in it is still mapped, by the second half of the split program header.
    else if (holdsBytes && section.offset + section.size > cutFrom) bytes.writeBigUInt64LE(BigInt(cutFrom - section.offset), at + 32);
  }
  bytes.writeBigUInt64LE(BigInt(shoff), 40);
  return { bytes, symbol: icu.symbol, removedBytes: removed };
}
