import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { leastRecentlyUsed, markUsed, pruneLeastRecentlyUsed } from '../../../../scripts/lib/cache-lru.ts';

test('pruneLeastRecentlyUsed keeps the most recently used matching files and touches nothing else', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cache-lru-'));
  try {
    const entry = (index: number) => `entry-${index}`;
    for (let index = 0; index < 5; index++) {
      writeFileSync(join(dir, entry(index)), '');
      utimesSync(join(dir, entry(index)), 1000 + index, 1000 + index);
    }
    const others = ['entry-9.tmp-123-abcd', 'digests.json', 'other-1'];
    for (const name of others) writeFileSync(join(dir, name), '');
    // Used now: the oldest becomes the newest.
    await markUsed(join(dir, entry(0)));
    assert.ok(statSync(join(dir, entry(0))).mtimeMs > Date.now() - 60_000);
    const removed = await pruneLeastRecentlyUsed(dir, /^entry-\d$/, 2);
    assert.deepEqual(removed.map((path) => basename(path)), [3, 2, 1].map(entry));
    assert.deepEqual(readdirSync(dir).sort(), [...others, entry(0), entry(4)].sort());
    assert.deepEqual(await pruneLeastRecentlyUsed(dir, /^entry-\d$/, 2), []);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('leastRecentlyUsed ranks by the last use it is given and leaves out entries that are gone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cache-lru-'));
  try {
    for (const name of ['a', 'b', 'c', 'd', 'other']) writeFileSync(join(dir, name), '');
    const used: Record<string, number | undefined> = { a: 3, b: 1, c: undefined, d: 2 };
    const stale = await leastRecentlyUsed(dir, /^[a-d]$/, 1, async (path) => used[basename(path)]);
    assert.deepEqual(stale.map((path) => basename(path)), ['d', 'b']);
    assert.deepEqual(readdirSync(dir).sort(), ['a', 'b', 'c', 'd', 'other'], 'nothing is removed');
  } finally {
    rmSync(dir, { recursive: true });
  }
});
