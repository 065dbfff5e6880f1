import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMetadataName, memberName, scanArchive, stageMembers } from '../../../../../scripts/lib/image/archive.ts';
import { Budget, DEFAULT_LIMITS } from '../../../../../scripts/lib/image/limits.ts';
import { compress, sha256, tarOf } from './fixtures.ts';

const HEX = 'c'.repeat(64);

test('member names are normalized, and metadata told by name', () => {
  assert.deepEqual(['./index.json', '/blobs//sha256/x', 'a/./b/'].map(memberName), ['index.json', 'blobs/sha256/x', 'a/b']);
  const cases: [string, boolean][] = [
    ['oci-layout', true], ['index.json', true], ['manifest.json', true], [`blobs/sha256/${HEX}`, true], [`${HEX}.json`, true],
    ['etc/index.json', false], [`${HEX}/layer.tar`, false], ['repositories', false], ['blobs/md5/abc', false],
  ];
  for (const [name, expected] of cases) assert.equal(isMetadataName(name), expected, name);
});

test('the first pass keeps small metadata, lists every file and hashes the archive as stored', async (t) => {
  const directory = await mkdtemp(join(tmpdir(), 'image-archive-'));
  t.after(() => rm(directory, { recursive: true, force: true }));
  const archive = compress(await tarOf([
    { name: 'blobs/', type: 'directory' },
    { name: `./blobs/sha256/${HEX}`, content: '{"a":1}' },
    { name: 'index.json', content: '{}' },
    { name: 'etc/passwd', content: 'root' },
    { name: 'big/layer.tar', content: Buffer.alloc(5 * 2 ** 20) },
    { name: 'manifest.json', content: Buffer.alloc(5 * 2 ** 20) },
  ]), 'zstd');
  await writeFile(join(directory, 'a.tar.zst'), archive);
  const scan = await scanArchive(join(directory, 'a.tar.zst'), 'zstd');
  assert.equal(scan.sha256, sha256(archive));
  assert.deepEqual([...scan.files].map(([name, bytes]) => [name, bytes.toString()]), [[`blobs/sha256/${HEX}`, '{"a":1}'], ['index.json', '{}']]);
  assert.deepEqual([...scan.members], [`blobs/sha256/${HEX}`, 'index.json', 'etc/passwd', 'big/layer.tar', 'manifest.json']);
});

test('the second pass copies the wanted members out, and names any that are missing', async (t) => {
  const directory = await mkdtemp(join(tmpdir(), 'image-archive-'));
  t.after(() => rm(directory, { recursive: true, force: true }));
  await writeFile(join(directory, 'a.tar'), await tarOf([{ name: 'x/layer.tar', content: 'layer x' }, { name: 'y', content: 'y' }]));
  const budget = new Budget(DEFAULT_LIMITS, 'a.tar');
  await stageMembers(join(directory, 'a.tar'), 'none', new Map([['x/layer.tar', join(directory, 'm0')]]), budget);
  assert.equal(await readFile(join(directory, 'm0'), 'utf8'), 'layer x');
  assert.equal(budget.bytes, 7);
  await assert.rejects(stageMembers(join(directory, 'a.tar'), 'none', new Map([['y', join(directory, 'm1')], ['z/layer.tar', join(directory, 'm2')]]), budget),
    new RegExp(`^Error: ${join(directory, 'a.tar')} has no member z/layer\\.tar$`));
  await assert.rejects(stageMembers(join(directory, 'a.tar'), 'none', new Map([['y', join(directory, 'm3')]]), new Budget({ ...DEFAULT_LIMITS, maxBytes: 0 }, 'a.tar')), /maxBytes/);
});
