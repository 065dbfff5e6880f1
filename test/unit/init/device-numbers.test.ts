import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { test } from 'node:test';
import { deviceNumbers, makeDevice } from '../../../init/device-numbers.ts';

const CASES: Array<[string, number, { major: number; minor: number }]> = [
  ['/dev/null 1:3', 0x0103, { major: 1, minor: 3 }],
  ['/dev/console 5:1', 0x0501, { major: 5, minor: 1 }],
  ['a minor above 255 (its high bits sit above the major)', (259 << 8) | 0x00 | (0x12300 << 12), { major: 259, minor: 0x12300 }],
  ['a major above 4095 (its high bits sit above bit 32)', 0x1000 * 2 ** 32 + (0xfff << 8), { major: 0x1fff, minor: 0 }],
];

for (const [name, rdev, expected] of CASES) {
  test(`deviceNumbers: ${name}`, () => assert.deepEqual(deviceNumbers(rdev), expected));
  test(`makeDevice is its inverse: ${name}`, () => assert.equal(makeDevice(expected.major, expected.minor), BigInt(rdev)));
}

test('deviceNumbers agrees with the host for /dev/null', () => {
  assert.deepEqual(deviceNumbers(statSync('/dev/null').rdev), { major: 1, minor: 3 });
});
