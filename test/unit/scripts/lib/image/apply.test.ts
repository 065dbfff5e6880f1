import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TreeWriter } from '../../../../../scripts/lib/image/apply.ts';
import { Budget, DEFAULT_LIMITS, ImageLimitError, type Limits } from '../../../../../scripts/lib/image/limits.ts';
import { UnsafePathError } from '../../../../../scripts/lib/image/paths.ts';
import { forEachTarEntry } from '../../../../../scripts/lib/image/tar-read.ts';
import { snapshot, tarOf, type FixtureEntry } from './fixtures.ts';

const isRoot = process.getuid?.() === 0;

interface Setup {
  work: string;
  root: string;
  outside: string;
}

/** work/root (the tree) beside work/outside (a directory with a file that must stay untouched). */
async function setup(t: { after: (fn: () => Promise<void>) => void }): Promise<Setup> {
  const work = await mkdtemp(join(tmpdir(), 'image-apply-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  await mkdir(join(work, 'root'));
  await mkdir(join(work, 'outside'));
  await writeFile(join(work, 'outside/secret'), 'secret');
  return { work, root: join(work, 'root'), outside: join(work, 'outside') };
}

async function apply(root: string, layers: readonly FixtureEntry[][], { privileged = false, limits = {} }: { privileged?: boolean; limits?: Partial<Limits> } = {}): Promise<string[]> {
  const writer = new TreeWriter(root, { chown: privileged, deviceNodes: privileged, budget: new Budget({ ...DEFAULT_LIMITS, ...limits }, 'test image') });
  for (const layer of layers) {
    writer.beginLayer();
    await forEachTarEntry(Readable.from([await tarOf(layer)]), [], (entry) => writer.write(entry));
  }
  return writer.finish();
}

/** Nothing but root/ and outside/ in work/, and outside/ exactly as it was. */
async function assertOutsideUntouched({ work, outside }: Setup): Promise<void> {
  assert.deepEqual((await readdir(work)).sort(), ['outside', 'root']);
  assert.deepEqual(await readdir(outside), ['secret']);
  assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'secret');
  assert.equal((await lstat(join(outside, 'secret'))).nlink, 1);
}

const refusals: { name: string; entries: (setup: Setup) => FixtureEntry[]; error: RegExp }[] = [
  { name: '../x', entries: () => [{ name: '../x', content: 'x' }], error: /^UnsafePathError: tar entry "\.\.\/x" has a "\.\." component/ },
  { name: 'a/../../x', entries: () => [{ name: 'a/../../x', content: 'x' }], error: /^UnsafePathError: tar entry "a\/\.\.\/\.\.\/x" has a "\.\." component/ },
  { name: 'a/.. inside the root too', entries: () => [{ name: 'a/../b', content: 'x' }], error: /tar entry "a\/\.\.\/b" has a "\.\." component/ },
  {
    name: 'a hard link to ../outside/secret',
    entries: () => [{ name: 'stolen', type: 'link', linkname: '../outside/secret' }],
    error: /^UnsafePathError: hard link "stolen" to "\.\.\/outside\/secret" "\.\.\/outside\/secret" has a "\.\." component/,
  },
  {
    name: 'a hard link through a symlink to the host directory',
    entries: ({ outside }) => [{ name: 'host', type: 'symlink', linkname: outside }, { name: 'stolen', type: 'link', linkname: 'host/secret' }],
    error: /hard link "stolen" to "host\/secret": the target was not extracted before the link$/,
  },
  {
    name: 'a hard link to an absolute host path',
    entries: ({ outside }) => [{ name: 'stolen', type: 'link', linkname: `${outside}/secret` }],
    error: /hard link "stolen" to "\/\S+\/outside\/secret": the target was not extracted before the link$/,
  },
  {
    name: 'a hard link to a directory',
    entries: () => [{ name: 'dir/', type: 'directory' }, { name: 'stolen', type: 'link', linkname: 'dir' }],
    error: /hard link "stolen" to "dir": the target is a directory$/,
  },
  {
    name: 'a symlink loop in the path',
    entries: () => [{ name: 'loop', type: 'symlink', linkname: 'loop' }, { name: 'loop/x', content: 'x' }],
    error: /tar entry "loop\/x": more than 40 symlinks followed at loop \(a symlink loop\)$/,
  },
  {
    name: 'a file in the path',
    entries: () => [{ name: 'file', content: 'f' }, { name: 'file/x', content: 'x' }],
    error: /tar entry "file\/x": file is not a directory$/,
  },
  { name: 'a whiteout of ..', entries: () => [{ name: 'a/.wh...' }], error: /whiteout "a\/\.wh\.\.\." names "\.\.": refusing to delete outside its directory$/ },
  { name: 'a file named as the root', entries: () => [{ name: './', content: 'x' }], error: /tar entry "\.\/" \(file\) names the root itself$/ },
];

for (const refusal of refusals) {
  test(`refused: ${refusal.name}`, async (t) => {
    const place = await setup(t);
    await assert.rejects(apply(place.root, [refusal.entries(place)]), (error: Error) => {
      assert.match(`${error.name}: ${error.message}`, refusal.error);
      return true;
    });
    await assertOutsideUntouched(place);
  });
}

test('refusals are UnsafePathError, so callers can tell them from I/O errors', async (t) => {
  const { root } = await setup(t);
  await assert.rejects(apply(root, [[{ name: '../x' }]]), UnsafePathError);
});

const confined: { name: string; entries: (setup: Setup) => FixtureEntry[]; lands: string }[] = [
  { name: 'an absolute symlink to the host directory', entries: ({ outside }) => [{ name: 'link', type: 'symlink', linkname: outside }, { name: 'link/pwned', content: 'p' }], lands: '' },
  { name: 'a symlink to /', entries: () => [{ name: 'link', type: 'symlink', linkname: '/' }, { name: 'link/pwned', content: 'p' }], lands: 'pwned' },
  { name: 'a relative .. chain', entries: () => [{ name: 'up', type: 'symlink', linkname: '../../../..' }, { name: 'up/pwned', content: 'p' }], lands: 'pwned' },
  {
    name: 'symlinks through symlinks',
    entries: () => [{ name: 'two', type: 'symlink', linkname: '../..' }, { name: 'one', type: 'symlink', linkname: 'two/../..' }, { name: 'one/sub/pwned', content: 'p' }],
    lands: 'sub/pwned',
  },
  { name: 'an absolute entry name', entries: () => [{ name: '/pwned', content: 'p' }], lands: 'pwned' },
];

for (const { name, entries, lands } of confined) {
  test(`confined to the root: ${name}`, async (t) => {
    const place = await setup(t);
    await apply(place.root, [entries(place)]);
    // The host path of outside/, taken as a path inside the root.
    const expected = join(place.root, lands || join(place.outside, 'pwned'));
    assert.equal(await readFile(expected, 'utf8'), 'p');
    await assertOutsideUntouched(place);
  });
}

test('each limit stops the extraction with ImageLimitError naming it', async (t) => {
  const { root } = await setup(t);
  const cases = [
    { limits: { maxEntries: 2 }, entries: [{ name: 'a' }, { name: 'b' }, { name: 'c' }], limit: 'maxEntries', message: /^test image: entry 3 \("c"\) exceeds the maxEntries limit of 2; raise it with the maxEntries option$/ },
    { limits: { maxBytes: 10 }, entries: [{ name: 'a', content: '12345' }, { name: 'b', content: '123456' }], limit: 'maxBytes', message: /^test image: the total file size \(11 bytes at "b"\) exceeds the maxBytes limit of 10; raise it with the maxBytes option$/ },
    { limits: { maxPathLength: 8 }, entries: [{ name: 'abcdefghi' }], limit: 'maxPathLength', message: /^tar entry "abcdefghi…": the name length \(9 bytes\) exceeds the maxPathLength limit of 8; raise it with the maxPathLength option$/ },
  ] as const;
  for (const { limits, entries, limit, message } of cases) {
    await assert.rejects(apply(root, [[...entries]], { limits }), (error: Error) => {
      assert.ok(error instanceof ImageLimitError);
      assert.equal(error.limit, limit);
      assert.match(error.message, message);
      return true;
    });
  }
});

test('device nodes and fifos are skipped with a count when not privileged', async (t) => {
  const { root } = await setup(t);
  const warnings = await apply(root, [[
    { name: 'dev/', type: 'directory' },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660 },
    { name: 'dev/pipe', type: 'fifo', mode: 0o600 },
  ]]);
  assert.deepEqual(warnings, ['skipped 3 device nodes and fifos (creating them needs root)']);
  assert.deepEqual(await snapshot(root), [{ path: 'dev', type: 'directory', mode: 0o755 }]);
});

test('device nodes, fifos and owners are made when privileged', { skip: isRoot ? false : 'needs root (mknod, chown)' }, async (t) => {
  const { root } = await setup(t);
  const warnings = await apply(root, [[
    { name: 'dev/', type: 'directory', uid: 7, gid: 8 },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660, gid: 6 },
    { name: 'dev/pipe', type: 'fifo', mode: 0o600 },
    { name: 'home/', type: 'directory' },
    { name: 'home/user/', type: 'directory', uid: 1000, gid: 1000, mode: 0o700 },
    { name: 'home/user/setgid', content: 's', uid: 1000, gid: 50, mode: 0o2755 },
    { name: 'home/user/link', type: 'symlink', linkname: 'setgid', uid: 1000, gid: 1000 },
  ]], { privileged: true });
  assert.deepEqual(warnings, []);
  const describe = async (path: string) => {
    const info = await lstat(join(root, path));
    const type = info.isCharacterDevice() ? 'char' : info.isBlockDevice() ? 'block' : info.isFIFO() ? 'fifo' : info.isSymbolicLink() ? 'symlink' : info.isDirectory() ? 'dir' : 'file';
    return [path, type, info.isSymbolicLink() ? 0 : info.mode & 0o7777, info.uid, info.gid, info.rdev];
  };
  assert.deepEqual(await Promise.all(['dev', 'dev/null', 'dev/sda', 'dev/pipe', 'home/user', 'home/user/setgid', 'home/user/link'].map(describe)), [
    ['dev', 'dir', 0o755, 7, 8, 0],
    ['dev/null', 'char', 0o666, 0, 0, 0x103],
    ['dev/sda', 'block', 0o660, 0, 6, 0x800],
    ['dev/pipe', 'fifo', 0o600, 0, 0, 0],
    ['home/user', 'dir', 0o700, 1000, 1000, 0],
    ['home/user/setgid', 'file', 0o2755, 1000, 50, 0],
    ['home/user/link', 'symlink', 0, 1000, 1000, 0],
  ]);
});

test('without privilege, owners are left to the running user', async (t) => {
  const { root } = await setup(t);
  await apply(root, [[{ name: 'f', content: 'x', uid: 4242, gid: 4242 }]]);
  const info = await lstat(join(root, 'f'));
  assert.deepEqual([info.uid, info.gid], [process.getuid?.(), process.getgid?.()]);
});

test('parents without entries are created 0755; names through a symlinked directory land in its target', async (t) => {
  const { root } = await setup(t);
  await apply(root, [[
    { name: 'usr/lib/x/file', content: 'f' },
    { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
  ], [
    { name: 'lib/x/more', content: 'm' },
  ]]);
  assert.deepEqual(await snapshot(root), [
    { path: 'lib', type: 'symlink', target: 'usr/lib' },
    { path: 'usr', type: 'directory', mode: 0o755 },
    { path: 'usr/lib', type: 'directory', mode: 0o755 },
    { path: 'usr/lib/x', type: 'directory', mode: 0o755 },
    { path: 'usr/lib/x/file', type: 'file', mode: 0o644, content: 'f', links: 1 },
    { path: 'usr/lib/x/more', type: 'file', mode: 0o644, content: 'm', links: 1 },
  ]);
});

test('whiteouts touch only lower layers; an opaque root keeps only the new layer', async (t) => {
  const { root } = await setup(t);
  await apply(root, [[
    { name: 'keep/', type: 'directory' },
    { name: 'keep/old', content: 'old' },
    { name: 'gone', content: 'g' },
  ], [
    { name: 'new', content: 'n' },
    { name: '.wh.new' },
    { name: '.wh..wh..opq' },
    { name: 'keep/fresh', content: 'f' },
    { name: '.wh.missing' },
    { name: 'nowhere/.wh.x' },
    { name: '.wh..wh.plnk' },
  ]]);
  assert.deepEqual(await snapshot(root), [
    { path: 'keep', type: 'directory', mode: 0o755 },
    { path: 'keep/fresh', type: 'file', mode: 0o644, content: 'f', links: 1 },
    { path: 'new', type: 'file', mode: 0o644, content: 'n', links: 1 },
  ]);
});

test('a hard link replaces what was at its name, and a later file at the name breaks the link', async (t) => {
  const { root } = await setup(t);
  await apply(root, [[
    { name: 'a', content: 'A' },
    { name: 'b', content: 'B' },
    { name: 'b', type: 'link', linkname: 'a' },
  ], [
    { name: 'a', content: 'new A' },
  ]]);
  assert.deepEqual(await snapshot(root), [
    { path: 'a', type: 'file', mode: 0o644, content: 'new A', links: 1 },
    { path: 'b', type: 'file', mode: 0o644, content: 'A', links: 1 },
  ]);
});

/** Turns the first header of a tar into a GNU long-name header ('L'), fixing its checksum. */
function asGnuLongName(archive: Buffer): Buffer {
  const bytes = Buffer.from(archive);
  bytes[156] = 'L'.charCodeAt(0);
  let sum = 0;
  for (let i = 0; i < 512; i += 1) sum += i >= 148 && i < 156 ? 0x20 : (bytes[i] as number);
  bytes.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return bytes;
}

test('long names and link targets: PAX records and GNU long-name headers', async (t) => {
  const { root } = await setup(t);
  const paxName = `${'p'.repeat(120)}/${'q'.repeat(120)}`;
  const target = `${'t'.repeat(200)}/x`;
  const gnuName = `${'g'.repeat(130)}/file`;
  const writer = new TreeWriter(root, { chown: false, deviceNodes: false, budget: new Budget(DEFAULT_LIMITS, 'test image') });
  writer.beginLayer();
  const pax = await tarOf([{ name: paxName, content: 'pax' }, { name: 'link', type: 'symlink', linkname: target }]);
  const gnu = asGnuLongName(await tarOf([{ name: '././@LongLink', content: `${gnuName}\0` }, { name: 'truncated', content: 'gnu' }]));
  for (const archive of [pax, gnu]) await forEachTarEntry(Readable.from([archive]), [], (entry) => writer.write(entry));
  await writer.finish();
  assert.deepEqual((await snapshot(root)).filter((node) => node.type !== 'directory'), [
    { path: gnuName, type: 'file', mode: 0o644, content: 'gnu', links: 1 },
    { path: 'link', type: 'symlink', target },
    { path: paxName, type: 'file', mode: 0o644, content: 'pax', links: 1 },
  ]);
});
