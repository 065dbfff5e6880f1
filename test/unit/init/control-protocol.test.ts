import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ARG_MAX,
  decodeOutputCounts,
  decodeRunRequest,
  encodeOutputCounts,
  encodeRunRequest,
  execLimitProblem,
  MAX_ARG_STRLEN,
  RECEIVED,
  type RunRequest,
} from '../../../init/control-protocol.ts';

const REQUEST: RunRequest = {
  argv: [Buffer.from('sh'), Buffer.from('-c'), Buffer.from('printf "%s\\n" "$@"'), Buffer.from([0xff, 0xfe, 0x0a, 0x22])],
  env: [Buffer.from('TERM=xterm')],
  cwd: Buffer.from('/run/mnt/src dir'),
  interactive: false,
};

test('encodeRunRequest: one JSON line, every byte string in base64', () => {
  assert.equal(
    encodeRunRequest({ ...REQUEST, interactive: true, size: { rows: 24, columns: 80 } }),
    '{"run":{"argv":["c2g=","LWM=","cHJpbnRmICIlc1xuIiAiJEAi","//4KIg=="],"env":["VEVSTT14dGVybQ=="],"cwd":"L3J1bi9tbnQvc3JjIGRpcg==","interactive":true,"size":{"rows":24,"columns":80}}}\n',
  );
});

test('decodeRunRequest: the request round trips byte for byte, non-UTF-8 included', () => {
  const line = encodeRunRequest(REQUEST).trimEnd();
  assert.deepEqual(decodeRunRequest(line), REQUEST);
  const asUser = { ...REQUEST, user: 'builder:kvm' };
  assert.deepEqual(decodeRunRequest(encodeRunRequest(asUser).trimEnd()), asUser);
});

const SHAPE = 'run request: expected {"run": {argv: [base64, ...], env: [base64...], cwd: base64, interactive: boolean}}';
const wire = (changes: Record<string, unknown>) => JSON.stringify({ run: { ...JSON.parse(encodeRunRequest(REQUEST)).run, ...changes } });

const DECODE_ERRORS: Array<[string, string, string]> = [
  ['not JSON', '{"run":', 'run request: not JSON: {"run":'],
  ['JSON null', 'null', SHAPE],
  ['no run member', '{"ended":{}}', SHAPE],
  ['argv empty', wire({ argv: [] }), SHAPE],
  ['argv not base64', wire({ argv: ['ls -l'] }), SHAPE],
  ['argv not an array', wire({ argv: 'bHM=' }), SHAPE],
  ['env missing', wire({ env: undefined }), SHAPE],
  ['cwd not a string', wire({ cwd: 1 }), SHAPE],
  ['interactive not a boolean', wire({ interactive: 'yes' }), SHAPE],
  ['size not integers', wire({ size: { rows: '24', columns: 80 } }), 'run request: size must be {rows: integer, columns: integer}'],
  ['user not a string', wire({ user: 1000 }), 'run request: user must be a string'],
  ['a NUL inside an argument', wire({ argv: [Buffer.from('a\0b').toString('base64')] }), 'run request: a string holds a NUL byte'],
];

for (const [name, line, message] of DECODE_ERRORS) {
  test(`decodeRunRequest error: ${name}`, () => {
    assert.throws(() => decodeRunRequest(line), { name: 'ProtocolError', message });
  });
}

test('output counts: the init says what it sent, the host answers when it has it', () => {
  assert.equal(encodeOutputCounts({ stdout: 16777216, stderr: 3 }), '{"ended":{"stdout":16777216,"stderr":3}}\n');
  assert.deepEqual(decodeOutputCounts('{"ended":{"stdout":16777216,"stderr":3}}'), { stdout: 16777216, stderr: 3 });
  assert.equal(decodeOutputCounts('{"ended":{"stdout":"1","stderr":3}}'), undefined);
  assert.equal(decodeOutputCounts('garbage'), undefined);
  assert.equal(RECEIVED, '{"received":true}\n');
});

const words = (count: number, bytes: number) => Array.from({ length: count }, () => Buffer.alloc(bytes, 0x61));

test('execLimitProblem: 1 MiB in 10,000 arguments fits; past ARG_MAX or MAX_ARG_STRLEN is refused by name', () => {
  assert.equal(execLimitProblem({ argv: words(10_000, 100), env: [] }), undefined);
  assert.equal(execLimitProblem({ argv: words(16, 64 * 1024), env: [] }), undefined);
  assert.equal(execLimitProblem({ argv: [Buffer.from('echo'), Buffer.alloc(MAX_ARG_STRLEN - 1, 0x61)], env: [] }), undefined);
  assert.equal(
    execLimitProblem({ argv: [Buffer.from('echo'), Buffer.alloc(MAX_ARG_STRLEN, 0x61)], env: [] }),
    `argument 1 is ${MAX_ARG_STRLEN} bytes; the guest's execve takes at most ${MAX_ARG_STRLEN - 1} per string`,
  );
  assert.equal(
    execLimitProblem({ argv: [Buffer.from('env')], env: [Buffer.alloc(MAX_ARG_STRLEN, 0x61)] }),
    `environment entry 0 is ${MAX_ARG_STRLEN} bytes; the guest's execve takes at most ${MAX_ARG_STRLEN - 1} per string`,
  );
  // 20 arguments of 120,000 bytes: each allowed, together past the total.
  const total = 20 * (120_000 + 1 + 8) + 16;
  assert.equal(
    execLimitProblem({ argv: words(20, 120_000), env: [] }),
    `the command's 20 arguments and 0 environment entries take ${total} bytes; the guest's execve takes at most ${ARG_MAX - 4096}`,
  );
});
