import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HashTap } from '../../../../../scripts/lib/image/digest.ts';
import { decoder, forEachTarEntry, readHead } from '../../../../../scripts/lib/image/tar-read.ts';
import { compress, sha256, tarOf } from './fixtures.ts';

const ENTRIES = [{ name: 'a', content: 'alpha' }, { name: 'dir/', type: 'directory' as const }, { name: 'dir/b', content: 'beta' }, { name: 'l', type: 'symlink' as const, linkname: 'a' }];

test('entries come in order through each codec; unread data is skipped; taps see every byte', async () => {
  const plain = await tarOf(ENTRIES);
  for (const codec of ['none', 'gzip', 'zstd'] as const) {
    const bytes = compress(plain, codec);
    const tap = new HashTap('sha256');
    const seen: string[] = [];
    await forEachTarEntry(Readable.from([bytes]), [tap, ...decoder(codec)], async (entry) => {
      // Read only the first file's data: the rest is skipped.
      let data = '';
      if (entry.header.name === 'a') for await (const chunk of entry) data += (chunk as Buffer).toString();
      seen.push(`${entry.header.type} ${entry.header.name} ${data}`.trim());
    });
    assert.deepEqual(seen, ['file a alpha', 'directory dir/', 'file dir/b', 'symlink l'], codec);
    assert.equal(tap.digest(), sha256(bytes), codec);
  }
});

test('an error in the handler or in the data rejects', async () => {
  const plain = await tarOf(ENTRIES);
  await assert.rejects(forEachTarEntry(Readable.from([plain]), [], async (entry) => {
    if (entry.header.name === 'dir/b') throw new Error('stop at dir/b');
  }), /^Error: stop at dir\/b$/);
  const broken = compress(plain, 'gzip').subarray(0, 40);
  await assert.rejects(forEachTarEntry(Readable.from([broken]), decoder('gzip'), async () => undefined), /unexpected end of file/);
});

test('readHead reads at most the first bytes', async (t) => {
  const directory = await mkdtemp(join(tmpdir(), 'image-head-'));
  t.after(() => rm(directory, { recursive: true, force: true }));
  await writeFile(join(directory, 'f'), 'abcdef');
  assert.equal((await readHead(join(directory, 'f'), 4)).toString(), 'abcd');
  assert.equal((await readHead(join(directory, 'f'))).toString(), 'abcdef');
});
