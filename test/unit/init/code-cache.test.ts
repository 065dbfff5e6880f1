/**
 * The init's code cache (init/code-cache.ts, scripts/build-code-cache.ts): accepted by the runtime
 * the init runs on, every function in it, the same bytes every build.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Script } from 'node:vm';
import { BUNDLE_FILENAME, wrapBundle } from '../../../init/code-cache.ts';
import { pinnedNode } from '../../../scripts/lib/artifacts.ts';

const ROOT = join(import.meta.dirname, '../../..');
const BUNDLE = join(ROOT, 'build/init.cjs');
const CACHE = join(ROOT, 'build/init.code-cache');
const BUILDER = join(ROOT, 'scripts/build-code-cache.ts');

const buildCache = (options: readonly string[], output: string) => spawnSync(pinnedNode, [...options, BUILDER, BUNDLE, output], { encoding: 'utf8' });

test('the built code cache is accepted for the built bundle, and holds more than its top level', () => {
  const source = wrapBundle(readFileSync(BUNDLE, 'utf8'));
  const script = new Script(source, { filename: BUNDLE_FILENAME, cachedData: readFileSync(CACHE) });
  assert.equal(script.cachedDataRejected, false, `${CACHE} rejected for ${BUNDLE} (make all builds both)`);
  // What V8 caches of a lazily compiled script is its top level; the functions make it several times
  // that. (Another source, one comment longer: V8 would hand back the script it has just deserialized.)
  const topLevelOnly = new Script(`${source}//`, { filename: BUNDLE_FILENAME }).createCachedData().length;
  assert.ok(readFileSync(CACHE).length > 3 * topLevelOnly, `${readFileSync(CACHE).length} bytes against ${topLevelOnly} for the top level`);
});

test('build-code-cache: the same bytes every build; without --random-seed it refuses', () => {
  const dir = mkdtempSync(join(tmpdir(), 'code-cache-'));
  try {
    for (const name of ['first', 'second']) assert.equal(buildCache(['--random-seed=1'], join(dir, name)).status, 0);
    assert.ok(readFileSync(join(dir, 'first')).equals(readFileSync(join(dir, 'second'))), 'two builds differ');
    const unseeded = buildCache([], join(dir, 'third'));
    assert.equal(unseeded.status, 2);
    assert.equal(unseeded.stderr, 'build-code-cache: run with --random-seed=N (N > 0): without it the cache differs from build to build\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
