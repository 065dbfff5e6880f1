import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeDirectory } from '../../../../scripts/lib/make-directory.ts';

test('makeDirectory makes the missing directories with the mode, and accepts existing ones', async () => {
  const base = mkdtempSync(join(tmpdir(), 'make-directory-test-'));
  try {
    await makeDirectory(join(base, 'a/b/c'), 0o700);
    for (const dir of ['a', 'a/b', 'a/b/c']) assert.equal(statSync(join(base, dir)).mode & 0o777, 0o700 & ~process.umask(), dir);
    await makeDirectory(join(base, 'a/b/c'), 0o700);
    writeFileSync(join(base, 'file'), '');
    await assert.rejects(makeDirectory(join(base, 'file/x')), { message: `cannot make the directory ${join(base, 'file/x')}: ${join(base, 'file')} is not a directory` });
  } finally {
    rmSync(base, { recursive: true });
  }
});

test("makeDirectory under /proc fails naming the directory (Node's recursive mkdir never returns there)", async () => {
  await assert.rejects(makeDirectory('/proc/virtinitrd-nope/cache'), { message: 'cannot make the directory /proc/virtinitrd-nope: ENOENT' });
});
