// SVR4 "newc" writer: the format the kernel unpacks into the initramfs (init/initramfs.c). A pure
// function of the records, so the same records always give the same bytes.

import { normalizeRecords } from './records.ts'
import type { CpioRecord, NormalizedRecord } from './records.ts'

const magic = '070701'
const headerLength = 110
const trailerName = 'TRAILER!!!'

// Header fields in on-disk order, each eight uppercase hex digits.
const fieldNames = [
  'ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'filesize',
  'devmajor', 'devminor', 'rdevmajor', 'rdevminor', 'namesize', 'check',
] as const
type Header = Record<(typeof fieldNames)[number], number>

const typeBits = {
  dir: 0o040000,
  file: 0o100000,
  hardlink: 0o100000,
  symlink: 0o120000,
  char: 0o020000,
  block: 0o060000,
} as const

const trailer = {
  ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, filesize: 0,
  devmajor: 0, devminor: 0, rdevmajor: 0, rdevminor: 0,
} as const

const zeros = Buffer.alloc(3)
const empty = new Uint8Array(0)
const padding = (length: number): number => (4 - (length % 4)) % 4

function hex8(value: number, field: string, path: string): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new Error(`newc field ${field} of "${path}" is ${value}: not a 32-bit unsigned integer`)
  }
  return value.toString(16).toUpperCase().padStart(8, '0')
}

function headerBytes(header: Omit<Header, 'namesize' | 'check'>, path: string): Buffer {
  const name = Buffer.from(`${path}\0`)
  const full: Header = { ...header, namesize: name.length, check: 0 }
  const out = Buffer.alloc(headerLength + name.length + padding(headerLength + name.length))
  out.write(magic + fieldNames.map((field) => hex8(full[field], field, path)).join(''), 'latin1')
  name.copy(out, headerLength)
  return out
}

function typeOf(record: CpioRecord): keyof typeof typeBits {
  return record.kind === 'device' ? record.type : record.kind
}

// One inode per record, except that a hard link joins its target's inode.
const inodeKey = (record: CpioRecord): string => (record.kind === 'hardlink' ? record.target : record.path)

function parentOf(path: string): string {
  return path.slice(0, Math.max(0, path.lastIndexOf('/')))
}

// Directory link counts follow the filesystem convention (".", the entry in the parent, and each
// subdirectory's ".."), which is what GNU cpio copies from stat and so what the golden archives hold.
function linkCounts(records: readonly NormalizedRecord[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const record of records) {
    counts.set(record.path, record.kind === 'dir' ? 2 : 1)
  }
  for (const record of records) {
    if (record.kind === 'dir' && record.path.includes('/')) {
      const parent = parentOf(record.path)
      counts.set(parent, (counts.get(parent) as number) + 1)
    }
    if (record.kind === 'hardlink') {
      counts.set(record.target, (counts.get(record.target) as number) + 1)
    }
  }
  return counts
}

/**
 * Encodes the records as a newc archive ending in the TRAILER!!! record, laid out as GNU cpio lays
 * it out: inodes numbered 1, 2, 3… in path order (a hard link takes its target's number); the names of
 * a multiply-linked file are held back and written together just before the last of them, which alone
 * carries the data (the kernel links the earlier names and then writes that data through the last).
 * No padding to 512 bytes: the kernel does not need it.
 */
export function encodeNewc(records: readonly CpioRecord[], options: { mtime?: number } = {}): Buffer {
  const normalized = normalizeRecords(records, options)
  const byPath = new Map(normalized.map((record) => [record.path, record]))
  const nlinks = linkCounts(normalized)

  const lastName = new Map<string, string>()
  for (const record of normalized) lastName.set(inodeKey(record), record.path)

  const inodes = new Map<string, number>()
  const heldBack = new Map<string, NormalizedRecord[]>()
  const chunks: Uint8Array[] = []
  const emit = (record: NormalizedRecord, data: Uint8Array): void => {
    const key = inodeKey(record)
    const isDevice = record.kind === 'device'
    const header = {
      ino: inodes.get(key) as number,
      mode: typeBits[typeOf(record)] | record.mode,
      uid: record.uid,
      gid: record.gid,
      nlink: nlinks.get(key) as number,
      mtime: record.mtime,
      filesize: data.length,
      devmajor: 0,
      devminor: 0,
      rdevmajor: isDevice ? record.major : 0,
      rdevminor: isDevice ? record.minor : 0,
    }
    chunks.push(headerBytes(header, record.path))
    if (data.length > 0) chunks.push(data, zeros.subarray(0, padding(data.length)))
  }

  for (const record of normalized) {
    const key = inodeKey(record)
    if (!inodes.has(key)) inodes.set(key, inodes.size + 1)
    const earlier = heldBack.get(key) ?? []
    if (lastName.get(key) !== record.path) {
      heldBack.set(key, [...earlier, record])
      continue
    }
    for (const name of earlier) emit(name, empty)
    emit(record, contentOf(byPath.get(key) as NormalizedRecord))
  }
  chunks.push(headerBytes(trailer, trailerName))
  return Buffer.concat(chunks)
}

function contentOf(record: NormalizedRecord): Uint8Array {
  switch (record.kind) {
    case 'file':
      return record.data
    case 'symlink':
      return Buffer.from(record.target)
    default:
      return empty
  }
}
