import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import zlib from 'node:zlib'
import { codecs, compress, detectCodec } from '../../../packer/compress.ts'
import { pipeThrough } from '../../../packer/pipe-through.ts'
import type { Codec } from '../../../packer/compress.ts'
import { encodeNewc } from '../../../packer/cpio/newc.ts'

// A cpio of ~4 MB: larger than a pipe buffer, so the spawned tools must be read while being fed.
function sample(): Buffer {
  let seed = 1
  const noise = Buffer.alloc(3 * 1024 * 1024)
  for (let i = 0; i < noise.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0
    noise[i] = seed >>> 24
  }
  return encodeNewc([
    { kind: 'file', path: 'bin/noise', data: noise },
    { kind: 'file', path: 'etc/text', data: Buffer.from('initramfs '.repeat(100000)) },
  ])
}

const data = sample()

const expectations: Record<Codec, { head: number[]; decompress: (out: Buffer) => Buffer | Promise<Buffer> }> = {
  none: { head: [...Buffer.from('070701')], decompress: (out) => out },
  // gzip header: deflate, no flags, mtime 0, XFL 0 (level 6), OS 3 (Unix).
  gzip: { head: [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3], decompress: (out) => zlib.gunzipSync(out) },
  zstd: { head: [0x28, 0xb5, 0x2f, 0xfd], decompress: (out) => zlib.zstdDecompressSync(out) },
  lz4: { head: [0x02, 0x21, 0x4c, 0x18], decompress: (out) => pipeThrough(['lz4', '-dc'], out) },
  // Stream flags 00 01: check type CRC32, the only one the kernel's xz decoder verifies.
  xz: { head: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x01], decompress: (out) => pipeThrough(['xz', '-dc'], out) },
}

test('compress: every codec round-trips, starts with the kernel-readable magic, and is reproducible', async (t) => {
  assert.deepEqual(Object.keys(expectations), [...codecs])
  for (const codec of codecs) {
    await t.test(codec, async () => {
      const { head, decompress } = expectations[codec]
      const first = await compress(data, codec)
      const second = await compress(data, codec)
      assert.deepEqual([...first.subarray(0, head.length)], head)
      assert.equal(detectCodec(first), codec)
      assert.ok(first.equals(second), 'two runs give the same bytes')
      assert.ok((await decompress(first)).equals(data), 'decompresses to the input')
    })
  }
})

test('compress names the missing tool and its Debian package', async (t) => {
  const emptyPath = mkdtempSync(join(tmpdir(), 'compress-test-'))
  const savedPath = process.env.PATH
  process.env.PATH = emptyPath
  try {
    const cases: { codec: Codec; message: string }[] = [
      { codec: 'lz4', message: 'lz4 could not be run (ENOENT): install the Debian package lz4' },
      { codec: 'xz', message: 'xz could not be run (ENOENT): install the Debian package xz-utils' },
    ]
    for (const { codec, message } of cases) {
      await t.test(codec, () => assert.rejects(compress(data, codec), { message }))
    }
  } finally {
    process.env.PATH = savedPath
    rmSync(emptyPath, { recursive: true })
  }
})

test('detectCodec reads the magic and refuses what the kernel cannot unpack', async (t) => {
  const accepted: { head: number[]; codec: Codec }[] = [
    { head: [...Buffer.from('070701')], codec: 'none' },
    { head: [...Buffer.from('070702')], codec: 'none' },
    { head: [0x1f, 0x8b, 0x08], codec: 'gzip' },
    { head: [0x28, 0xb5, 0x2f, 0xfd, 0x00], codec: 'zstd' },
    { head: [0x02, 0x21, 0x4c, 0x18, 0x00], codec: 'lz4' },
    { head: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04], codec: 'xz' },
  ]
  for (const { head, codec } of accepted) {
    await t.test(codec, () => assert.equal(detectCodec(Uint8Array.from(head)), codec))
  }
  const refused: { head: number[]; message: string }[] = [
    { head: [0x04, 0x22, 0x4d, 0x18, 0x64], message: 'lz4 frame format (04 22 4D 18): the kernel reads only the legacy frame (lz4 -l)' },
    { head: [...Buffer.from('070707')], message: 'unrecognised initramfs magic: 30 37 30 37 30 37' },
    { head: [0xfd, 0x37, 0x7a], message: 'unrecognised initramfs magic: fd 37 7a' },
    { head: [], message: 'unrecognised initramfs magic: empty input' },
  ]
  for (const { head, message } of refused) {
    await t.test(message, () => assert.throws(() => detectCodec(Uint8Array.from(head)), { message }))
  }
})
