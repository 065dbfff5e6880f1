import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rawArguments } from '../../../../scripts/lib/raw-arguments.ts';

const CMDLINE = Buffer.from('node\0--flag\0script.ts\0a b\0\xff\xfe\0\0', 'latin1');

test('rawArguments: the last words of a cmdline, bytes as they are, empty words kept', () => {
  assert.deepEqual(rawArguments(3, CMDLINE), [Buffer.from('a b'), Buffer.from([0xff, 0xfe]), Buffer.alloc(0)]);
  assert.deepEqual(rawArguments(0, CMDLINE), []);
  assert.throws(() => rawArguments(7, CMDLINE), { message: '/proc/self/cmdline holds 6 arguments, fewer than 7' });
});

test('rawArguments: the bytes this process was given, where process.argv has U+FFFD', () => {
  const module = new URL('../../../../scripts/lib/raw-arguments.ts', import.meta.url).href;
  const script = `import { rawArguments } from '${module}'; console.log(rawArguments(2).map((word) => word.toString('hex')).join(' '), JSON.stringify(process.argv.slice(-2)));`;
  // Through sh: a Node string argument cannot hold the byte 0xff.
  const child = spawnSync('sh', ['-c', 'exec "$0" --input-type=module -e "$1" x "$(printf "\\377\\376")"', process.execPath, script], { encoding: 'utf8' });
  assert.equal(child.stdout, '78 fffe ["x","\ufffd\ufffd"]\n', child.stderr);
});
