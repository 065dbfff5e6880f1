import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheEntryName, makeTemporary, publish, removeStaleTemporaries, rootfsCacheDirectory, temporaryName, temporaryOwner } from '../../../../../scripts/lib/image/cache.ts';
import { processAlive } from '../../../../../scripts/lib/processes.ts';

async function scratch(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'image-cache-'));
  t.after(() => rm(directory, { recursive: true, force: true }));
  return directory;
}

test('names: the cache entry, temporary directories and their owners', () => {
  assert.equal(rootfsCacheDirectory('/c'), '/c/rootfs');
  assert.equal(cacheEntryName({ algorithm: 'sha256', hex: 'ab12' }), 'sha256-ab12');
  const name = temporaryName('sha256-ab12', 4321, '0f0f0f0f');
  assert.equal(name, '.tmp-sha256-ab12-4321-0f0f0f0f');
  const cases: [string, number | undefined][] = [
    [name, 4321],
    [temporaryName('sha256-ab12', 7, '12345678'), 7],
    ['sha256-ab12', undefined],
    ['.tmp-x', undefined],
    ['.tmp-sha256-ab-notapid-00', undefined],
  ];
  for (const [text, owner] of cases) assert.equal(temporaryOwner(text), owner, text);
});

test('processAlive: this process yes, a pid above pid_max no', () => {
  assert.equal(processAlive(process.pid), true);
  assert.equal(processAlive(4194305), false);
});

test('stale temporaries of dead runs are removed; live ones and finished trees stay', async (t) => {
  const directory = await scratch(t);
  const names = [temporaryName('sha256-a', 100, 'aa'), temporaryName('sha256-b', 200, 'bb'), 'sha256-c'];
  for (const name of names) await mkdir(join(directory, name, 'tree/etc'), { recursive: true });
  assert.deepEqual(await removeStaleTemporaries(directory, (pid) => pid === 200), [names[0]]);
  assert.deepEqual((await readdir(directory)).sort(), [names[1], 'sha256-c']);
  assert.deepEqual(await removeStaleTemporaries(join(directory, 'absent')), []);
});

test('a temporary is made beside the cache entry and disposed of', async (t) => {
  const directory = await scratch(t);
  const temporary = await makeTemporary(join(directory, 'rootfs'), 'sha256-ab');
  assert.equal(temporaryOwner(temporary.path.slice(join(directory, 'rootfs/').length)), process.pid);
  await writeFile(join(temporary.path, 'f'), 'x');
  await temporary.dispose();
  await temporary.dispose();
  assert.deepEqual(await readdir(join(directory, 'rootfs')), []);
});

test('publish renames into place; when another run got there first, its tree stays', async (t) => {
  const directory = await scratch(t);
  for (const [name, content] of [['first', '1'], ['second', '2']]) {
    await mkdir(join(directory, name));
    await writeFile(join(directory, name, 'f'), content as string);
  }
  assert.equal(await publish(join(directory, 'first'), join(directory, 'final')), 'published');
  assert.equal(await publish(join(directory, 'second'), join(directory, 'final')), 'already-there');
  assert.equal(await readFile(join(directory, 'final/f'), 'utf8'), '1');
  await assert.rejects(publish(join(directory, 'absent'), join(directory, 'other')), /ENOENT/);
});
