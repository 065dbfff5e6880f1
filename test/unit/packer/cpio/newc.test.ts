import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeNewc } from '../../../../packer/cpio/newc.ts'
import type { CpioRecord } from '../../../../packer/cpio/records.ts'

const golden = readFileSync(new URL('../../../golden/cpio/tree.cpio', import.meta.url))

// The tree that test/golden/cpio/tree.cpio.cmd builds on disk, as records.
const goldenTree: CpioRecord[] = [
  { kind: 'dir', path: 'dir' },
  { kind: 'file', path: 'dir/five', data: Buffer.from('hello') },
  { kind: 'hardlink', path: 'dir/hl-b', target: 'hl-a' },
  { kind: 'file', path: 'empty', data: Buffer.alloc(0) },
  { kind: 'file', path: 'hl-a', data: Buffer.from('linked\n') },
  { kind: 'symlink', path: 'link', target: 'dir/five' },
  { kind: 'file', path: 'three', data: Buffer.from('abc') },
]

const fieldNames = [
  'ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'filesize',
  'devmajor', 'devminor', 'rdevmajor', 'rdevminor', 'namesize', 'check',
] as const
type Entry = { name: string; data: string } & Record<(typeof fieldNames)[number], number>

// An independent reader, strict about alignment, so a padding mistake fails here rather than in a boot.
function parseNewc(archive: Buffer): Entry[] {
  const entries: Entry[] = []
  let offset = 0
  while (offset < archive.length) {
    assert.equal(offset % 4, 0, `entry at ${offset} is not 4-byte aligned`)
    assert.equal(archive.toString('latin1', offset, offset + 6), '070701', `magic at ${offset}`)
    const fields = Object.fromEntries(
      fieldNames.map((field, i) => [field, parseInt(archive.toString('latin1', offset + 6 + 8 * i, offset + 14 + 8 * i), 16)]),
    ) as Record<(typeof fieldNames)[number], number>
    const nameEnd = offset + 110 + fields.namesize
    assert.equal(archive[nameEnd - 1], 0, 'name is NUL-terminated')
    const name = archive.toString('utf8', offset + 110, nameEnd - 1)
    const dataStart = nameEnd + ((4 - (nameEnd % 4)) % 4)
    const dataEnd = dataStart + fields.filesize
    entries.push({ name, data: archive.toString('latin1', dataStart, dataEnd), ...fields })
    offset = dataEnd + ((4 - (dataEnd % 4)) % 4)
  }
  assert.equal(offset, archive.length, 'archive ends right after the last padded entry')
  return entries
}

function run(argv: string[], options: { input?: Buffer; cwd?: string } = {}): string {
  const result = spawnSync(argv[0] as string, argv.slice(1), { input: options.input, cwd: options.cwd })
  assert.equal(result.error, undefined, `${argv.join(' ')}: ${result.error}`)
  assert.equal(result.status, 0, `${argv.join(' ')}: ${result.stderr}`)
  return result.stdout.toString()
}

function withTempDir(body: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'newc-test-'))
  try {
    body(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test('encodeNewc matches GNU cpio byte for byte (golden, minus its "." record)', () => {
  // GNU cpio's first record is "." with inode 0; see tree.cpio.cmd. Check it is exactly that record.
  const dot = parseNewc(golden)[0] as Entry
  assert.deepEqual([dot.name, dot.ino, dot.namesize, dot.filesize], ['.', 0, 2, 0])
  assert.deepEqual(encodeNewc(goldenTree), golden.subarray(112))
})

test('encodeNewc writes every header field', () => {
  const entries = parseNewc(
    encodeNewc(
      [
        { kind: 'device', path: 'dev/vda', type: 'block', major: 254, minor: 1048575 },
        { kind: 'file', path: 'bin/tool', data: Buffer.from('#!'), mode: 0o4755, uid: 1000, gid: 100, mtime: 20 },
        { kind: 'dir', path: 'bin/sub' },
        { kind: 'symlink', path: 'sbin', target: 'bin' },
      ],
      { mtime: 30 },
    ),
  )
  const row = (e: Entry) => [e.name, e.data, ...fieldNames.map((field) => e[field])]
  assert.deepEqual(entries.map(row), [
    // name, data, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
    ['bin', '', 1, 0o040755, 0, 0, 3, 30, 0, 0, 0, 0, 0, 4, 0],
    ['bin/sub', '', 2, 0o040755, 0, 0, 2, 30, 0, 0, 0, 0, 0, 8, 0],
    ['bin/tool', '#!', 3, 0o104755, 1000, 100, 1, 20, 2, 0, 0, 0, 0, 9, 0],
    ['dev', '', 4, 0o040755, 0, 0, 2, 30, 0, 0, 0, 0, 0, 4, 0],
    ['dev/vda', '', 5, 0o060600, 0, 0, 1, 30, 0, 0, 0, 254, 1048575, 8, 0],
    ['sbin', 'bin', 6, 0o120777, 0, 0, 1, 30, 3, 0, 0, 0, 0, 5, 0],
    ['TRAILER!!!', '', 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 11, 0],
  ])
})

test('encodeNewc pads names and data to 4 bytes for every length mod 4', () => {
  const records: CpioRecord[] = []
  for (let n = 1; n <= 8; n++) {
    records.push({ kind: 'file', path: 'n'.repeat(n), data: Buffer.from('d'.repeat(n - 1)) })
  }
  const entries = parseNewc(encodeNewc(records))
  assert.deepEqual(
    entries.map((e) => [e.name, e.data]),
    [...records.map((r) => [r.path, 'd'.repeat(r.path.length - 1)]), ['TRAILER!!!', '']],
  )
})

test('encodeNewc writes the names of one inode together, data on the last', () => {
  const entries = parseNewc(
    encodeNewc([
      { kind: 'hardlink', path: 'a', target: 'b' },
      { kind: 'file', path: 'b', data: Buffer.from('shared') },
      { kind: 'hardlink', path: 'c/x', target: 'b' },
      { kind: 'file', path: 'd', data: Buffer.from('own') },
    ]),
  )
  assert.deepEqual(
    entries.map((e) => [e.name, e.ino, e.nlink, e.data]),
    [
      ['c', 2, 2, ''],
      ['a', 1, 3, ''],
      ['b', 1, 3, ''],
      ['c/x', 1, 3, 'shared'],
      ['d', 3, 1, 'own'],
      ['TRAILER!!!', 0, 1, ''],
    ],
  )
})

test('encodeNewc names the record and field of a value newc cannot hold', async (t) => {
  const cases: { records: CpioRecord[]; message: string }[] = [
    {
      records: [{ kind: 'file', path: 'f', data: Buffer.alloc(0), uid: -1 }],
      message: 'newc field uid of "f" is -1: not a 32-bit unsigned integer',
    },
    {
      records: [{ kind: 'device', path: 'd', type: 'char', major: 2 ** 32, minor: 0 }],
      message: 'newc field rdevmajor of "d" is 4294967296: not a 32-bit unsigned integer',
    },
    {
      records: [{ kind: 'dir', path: 'd', mtime: 1.5 }],
      message: 'newc field mtime of "d" is 1.5: not a 32-bit unsigned integer',
    },
  ]
  for (const { records, message } of cases) {
    await t.test(message, () => assert.throws(() => encodeNewc(records, { mtime: 2 ** 31 }), { message }))
  }
})

test('encodeNewc is reproducible: same records twice and in any input order give the same bytes', () => {
  const records: CpioRecord[] = [
    ...goldenTree,
    { kind: 'device', path: 'dev/console', type: 'char', major: 5, minor: 1 },
    { kind: 'file', path: 'usr/lib/libz.so.1', data: Buffer.from('\x7fELF') },
    { kind: 'hardlink', path: 'usr/bin/z', target: 'usr/lib/libz.so.1' },
  ]
  const expected = encodeNewc(records)
  const orders = [
    [...records].reverse(),
    [...records.slice(5), ...records.slice(0, 5)],
    records.filter((_, i) => i % 2 === 0).concat(records.filter((_, i) => i % 2 === 1)),
  ]
  assert.deepEqual(encodeNewc(records), expected)
  for (const order of orders) assert.deepEqual(encodeNewc(order), expected)
})

test('GNU cpio lists and extracts what encodeNewc writes', () => {
  const records: CpioRecord[] = [
    ...goldenTree,
    { kind: 'file', path: 'bin/run', data: Buffer.from('#!/bin/sh\n'), mode: 0o755 },
    { kind: 'dir', path: 'secret', mode: 0o700 },
    { kind: 'symlink', path: 'secret/up', target: '../three' },
  ]
  const archive = encodeNewc(records)
  const names = ['bin', 'bin/run', 'dir', 'dir/five', 'dir/hl-b', 'empty', 'hl-a', 'link', 'secret', 'secret/up', 'three']
  assert.deepEqual(run(['cpio', '-t', '--quiet'], { input: archive }).split('\n').filter(Boolean).sort(), names)

  withTempDir((dir) => {
    run(['cpio', '-i', '-d', '-m', '--quiet'], { input: archive, cwd: dir })
    const extracted = readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()
    assert.deepEqual(extracted, names)
    const describe = (name: string) => {
      const stat = lstatSync(join(dir, name))
      const content = stat.isSymbolicLink()
        ? `-> ${readlinkSync(join(dir, name))}`
        : stat.isFile()
          ? readFileSync(join(dir, name), 'latin1')
          : null
      return [name, (stat.mode & 0o170000) >> 12, stat.mode & 0o7777, stat.nlink, content]
    }
    assert.deepEqual(names.map(describe), [
      ['bin', 0o04, 0o755, 2, null],
      ['bin/run', 0o10, 0o755, 1, '#!/bin/sh\n'],
      ['dir', 0o04, 0o755, 2, null],
      ['dir/five', 0o10, 0o644, 1, 'hello'],
      ['dir/hl-b', 0o10, 0o644, 2, 'linked\n'],
      ['empty', 0o10, 0o644, 1, ''],
      ['hl-a', 0o10, 0o644, 2, 'linked\n'],
      ['link', 0o12, 0o777, 1, '-> dir/five'],
      ['secret', 0o04, 0o700, 2, null],
      ['secret/up', 0o12, 0o777, 1, '-> ../three'],
      ['three', 0o10, 0o644, 1, 'abc'],
    ])
    assert.equal(lstatSync(join(dir, 'dir/hl-b')).ino, lstatSync(join(dir, 'hl-a')).ino, 'hard link pair shares an inode')
  })
})

test('device nodes round-trip through GNU cpio with their major and minor', async (t) => {
  const archive = encodeNewc([
    { kind: 'device', path: 'dev/console', type: 'char', major: 5, minor: 1 },
    { kind: 'device', path: 'dev/vda', type: 'block', major: 254, minor: 3, mode: 0o660 },
  ])
  await t.test('cpio -t -v', () => {
    const listing = run(['cpio', '-t', '-v', '--quiet'], { input: archive })
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const match = /^(\S+)\s+\d+\s+\S+\s+\S+\s+(\d+),\s+(\d+)\s.*\s(\S+)$/.exec(line)
        return match === null ? [line] : [match[1], Number(match[2]), Number(match[3]), match[4]]
      })
    assert.deepEqual(listing.slice(1), [
      ['crw-------', 5, 1, 'dev/console'],
      ['brw-rw----', 254, 3, 'dev/vda'],
    ])
  })
  await t.test('cpio -i creates the nodes', { skip: process.getuid?.() !== 0 && 'creating device nodes needs root' }, () => {
    withTempDir((dir) => {
      run(['cpio', '-i', '-d', '--quiet'], { input: archive, cwd: dir })
      const node = (name: string) => {
        const stat = lstatSync(join(dir, name))
        // glibc's gnu_dev_major/gnu_dev_minor split of st_rdev.
        return [stat.isCharacterDevice(), stat.isBlockDevice(), (stat.rdev >> 8) & 0xfff, (stat.rdev & 0xff) | ((stat.rdev >> 12) & 0xfff00)]
      }
      assert.deepEqual([node('dev/console'), node('dev/vda')], [
        [true, false, 5, 1],
        [false, true, 254, 3],
      ])
    })
  })
})
