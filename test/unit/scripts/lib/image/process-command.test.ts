import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_PROCESS } from '../../../../../scripts/lib/image/manifest.ts';
import { imageCommand, isBareShell, parseEntrypoint } from '../../../../../scripts/lib/image/process-command.ts';

const words = (argv: Buffer[]) => argv.map(String);
const bytes = (...argv: string[]) => argv.map((word) => Buffer.from(word));
const server = { ...NO_PROCESS, entrypoint: ['/usr/bin/server', '-v'], cmd: ['--port', '80'] };

test('Entrypoint + Cmd without a COMMAND; Entrypoint + COMMAND with one', () => {
  assert.deepEqual(words(imageCommand(server, [], undefined)), ['/usr/bin/server', '-v', '--port', '80']);
  assert.deepEqual(words(imageCommand(server, bytes('--port', '8080'), undefined)), ['/usr/bin/server', '-v', '--port', '8080']);
  assert.deepEqual(words(imageCommand({ ...NO_PROCESS, cmd: ['/bin/sh'] }, [], undefined)), ['/bin/sh']);
  assert.deepEqual(words(imageCommand({ ...NO_PROCESS, cmd: ['/bin/sh'] }, bytes('ls', '/'), undefined)), ['ls', '/']);
  assert.deepEqual(imageCommand(NO_PROCESS, [], undefined), []);
});

test('--entrypoint replaces the Entrypoint and drops the Cmd; an empty one leaves the COMMAND', () => {
  assert.deepEqual(words(imageCommand(server, [], ['/bin/sh', '-c'])), ['/bin/sh', '-c']);
  assert.deepEqual(words(imageCommand(server, bytes('echo hi'), ['/bin/sh', '-c'])), ['/bin/sh', '-c', 'echo hi']);
  assert.deepEqual(words(imageCommand(server, bytes('id'), [])), ['id']);
  assert.deepEqual(imageCommand(server, [], []), []);
});

test("the COMMAND's bytes pass as they are", () => {
  const latin1 = Buffer.from([0x63, 0xe9]);
  assert.deepEqual(imageCommand(server, [latin1], undefined).at(-1), latin1);
});

test('--entrypoint: a JSON list, empty, or one program', () => {
  assert.deepEqual(parseEntrypoint('["/bin/sh","-c"]'), ['/bin/sh', '-c']);
  assert.deepEqual(parseEntrypoint(''), []);
  assert.deepEqual(parseEntrypoint('/usr/bin/env'), ['/usr/bin/env']);
  assert.deepEqual(parseEntrypoint('/bin/echo hi'), ['/bin/echo hi']);
  assert.deepEqual(parseEntrypoint('[not json'), ['[not json']);
  assert.deepEqual(parseEntrypoint('[1]'), ['[1]']);
});

test('a bare shell is one word naming a shell', () => {
  assert.equal(isBareShell(bytes('/bin/sh')), true);
  assert.equal(isBareShell(bytes('bash')), true);
  assert.equal(isBareShell(bytes('/bin/sh', '-c', 'true')), false);
  assert.equal(isBareShell(bytes('/usr/bin/redis-server')), false);
  assert.equal(isBareShell([]), false);
});
