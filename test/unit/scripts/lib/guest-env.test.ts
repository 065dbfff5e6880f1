import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { EnvOption } from '../../../../scripts/lib/chrootvm-args.ts';
import { EnvError, guestEnvironment } from '../../../../scripts/lib/guest-env.ts';

const env = (text: string): EnvOption => ({ kind: 'env', text, word: 0, offset: 0 });
const file = (text: string): EnvOption => ({ kind: 'env-file', text, word: 0, offset: 0 });
const asText = (entries: Buffer[]) => entries.map((entry) => entry.toString('latin1'));
const HOST = { HOME: '/home/me', EMPTY: '' };

test('guestEnvironment: KEY=VALUE as given (bytes from the command line), KEY from our environment or left out', () => {
  const bytes = new Map([['RAW=\ufffd', Buffer.from('RAW=\xff', 'latin1')]]);
  const bytesOf = (option: EnvOption) => bytes.get(option.text) ?? Buffer.from(option.text);
  assert.deepEqual(asText(guestEnvironment([env('A=1'), env('HOME'), env('UNSET'), env('EMPTY'), env('RAW=\ufffd'), env('B=x=y')], bytesOf, HOST)), [
    'A=1',
    'HOME=/home/me',
    'EMPTY=',
    'RAW=\xff',
    'B=x=y',
  ]);
});

test('guestEnvironment: an env file, in order with -e; blank lines and comments skipped, no quoting', () => {
  const dir = mkdtempSync(join(tmpdir(), 'guest-env-test-'));
  try {
    const path = join(dir, 'vars');
    writeFileSync(path, Buffer.concat([Buffer.from('# settings\n\nA=from file\n  # indented comment\nHOME\nQ="quoted"\nBIN='), Buffer.from([0xfe]), Buffer.from('\nUNSET')]));
    const bytesOf = (option: EnvOption) => Buffer.from(option.text);
    assert.deepEqual(asText(guestEnvironment([env('A=first'), file(path), env('Z=last')], bytesOf, HOST)), [
      'A=first',
      'A=from file',
      'HOME=/home/me',
      'Q="quoted"',
      'BIN=\xfe',
      'Z=last',
    ]);
    writeFileSync(path, 'OK=1\n=nameless\n');
    assert.throws(() => guestEnvironment([file(path)], bytesOf, HOST), new EnvError(`--env-file ${path} line 2: "=nameless" has no variable name`));
    assert.throws(() => guestEnvironment([file(join(dir, 'missing'))], bytesOf, HOST), { message: new RegExp(`^--env-file ${join(dir, 'missing')}: .*ENOENT`) });
  } finally {
    rmSync(dir, { recursive: true });
  }
});
