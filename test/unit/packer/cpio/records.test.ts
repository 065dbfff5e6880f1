import { test } from 'node:test'
import assert from 'node:assert/strict'
import { normalizeRecords } from '../../../../packer/cpio/records.ts'
import type { CpioRecord } from '../../../../packer/cpio/records.ts'

const file = (path: string, extra: Partial<CpioRecord> = {}): CpioRecord =>
  ({ kind: 'file', path, data: new Uint8Array(), ...extra }) as CpioRecord

test('normalizeRecords rejects malformed archives, naming the path', async (t) => {
  const cases: { name: string; records: CpioRecord[]; message: string }[] = [
    { name: 'empty path', records: [file('')], message: 'cpio record path is empty' },
    {
      name: 'absolute path',
      records: [file('/etc/passwd')],
      message: 'cpio record path "/etc/passwd" is absolute: paths are relative to the archive root',
    },
    { name: '.. component', records: [file('a/../b')], message: 'cpio record path "a/../b" has a ".." component' },
    { name: '. component', records: [file('./a')], message: 'cpio record path "./a" has a "." component' },
    { name: 'trailing .', records: [file('a/.')], message: 'cpio record path "a/." has a "." component' },
    { name: 'double slash', records: [file('a//b')], message: 'cpio record path "a//b" has an empty component' },
    { name: 'trailing slash', records: [file('a/')], message: 'cpio record path "a/" has an empty component' },
    { name: 'NUL byte', records: [file('a\0b')], message: 'cpio record path "a\\u0000b" contains a NUL byte' },
    {
      name: 'duplicate path',
      records: [file('x/y'), { kind: 'dir', path: 'x' }, { kind: 'symlink', path: 'x/y', target: 'z' }],
      message: 'duplicate cpio record path "x/y"',
    },
    {
      name: 'explicit duplicate of a directory',
      records: [{ kind: 'dir', path: 'x' }, { kind: 'dir', path: 'x' }],
      message: 'duplicate cpio record path "x"',
    },
    {
      name: 'hardlink to a missing path',
      records: [{ kind: 'hardlink', path: 'a', target: 'b' }],
      message: 'hardlink "a" targets "b", which is not in the archive',
    },
    {
      name: 'hardlink to a symlink',
      records: [{ kind: 'symlink', path: 'b', target: 'c' }, { kind: 'hardlink', path: 'a', target: 'b' }],
      message: 'hardlink "a" targets "b", which is a symlink, not a file',
    },
    {
      name: 'hardlink to an implied directory',
      records: [file('d/f'), { kind: 'hardlink', path: 'a', target: 'd' }],
      message: 'hardlink "a" targets "d", which is a dir, not a file',
    },
    {
      name: 'hardlink to a hardlink',
      records: [file('f'), { kind: 'hardlink', path: 'a', target: 'f' }, { kind: 'hardlink', path: 'b', target: 'a' }],
      message: 'hardlink "b" targets "a", which is a hardlink, not a file',
    },
    {
      name: 'hardlink with its own mode',
      records: [file('f', { mode: 0o755 }), { kind: 'hardlink', path: 'a', target: 'f', mode: 0o644 }],
      message: 'hardlink "a" sets mode 0o644 but its target "f" has 0o755: a hard link shares its target\'s inode',
    },
    {
      name: 'parent is a file',
      records: [file('a'), file('a/b')],
      message: 'cpio record "a/b" needs "a" to be a directory, but it is a file',
    },
    {
      name: 'mode with file type bits',
      records: [file('a', { mode: 0o100644 })],
      message: 'cpio record "a" has mode 0o100644: only permission bits (0o7777) are allowed, the type comes from kind "file"',
    },
    {
      name: 'symlink without a target',
      records: [{ kind: 'symlink', path: 'l', target: '' }],
      message: 'symlink "l" has an empty target',
    },
  ]
  for (const { name, records, message } of cases) {
    await t.test(name, () => {
      assert.throws(() => normalizeRecords(records), { message })
    })
  }
})

test('normalizeRecords adds missing parents with mode 0755 and fills defaults per kind', () => {
  const data = Buffer.from('x')
  const actual = normalizeRecords([
    { kind: 'file', path: 'usr/lib/x86_64-linux-gnu/libc.so.6', data },
    { kind: 'symlink', path: 'lib64', target: 'usr/lib' },
    { kind: 'device', path: 'dev/console', type: 'char', major: 5, minor: 1 },
    { kind: 'dir', path: 'usr', mode: 0o700, uid: 7, gid: 8 },
    { kind: 'hardlink', path: 'libc', target: 'usr/lib/x86_64-linux-gnu/libc.so.6' },
  ])
  const meta = { uid: 0, gid: 0, mtime: 0 }
  assert.deepEqual(actual, [
    { kind: 'dir', path: 'dev', mode: 0o755, ...meta },
    { kind: 'device', path: 'dev/console', type: 'char', major: 5, minor: 1, mode: 0o600, ...meta },
    { kind: 'symlink', path: 'lib64', target: 'usr/lib', mode: 0o777, ...meta },
    { kind: 'hardlink', path: 'libc', target: 'usr/lib/x86_64-linux-gnu/libc.so.6', mode: 0o644, ...meta },
    { kind: 'dir', path: 'usr', mode: 0o700, uid: 7, gid: 8, mtime: 0 },
    { kind: 'dir', path: 'usr/lib', mode: 0o755, ...meta },
    { kind: 'dir', path: 'usr/lib/x86_64-linux-gnu', mode: 0o755, ...meta },
    { kind: 'file', path: 'usr/lib/x86_64-linux-gnu/libc.so.6', data, mode: 0o644, ...meta },
  ])
})

test('normalizeRecords sorts by UTF-8 path bytes, not by UTF-16 code units', () => {
  // U+FF5E is EF BD 9E in UTF-8 and U+1F600 is F0 9F 98 80; in UTF-16 the surrogate D83D sorts first.
  const paths = ['\u{1F600}', 'a/b', 'B', '\uFF5E', 'a-b', 'a', 'a/b/c', 'é', 'a.b']
  const sorted = normalizeRecords(paths.map((path) => ({ kind: 'dir', path }) as CpioRecord)).map((r) => r.path)
  assert.deepEqual(sorted, ['B', 'a', 'a-b', 'a.b', 'a/b', 'a/b/c', 'é', '\uFF5E', '\u{1F600}'])
})

test('normalizeRecords clamps mtimes to the epoch', async (t) => {
  const cases: { mtime: number | undefined; epoch: number | undefined; expected: number }[] = [
    { mtime: undefined, epoch: undefined, expected: 0 },
    { mtime: 1700000000, epoch: undefined, expected: 0 },
    { mtime: undefined, epoch: 50, expected: 50 },
    { mtime: 100, epoch: 50, expected: 50 },
    { mtime: 10, epoch: 50, expected: 10 },
  ]
  for (const { mtime, epoch, expected } of cases) {
    await t.test(`mtime ${mtime} with epoch ${epoch}`, () => {
      const records = normalizeRecords([file('d/f', { mtime }), { kind: 'hardlink', path: 'h', target: 'd/f' }], {
        mtime: epoch,
      })
      assert.deepEqual(
        records.map((r) => [r.path, r.mtime]),
        [['d', epoch ?? 0], ['d/f', expected], ['h', expected]],
      )
    })
  }
})

test('normalizeRecords gives a hard link its target\'s metadata', () => {
  const records = normalizeRecords(
    [file('f', { mode: 0o4755, uid: 3, gid: 4, mtime: 9 }), { kind: 'hardlink', path: 'g', target: 'f', uid: 3 }],
    { mtime: 100 },
  )
  assert.deepEqual(records[1], { kind: 'hardlink', path: 'g', target: 'f', mode: 0o4755, uid: 3, gid: 4, mtime: 9 })
})
