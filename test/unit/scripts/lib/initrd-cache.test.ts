import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import type { InitrdPlan } from '../../../../packer/index.ts';
import { cacheDirectory, cachedInitrd, fileDigest, KEPT_INITRDS, planKey, type DigestMemo } from '../../../../scripts/lib/initrd-cache.ts';
import { fixtureModdir } from '../../../fixtures/kmod/fixture.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function withDir(use: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'initrd-cache-'));
    try {
      await use(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('cacheDirectory: XDG_CACHE_HOME, else HOME/.cache', () => {
  assert.equal(cacheDirectory({ XDG_CACHE_HOME: '/x' }), '/x/virtinitrd');
  assert.equal(cacheDirectory({ HOME: '/home/u' }), '/home/u/.cache/virtinitrd');
  assert.equal(cacheDirectory({ XDG_CACHE_HOME: '', HOME: '/home/u' }), '/home/u/.cache/virtinitrd');
});

test('fileDigest trusts the memo only while inode, size and mtime are unchanged', withDir(async (dir) => {
  const file = join(dir, 'init');
  writeFileSync(file, 'one');
  const memo: DigestMemo = new Map();
  assert.equal(await fileDigest(file, memo), sha256('one'));
  // A stale memo entry with the file's current identity is believed: that is the point of the memo.
  memo.set(file, { ...memo.get(file)!, sha256: 'remembered' });
  assert.equal(await fileDigest(file, memo), 'remembered');
  // Same size, new content and mtime: computed again.
  writeFileSync(file, 'two');
  utimesSync(file, new Date(2_000_000_000_000), new Date(2_000_000_000_000));
  assert.equal(await fileDigest(file, memo), sha256('two'));
  assert.equal(memo.get(file)!.sha256, sha256('two'));
}));

test('planKey changes with a file\'s content, the layout and the codec, not with the why', withDir(async (dir) => {
  const file = join(dir, 'init');
  writeFileSync(file, 'one');
  const plan = (mode: number, why = 'the init'): InitrdPlan => ({ entries: [{ kind: 'file', path: '/init', source: file, mode, why }], builtinModules: [] });
  const base = await planKey(plan(0o755), 'lz4');
  assert.match(base, /^[0-9a-f]{32}$/);
  assert.equal(await planKey(plan(0o755, 'said otherwise'), 'lz4'), base);
  assert.notEqual(await planKey(plan(0o700), 'lz4'), base);
  assert.notEqual(await planKey(plan(0o755), 'zstd'), base);
  writeFileSync(file, 'two');
  assert.notEqual(await planKey(plan(0o755), 'lz4'), base);
}));

const initrdName = (index: number) => `initrd-${sha256(String(index)).slice(0, 32)}.cpio.lz4`;

test('cachedInitrd: a hit marks the initrd used, a build removes the least recently used beyond KEPT_INITRDS', withDir(async (dir) => {
  const saved = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = dir;
  try {
    const cache = join(dir, 'virtinitrd');
    mkdirSync(cache);
    for (let index = 0; index < KEPT_INITRDS; index++) {
      writeFileSync(join(cache, initrdName(index)), '');
      utimesSync(join(cache, initrdName(index)), 1000 + index, 1000 + index);
    }
    const spec = { init: '/usr/bin/true', moddir: fixtureModdir('ko'), extraModules: [] };
    const built = await cachedInitrd(spec, 'lz4', () => {});
    // The new one and the KEPT_INITRDS − 1 newest of the old ones.
    const expected = [basename(built), ...[...Array(KEPT_INITRDS).keys()].slice(1).map(initrdName)];
    assert.deepEqual(readdirSync(cache).filter((name) => name.startsWith('initrd-')).sort(), expected.sort());
    utimesSync(built, 500, 500);
    assert.equal(await cachedInitrd(spec, 'lz4', () => {}), built);
    assert.ok(statSync(built).mtimeMs > Date.now() - 60_000, 'a hit leaves the mtime in the past');
  } finally {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
  }
}));

test('cachedInitrd remembers the initrd a spec led to, and plans again when an input changed', withDir(async (dir) => {
  const saved = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = dir;
  try {
    // An ELF file of our own, to change: the init's closure is read from its headers.
    const init = join(dir, 'init');
    cpSync('/usr/bin/true', init);
    const moddir = join(dir, 'modules');
    cpSync(fixtureModdir('ko'), moddir, { recursive: true });
    const spec = { init, moddir, extraModules: [] };
    const logged = async () => {
      const lines: string[] = [];
      const path = await cachedInitrd(spec, 'lz4', (line) => lines.push(line));
      return { path, lines };
    };
    const first = await logged();
    assert.deepEqual(first.lines, [`building initrd ${first.path}`]);
    assert.deepEqual(await logged(), { path: first.path, lines: [`initrd ${first.path} (cached; its inputs unchanged)`] });
    // A file added to the module directory: planned again, and the same content found in the cache.
    writeFileSync(join(moddir, 'unrelated.txt'), '');
    assert.deepEqual(await logged(), { path: first.path, lines: [`initrd ${first.path} (cached)`] });
    assert.deepEqual(await logged(), { path: first.path, lines: [`initrd ${first.path} (cached; its inputs unchanged)`] });
    // Another init: another initrd.
    cpSync('/usr/bin/false', init);
    const rebuilt = await logged();
    assert.notEqual(rebuilt.path, first.path);
    assert.deepEqual(rebuilt.lines, [`building initrd ${rebuilt.path}`]);
    // The remembered initrd is gone (pruned, deleted): planned and built again.
    rmSync(rebuilt.path);
    assert.deepEqual(await logged(), { path: rebuilt.path, lines: [`building initrd ${rebuilt.path}`] });
  } finally {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
  }
}));
