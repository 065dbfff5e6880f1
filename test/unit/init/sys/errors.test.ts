import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errnoName, errnoOf, SyscallError, messageOf } from '../../../../init/sys/errors.ts';

const NAMES: Array<[number, string]> = [
  [2, 'ENOENT'],
  [8, 'ENOEXEC'],
  [19, 'ENODEV'],
  // Not in Node's table: what finit_module says about a module's signature.
  [65, 'ENOPKG'],
  [126, 'ENOKEY'],
  [127, 'EKEYEXPIRED'],
  [128, 'EKEYREVOKED'],
  [129, 'EKEYREJECTED'],
  [4242, 'errno 4242'],
];

for (const [errno, name] of NAMES) {
  test(`errnoName(${errno}) is ${name}`, () => {
    assert.equal(errnoName(errno), name);
  });
}

test('a SyscallError names the call and the errno', () => {
  const error = new SyscallError('finit_module(007-virtiofs.ko)', 129);
  assert.deepEqual([error.message, error.code, errnoOf(error)], ['finit_module(007-virtiofs.ko): EKEYREJECTED', 'EKEYREJECTED', 'EKEYREJECTED']);
});

test('messageOf: an Error gives its message, anything else its text', () => {
  assert.equal(messageOf(new SyscallError('mount(x on /y)', 2)), 'mount(x on /y): ENOENT');
  assert.equal(messageOf('plain'), 'plain');
  assert.equal(messageOf(42), '42');
});
