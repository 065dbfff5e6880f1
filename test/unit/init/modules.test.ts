import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModules, loadOrder } from '../../../init/modules.ts';

const ORDERS: Array<[string, string[], string[]]> = [
  ['numbered names sort by number', ['010-x.ko', '002-b.ko', '009-y.ko', '001-a.ko'], ['001-a.ko', '002-b.ko', '009-y.ko', '010-x.ko']],
  ['upper case before lower case (bytes, not locale)', ['a.ko', 'B.ko', 'b.ko', 'A.ko'], ['A.ko', 'B.ko', 'a.ko', 'b.ko']],
  ['- and _ by byte value', ['001-a_b.ko', '001-a-b.ko', '001-a.b.ko'], ['001-a-b.ko', '001-a.b.ko', '001-a_b.ko']],
  // UTF-16 order puts U+1F600 (surrogate D83D) before U+FF5E; UTF-8 order puts EF BD 9E before F0 9F 98 80.
  ['UTF-8 byte order, not UTF-16 order', ['\u{1F600}.ko', '\uFF5E.ko'], ['\uFF5E.ko', '\u{1F600}.ko']],
  [
    'files that are not .ko dropped',
    ['002-b.ko', 'modules.dep', '001-a.ko.xz', '003-c.ko.zst', 'README', '001-a.ko'],
    ['001-a.ko', '002-b.ko'],
  ],
  ['empty directory', [], []],
];

for (const [name, input, expected] of ORDERS) {
  test(`loadOrder: ${name}`, () => {
    const copy = [...input];
    assert.deepEqual(loadOrder(input), expected);
    assert.deepEqual(input, copy, 'the input is left as it was');
  });
}

const EMPTY_RESULT = { loaded: [], alreadyPresent: [], failed: [] };

test('loadModules: a missing directory loads nothing and never loads the FFI module', (t) => {
  const dlopen = t.mock.method(process, 'dlopen', () => {
    throw new Error('the FFI module was loaded');
  });
  const parent = mkdtempSync(join(tmpdir(), 'virtinitrd-modules-'));
  try {
    assert.deepEqual(loadModules(join(parent, 'missing')), EMPTY_RESULT);
  } finally {
    rmSync(parent, { recursive: true });
  }
  assert.equal(dlopen.mock.callCount(), 0);
});

test('loadModules: a directory without .ko files loads nothing and never loads the FFI module', (t) => {
  const dlopen = t.mock.method(process, 'dlopen', () => {
    throw new Error('the FFI module was loaded');
  });
  const directory = mkdtempSync(join(tmpdir(), 'virtinitrd-modules-'));
  writeFileSync(join(directory, 'modules.dep'), '');
  try {
    assert.deepEqual(loadModules(directory), EMPTY_RESULT);
  } finally {
    rmSync(directory, { recursive: true });
  }
  assert.equal(dlopen.mock.callCount(), 0);
});
