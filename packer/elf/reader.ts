// A minimal ELF64 little-endian reader: just enough to find what a binary needs at run time
// (PT_INTERP, the dynamic section) and to read one section by name (a kernel module's .modinfo).
import { fstatSync, readSync } from 'node:fs';
import { PHDR_SIZE } from './notes.ts';

export type ElfInfo = {
  class: 64;
  machine: number;
  type: number;
  interp?: string;
  needed: string[];
  soname?: string;
  runpath: string[];
  rpath: string[];
};

const PT = { LOAD: 1, DYNAMIC: 2, INTERP: 3 } as const;
const DT = { NULL: 0, NEEDED: 1, STRTAB: 5, SONAME: 14, RPATH: 15, RUNPATH: 29 } as const;
const SHT_NOBITS = 8;
// Section counts past 0xff00 live in section header 0 (the ELF "extended numbering" escape).
const SHN_XINDEX = 0xffff;

const EI_NIDENT = 16;
const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const DYN_SIZE = 16;

/** A program header. */
type Segment = { type: number; offset: number; vaddr: number; filesz: number };
type Section = { nameOffset: number; type: number; offset: number; size: number; link: number };

/**
 * Where the bytes come from: a Buffer, or a file read piece by piece, so that the headers of a
 * 100 MB binary cost a few small reads instead of reading it all.
 */
export interface ByteSource {
  readonly length: number;
  /** The bytes at [offset, offset + length), which the caller has checked lie inside the source. */
  read(offset: number, length: number): Buffer;
}

function bufferSource(bytes: Buffer): ByteSource {
  return { length: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

/** A file as a ByteSource, read with pread; the caller closes `fd`. */
export function fileSource(fd: number): ByteSource {
  return {
    length: fstatSync(fd).size,
    read(offset, length) {
      const buffer = Buffer.alloc(length);
      let done = 0;
      while (done < length) {
        const count = readSync(fd, buffer, done, length - done, offset + done);
        if (count === 0) break;
        done += count;
      }
      return buffer;
    },
  };
}

/** Strings in ELF tables are short: read them a piece at a time until the NUL. */
const STRING_CHUNK = 256;

class Reader {
  readonly source: ByteSource;
  readonly name: string;

  constructor(source: ByteSource, name: string) {
    this.source = source;
    this.name = name;
  }

  fail(message: string): never {
    throw new Error(`${this.name}: ${message}`);
  }

  need(offset: number, length: number, what: string): void {
    if (offset < 0 || length < 0 || offset + length > this.source.length) {
      this.fail(`truncated ELF: ${what} at offset ${offset} (+${length} bytes) is past the end of the file (${this.source.length} bytes)`);
    }
  }

  bytes(offset: number, length: number, what: string): Buffer {
    this.need(offset, length, what);
    return this.source.read(offset, length);
  }

  u16(offset: number, what: string): number {
    return this.bytes(offset, 2, what).readUInt16LE(0);
  }

  u32(offset: number, what: string): number {
    return this.bytes(offset, 4, what).readUInt32LE(0);
  }

  i64(offset: number, what: string): bigint {
    return this.bytes(offset, 8, what).readBigInt64LE(0);
  }

  u64(offset: number, what: string): number {
    const value = this.bytes(offset, 8, what).readBigUInt64LE(0);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} value ${value} is out of range`);
    return Number(value);
  }

  cstring(offset: number, what: string): string {
    this.need(offset, 1, what);
    const pieces: Buffer[] = [];
    for (let at = offset; at < this.source.length; at += STRING_CHUNK) {
      const piece = this.source.read(at, Math.min(STRING_CHUNK, this.source.length - at));
      const end = piece.indexOf(0);
      if (end >= 0) return Buffer.concat([...pieces, piece.subarray(0, end)]).toString('utf8');
      pieces.push(piece);
    }
    return this.fail(`${what} at offset ${offset} is not NUL-terminated`);
  }
}

function header(r: Reader) {
  const b = r.source.read(0, Math.min(EI_NIDENT, r.source.length));
  if (b.length < 4 || b[0] !== 0x7f || b[1] !== 0x45 || b[2] !== 0x4c || b[3] !== 0x46) {
    r.fail('not an ELF file (no \\x7fELF magic)');
  }
  r.need(0, EI_NIDENT, 'ELF identification');
  if (b[4] === 1) r.fail('32-bit ELF (ELFCLASS32) is not supported, only ELF64 little-endian');
  if (b[4] !== 2) r.fail(`unsupported ELF class ${b[4]}, only ELF64 little-endian`);
  if (b[5] !== 1) r.fail(`unsupported ELF data encoding ${b[5]} (big-endian or invalid), only ELF64 little-endian`);
  r.need(0, EHDR_SIZE, 'ELF header');
  return {
    type: r.u16(16, 'e_type'),
    machine: r.u16(18, 'e_machine'),
    phoff: r.u64(32, 'e_phoff'),
    shoff: r.u64(40, 'e_shoff'),
    phnum: r.u16(56, 'e_phnum'),
    shnum: r.u16(60, 'e_shnum'),
    shstrndx: r.u16(62, 'e_shstrndx'),
  };
}

function segments(r: Reader, phoff: number, phnum: number): Segment[] {
  return Array.from({ length: phnum }, (_, i) => {
    const at = phoff + i * PHDR_SIZE;
    r.need(at, PHDR_SIZE, `program header ${i}`);
    return {
      type: r.u32(at, 'p_type'),
      offset: r.u64(at + 8, 'p_offset'),
      vaddr: r.u64(at + 16, 'p_vaddr'),
      filesz: r.u64(at + 32, 'p_filesz'),
    };
  });
}

// Dynamic entries hold virtual addresses; the file offset comes from the PT_LOAD that maps them.
function fileOffset(r: Reader, loads: Segment[], vaddr: number): number {
  const load = loads.find((s) => vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz);
  if (!load) r.fail(`address 0x${vaddr.toString(16)} is not inside any PT_LOAD segment`);
  return load.offset + (vaddr - load.vaddr);
}

function dynamic(r: Reader, segs: Segment[]): Pick<ElfInfo, 'needed' | 'soname' | 'runpath' | 'rpath'> {
  const result: Pick<ElfInfo, 'needed' | 'soname' | 'runpath' | 'rpath'> = { needed: [], runpath: [], rpath: [] };
  const dyn = segs.find((s) => s.type === PT.DYNAMIC);
  if (!dyn) return result;
  const entries: Array<{ tag: number; value: number }> = [];
  for (let at = dyn.offset; at + DYN_SIZE <= dyn.offset + dyn.filesz; at += DYN_SIZE) {
    r.need(at, DYN_SIZE, 'dynamic entry');
    // Number() only blurs huge OS/processor-specific tags, none of which are compared below.
    const tag = Number(r.i64(at, 'd_tag'));
    if (tag === DT.NULL) break;
    entries.push({ tag, value: r.u64(at + 8, 'd_val') });
  }
  const strtab = entries.find((e) => e.tag === DT.STRTAB);
  const strings = entries.filter((e) => e.tag === DT.NEEDED || e.tag === DT.SONAME || e.tag === DT.RPATH || e.tag === DT.RUNPATH);
  if (strings.length === 0) return result;
  if (!strtab) r.fail('dynamic section has string entries but no DT_STRTAB');
  const base = fileOffset(r, segs.filter((s) => s.type === PT.LOAD), strtab.value);
  const pathList = (s: string) => s.split(':').filter((p) => p !== '');
  for (const e of strings) {
    const text = r.cstring(base + e.value, 'dynamic string');
    if (e.tag === DT.NEEDED) result.needed.push(text);
    else if (e.tag === DT.SONAME) result.soname = text;
    else if (e.tag === DT.RUNPATH) result.runpath.push(...pathList(text));
    else result.rpath.push(...pathList(text));
  }
  return result;
}

/** Reads the run-time needs of an ELF64 little-endian file; `name` labels errors. */
export function parseElf(bytes: Buffer | ByteSource, name: string): ElfInfo {
  const r = new Reader(Buffer.isBuffer(bytes) ? bufferSource(bytes) : bytes, name);
  const h = header(r);
  const segs = segments(r, h.phoff, h.phnum);
  const interpSeg = segs.find((s) => s.type === PT.INTERP);
  const info: ElfInfo = { class: 64, machine: h.machine, type: h.type, ...dynamic(r, segs) };
  if (interpSeg) {
    r.need(interpSeg.offset, interpSeg.filesz, 'PT_INTERP');
    info.interp = r.cstring(interpSeg.offset, 'PT_INTERP');
  }
  return info;
}

function sectionHeader(r: Reader, shoff: number, index: number): Section {
  const at = shoff + index * SHDR_SIZE;
  r.need(at, SHDR_SIZE, `section header ${index}`);
  return {
    nameOffset: r.u32(at, 'sh_name'),
    type: r.u32(at + 4, 'sh_type'),
    offset: r.u64(at + 24, 'sh_offset'),
    size: r.u64(at + 32, 'sh_size'),
    link: r.u32(at + 40, 'sh_link'),
  };
}

/** Section header 0 and the number of section headers: with more than 0xff00 sections, header 0 holds the count. */
function sectionTable(r: Reader, h: ReturnType<typeof header>): { first: Section; count: number } | undefined {
  if (h.shoff === 0) return undefined;
  const first = sectionHeader(r, h.shoff, 0);
  return { first, count: h.shnum === 0 ? first.size : h.shnum };
}

/** The bytes of the section called `sectionName` (e.g. a kernel module's `.modinfo`), or undefined. */
export function sectionData(bytes: Buffer, name: string, sectionName: string): Buffer | undefined {
  const r = new Reader(bufferSource(bytes), name);
  const h = header(r);
  const table = sectionTable(r, h);
  if (!table) return undefined;
  const { first, count } = table;
  const strndx = h.shstrndx === SHN_XINDEX ? first.link : h.shstrndx;
  if (strndx >= count) r.fail(`section name table index ${strndx} is out of range (${count} sections)`);
  const names = sectionHeader(r, h.shoff, strndx);
  for (let i = 0; i < count; i++) {
    const s = sectionHeader(r, h.shoff, i);
    if (s.nameOffset >= names.size) continue;
    if (r.cstring(names.offset + s.nameOffset, 'section name') !== sectionName) continue;
    if (s.type === SHT_NOBITS) return Buffer.alloc(0);
    return r.bytes(s.offset, s.size, `section ${sectionName}`);
  }
  return undefined;
}
