import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSea } from '../../../../scripts/lib/sea-build.ts';

test('buildSea: the stripped runtime runs the script, the same bytes every build', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sea-build-'));
  try {
    const script = join(dir, 'main.cjs');
    writeFileSync(script, "process.stdout.write(`sea ${require('node:sea').isSea()} ${JSON.stringify(process.argv.slice(2))}\\n`);\n");
    const first = await buildSea(script, join(dir, 'first'));
    await buildSea(script, join(dir, 'second'));
    assert.equal(execFileSync(join(dir, 'first'), ['a b', 'c'], { encoding: 'utf8' }), 'sea true ["a b","c"]\n');
    assert.ok(statSync(join(dir, 'first')).size > first.strippedRuntimeBytes, 'the SEA holds the stripped runtime and the blob');
    assert.ok(readFileSync(join(dir, 'first')).equals(readFileSync(join(dir, 'second'))), 'two builds differ');
    assert.deepEqual(readdirSync(dir).sort(), ['first', 'main.cjs', 'second']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
