// The archive as data: a list of records that normalizeRecords turns into the exact, canonical list
// the newc writer emits. All checks live here so the writer can assume a well-formed tree.

export interface RecordMeta {
  /** Permission bits only (e.g. 0o755); the file type comes from `kind`. */
  mode?: number
  uid?: number
  gid?: number
  mtime?: number
}

export type CpioRecord =
  | ({ kind: 'dir'; path: string } & RecordMeta)
  | ({ kind: 'file'; path: string; data: Uint8Array } & RecordMeta)
  | ({ kind: 'symlink'; path: string; target: string } & RecordMeta)
  /** `target` is the path of a 'file' record in the same archive. */
  | ({ kind: 'hardlink'; path: string; target: string } & RecordMeta)
  | ({ kind: 'device'; path: string; type: 'char' | 'block'; major: number; minor: number } & RecordMeta)

type HardlinkRecord = Extract<CpioRecord, { kind: 'hardlink' }>

export type NormalizedRecord = CpioRecord & Required<RecordMeta>

export const defaultModes = {
  dir: 0o755,
  file: 0o644,
  symlink: 0o777,
  // Never used as such: a hard link takes its target's mode (linkMeta).
  hardlink: 0o644,
  device: 0o600,
} as const satisfies Record<CpioRecord['kind'], number>

const metaKeys = ['mode', 'uid', 'gid', 'mtime'] as const

function checkPath(path: string): void {
  if (path === '') throw new Error('cpio record path is empty')
  if (path.startsWith('/')) {
    throw new Error(`cpio record path "${path}" is absolute: paths are relative to the archive root`)
  }
  // newc names are NUL-terminated, so a NUL would silently cut the name short.
  if (path.includes('\0')) throw new Error(`cpio record path ${JSON.stringify(path)} contains a NUL byte`)
  for (const part of path.split('/')) {
    if (part === '') throw new Error(`cpio record path "${path}" has an empty component`)
    if (part === '.' || part === '..') {
      throw new Error(`cpio record path "${path}" has a "${part}" component`)
    }
  }
}

function checkMode(record: CpioRecord): void {
  const mode = record.mode
  if (mode !== undefined && (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)) {
    throw new Error(
      `cpio record "${record.path}" has mode 0o${mode.toString(8)}: only permission bits (0o7777) are allowed, the type comes from kind "${record.kind}"`,
    )
  }
}

function parentsOf(path: string): string[] {
  const parts = path.split('/')
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'))
}

function withMeta(record: CpioRecord, epoch: number): NormalizedRecord {
  return {
    ...record,
    mode: record.mode ?? defaultModes[record.kind],
    uid: record.uid ?? 0,
    gid: record.gid ?? 0,
    mtime: Math.min(record.mtime ?? epoch, epoch),
  }
}

const show = (key: (typeof metaKeys)[number], value: number): string =>
  key === 'mode' ? `0o${value.toString(8)}` : String(value)

// A hard link is a second name for the target's inode, so it cannot carry metadata of its own:
// take the target's, and refuse an explicit value that disagrees rather than drop it silently.
function linkMeta(link: HardlinkRecord, target: NormalizedRecord, epoch: number): NormalizedRecord {
  const clamped = { ...link, mtime: link.mtime === undefined ? undefined : Math.min(link.mtime, epoch) }
  for (const key of metaKeys) {
    const value = clamped[key]
    if (value !== undefined && value !== target[key]) {
      throw new Error(
        `hardlink "${link.path}" sets ${key} ${show(key, value)} but its target "${target.path}" has ${show(key, target[key])}: a hard link shares its target's inode`,
      )
    }
  }
  return { ...link, mode: target.mode, uid: target.uid, gid: target.gid, mtime: target.mtime }
}

/**
 * Validates the records and returns the canonical archive: missing parent directories added,
 * defaults filled in, every mtime clamped to `mtime` (default 0), sorted by path bytes (which puts
 * every parent before its children, since a parent's path is a prefix of the child's).
 */
export function normalizeRecords(records: readonly CpioRecord[], options: { mtime?: number } = {}): NormalizedRecord[] {
  const epoch = options.mtime ?? 0
  const byPath = new Map<string, NormalizedRecord>()
  const links: HardlinkRecord[] = []
  for (const record of records) {
    checkPath(record.path)
    checkMode(record)
    if (byPath.has(record.path)) throw new Error(`duplicate cpio record path "${record.path}"`)
    if (record.kind === 'symlink' && record.target === '') {
      throw new Error(`symlink "${record.path}" has an empty target`)
    }
    byPath.set(record.path, withMeta(record, epoch))
    if (record.kind === 'hardlink') links.push(record)
  }

  for (const path of [...byPath.keys()]) {
    for (const parent of parentsOf(path)) {
      const existing = byPath.get(parent)
      if (existing === undefined) {
        byPath.set(parent, withMeta({ kind: 'dir', path: parent }, epoch))
      } else if (existing.kind !== 'dir') {
        throw new Error(`cpio record "${path}" needs "${parent}" to be a directory, but it is a ${existing.kind}`)
      }
    }
  }

  for (const link of links) {
    const target = byPath.get(link.target)
    if (target === undefined) {
      throw new Error(`hardlink "${link.path}" targets "${link.target}", which is not in the archive`)
    }
    if (target.kind !== 'file') {
      throw new Error(`hardlink "${link.path}" targets "${link.target}", which is a ${target.kind}, not a file`)
    }
    byPath.set(link.path, linkMeta(link, target, epoch))
  }

  const keyed = [...byPath.values()].map((record) => ({ record, key: Buffer.from(record.path) }))
  keyed.sort((a, b) => Buffer.compare(a.key, b.key))
  return keyed.map(({ record }) => record)
}
