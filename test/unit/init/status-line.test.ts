import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STATUS_PREFIX, formatStatus, parseStatus, type Status } from '../../../init/status-line.ts';

const STATUSES: Array<[Status, string]> = [
  [{ kind: 'exit', code: 0 }, 'virtinitrd-status {"kind":"exit","code":0}\n'],
  [{ kind: 'exit', code: 127 }, 'virtinitrd-status {"kind":"exit","code":127}\n'],
  [{ kind: 'signal', signal: 9 }, 'virtinitrd-status {"kind":"signal","signal":9}\n'],
  [
    { kind: 'error', message: 'mount(virtiofs "rootfs" on /sysroot): ENOENT\nsecond line' },
    'virtinitrd-status {"kind":"error","message":"mount(virtiofs \\"rootfs\\" on /sysroot): ENOENT\\nsecond line"}\n',
  ],
];

for (const [status, line] of STATUSES) {
  test(`formatStatus/parseStatus: ${status.kind} ${JSON.stringify(status)}`, () => {
    assert.equal(formatStatus(status), line);
    assert.deepEqual(parseStatus(formatStatus(status)), status);
    assert.deepEqual(parseStatus(formatStatus(status).replace('\n', '\r\n')), status, 'with a tty\'s \\r\\n');
  });
}

const exit = (code: number) => formatStatus({ kind: 'exit', code });

const PARSES: Array<[string, string, Status | undefined]> = [
  ['nothing received', '', undefined],
  ['only console noise', 'booting\r\nhello\r\n', undefined],
  ['status among noise with \\r\\n endings', `noise\r\n${exit(3).replace('\n', '\r\n')}more noise\r\n`, { kind: 'exit', code: 3 }],
  ['status without a final newline', exit(4).trimEnd(), { kind: 'exit', code: 4 }],
  ['last status wins', `${exit(1)}${formatStatus({ kind: 'signal', signal: 15 })}`, { kind: 'signal', signal: 15 }],
  ['a truncated last line leaves the one before', `${exit(5)}${exit(6).slice(0, 30)}`, { kind: 'exit', code: 5 }],
  ['garbage after a status is ignored', `${exit(7)}${STATUS_PREFIX}not json\n`, { kind: 'exit', code: 7 }],
  ['prefix not at the start of the line', `noise ${exit(8)}`, undefined],
  ['prefix without its space', 'virtinitrd-status{"kind":"exit","code":0}\n', undefined],
  ['trailing text after the JSON', `${STATUS_PREFIX}{"kind":"exit","code":0} x\n`, undefined],
];

for (const [name, text, expected] of PARSES) {
  test(`parseStatus: ${name}`, () => {
    assert.deepEqual(parseStatus(text), expected);
  });
}

const WRONG_TYPES: string[] = [
  'null',
  '5',
  '"exit"',
  '[]',
  '{}',
  '{"kind":"bogus","code":0}',
  '{"kind":"exit"}',
  '{"kind":"exit","code":"0"}',
  '{"kind":"exit","code":1.5}',
  '{"kind":"exit","code":null}',
  '{"kind":"signal","code":9}',
  '{"kind":"signal","signal":"9"}',
  '{"kind":"error"}',
  '{"kind":"error","message":5}',
];

for (const json of WRONG_TYPES) {
  test(`parseStatus rejects ${json}`, () => {
    assert.equal(parseStatus(`${STATUS_PREFIX}${json}\n`), undefined);
    assert.deepEqual(parseStatus(`${exit(2)}${STATUS_PREFIX}${json}\n`), { kind: 'exit', code: 2 }, 'and keeps the status before it');
  });
}
