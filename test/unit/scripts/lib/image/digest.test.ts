import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkDigest, DigestMismatchError, digestOf, formatDigest, HashTap, parseDigest } from '../../../../../scripts/lib/image/digest.ts';

const EMPTY = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

test('digests parse strictly: algorithm, lowercase hex, exact length', () => {
  assert.deepEqual(parseDigest(EMPTY, 'd'), { algorithm: 'sha256', hex: EMPTY.slice(7) });
  assert.equal(formatDigest(parseDigest(`sha512:${'0'.repeat(128)}`, 'd')), `sha512:${'0'.repeat(128)}`);
  for (const bad of [`sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}`, `sha512:${'a'.repeat(64)}`, 'sha256:../../../etc/passwd', `md5:${'a'.repeat(32)}`, 42]) {
    assert.throws(() => parseDigest(bad, 'layers[0]'), new RegExp(`^Error: layers\\[0\\]: "${String(bad).replaceAll('.', '\\.')}" is not a sha256 or sha512 digest$`), String(bad));
  }
});

test('digestOf hashes bytes', () => {
  assert.equal(digestOf(new Uint8Array()), EMPTY);
  assert.equal(digestOf(Buffer.from('abc'), 'sha512').slice(0, 19), 'sha512:ddaf35a19361');
});

test('a mismatch names the blob, its file and both digests; a size mismatch too', () => {
  assert.doesNotThrow(() => checkDigest('layer', EMPTY, EMPTY, 'f', { expected: 0, actual: 0 }));
  assert.throws(() => checkDigest('layer', EMPTY, 'sha256:00', '/l/blobs/sha256/e3', { expected: 0, actual: 0 }), (error: Error) => error instanceof DigestMismatchError
    && error.message === `layer ${EMPTY} (/l/blobs/sha256/e3) has digest sha256:00: the blob is corrupted or was changed`);
  assert.throws(() => checkDigest('config', EMPTY, EMPTY, 'f', { expected: 3, actual: 0 }), /^DigestMismatchError: config sha256:e3b0\S+ \(f\) is 0 bytes, its descriptor says 3$/);
});

test('HashTap passes bytes through and hashes them', async () => {
  const tap = new HashTap('sha256');
  const seen: Buffer[] = [];
  await pipeline(Readable.from([Buffer.from('a'), Buffer.from('bc')]), tap, new Writable({ write(chunk, _encoding, callback) { seen.push(chunk); callback(); } }));
  assert.deepEqual([Buffer.concat(seen).toString(), tap.bytes, tap.digest()], ['abc', 3, digestOf(Buffer.from('abc'))]);
});
