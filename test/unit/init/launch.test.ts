import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findProgram } from '../../../init/launch.ts';

test('findProgram looks names up like execvp: first executable file on the path, EACCES only when nothing ran', () => {
  const root = mkdtempSync(join(tmpdir(), 'find-program-'));
  try {
    const [a, b, c] = ['a', 'b', 'c'].map((name) => join(root, name)) as [string, string, string];
    for (const dir of [a, b, c]) mkdirSync(dir);
    mkdirSync(join(a, 'tool')); // a directory of that name is passed over
    writeFileSync(join(b, 'tool'), '', { mode: 0o644 }); // so is a file that cannot run
    writeFileSync(join(c, 'tool'), '', { mode: 0o755 });
    assert.deepEqual(findProgram('tool', [a, b, c].join(':')), { path: join(c, 'tool') });
    assert.deepEqual(findProgram('tool', [a, b].join(':')), { errno: 'EACCES' });
    assert.deepEqual(findProgram('tool', a), { errno: 'ENOENT' });
    assert.deepEqual(findProgram('other', [a, b, c].join(':')), { errno: 'ENOENT' });
    assert.deepEqual(findProgram('', c), { errno: 'ENOENT' });
    // A name with a slash is not looked up: the exec says what is wrong with it.
    assert.deepEqual(findProgram('./tool', a), { path: './tool' });
    assert.deepEqual(findProgram('/no/such/tool', c), { path: '/no/such/tool' });
  } finally {
    rmSync(root, { recursive: true });
  }
});
