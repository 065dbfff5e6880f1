import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { InitrdPlan } from '../../../../packer/index.ts';
import { cacheDirectory, fileDigest, planKey, type DigestMemo } from '../../../../scripts/lib/initrd-cache.ts';

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
