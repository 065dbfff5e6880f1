import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandEnvironment, findProgram } from '../../../init/launch.ts';

test('findProgram looks names (any bytes) up like execvp: first executable file on the path, EACCES only when nothing ran', () => {
  const root = mkdtempSync(join(tmpdir(), 'find-program-'));
  try {
    const [a, b, c] = ['a', 'b', 'c'].map((name) => join(root, name)) as [string, string, string];
    for (const dir of [a, b, c]) mkdirSync(dir);
    mkdirSync(join(a, 'tool')); // a directory of that name is passed over
    writeFileSync(join(b, 'tool'), '', { mode: 0o644 }); // so is a file that cannot run
    writeFileSync(join(c, 'tool'), '', { mode: 0o755 });
    const find = (name: string | Buffer, path: string) => findProgram(Buffer.from(name), path);
    assert.deepEqual(find('tool', [a, b, c].join(':')), { path: Buffer.from(join(c, 'tool')) });
    assert.deepEqual(find('tool', [a, b].join(':')), { errno: 'EACCES' });
    assert.deepEqual(find('tool', a), { errno: 'ENOENT' });
    assert.deepEqual(find('other', [a, b, c].join(':')), { errno: 'ENOENT' });
    assert.deepEqual(find('', c), { errno: 'ENOENT' });
    // A name with a slash is not looked up: the exec says what is wrong with it.
    assert.deepEqual(find('./tool', a), { path: Buffer.from('./tool') });
    assert.deepEqual(find('/no/such/tool', c), { path: Buffer.from('/no/such/tool') });
    // Any bytes: a name that is not UTF-8 is found as it is.
    const latin1 = Buffer.from('t\xf6\xff', 'latin1');
    writeFileSync(Buffer.concat([Buffer.from(`${c}/`), latin1]), '', { mode: 0o755 });
    assert.deepEqual(find(latin1, c), { path: Buffer.concat([Buffer.from(`${c}/`), latin1]) });
  } finally {
    rmSync(root, { recursive: true });
  }
});

test('commandEnvironment: the clean environment, then the request entries, which replace by name', () => {
  const clean = { PATH: '/bin', HOME: '/', TERM: 'linux' };
  const extra = [Buffer.from('TERM=xterm-256color'), Buffer.from('LANG=C.UTF-8'), Buffer.from('RAW=\xff', 'latin1')];
  assert.deepEqual(commandEnvironment(clean, extra), [Buffer.from('PATH=/bin'), Buffer.from('HOME=/'), ...extra]);
  assert.deepEqual(commandEnvironment(clean, []), [Buffer.from('PATH=/bin'), Buffer.from('HOME=/'), Buffer.from('TERM=linux')]);
  // A later entry of a name wins, and takes the later place.
  assert.deepEqual(commandEnvironment(clean, [Buffer.from('A=1'), Buffer.from('B=2'), Buffer.from('A=3'), Buffer.from('HOME=/root')]), [
    Buffer.from('PATH=/bin'),
    Buffer.from('TERM=linux'),
    Buffer.from('B=2'),
    Buffer.from('A=3'),
    Buffer.from('HOME=/root'),
  ]);
});
