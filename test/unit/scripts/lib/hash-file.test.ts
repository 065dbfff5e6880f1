import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hashFile } from '../../../../scripts/lib/hash-file.ts';

test('hashFile: the hash and the size, across more than one read', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hash-file-'));
  try {
    const bytes = Buffer.alloc(300_000, 'ab');
    writeFileSync(join(dir, 'f'), bytes);
    for (const algorithm of ['sha256', 'sha512']) {
      assert.deepEqual(await hashFile(join(dir, 'f'), algorithm), { hex: createHash(algorithm).update(bytes).digest('hex'), bytes: 300_000 });
    }
    writeFileSync(join(dir, 'empty'), '');
    assert.deepEqual(await hashFile(join(dir, 'empty'), 'sha256'), { hex: createHash('sha256').digest('hex'), bytes: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
